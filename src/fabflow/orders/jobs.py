"""Background jobs of the orders app: fetching URL assets under the outbound policy."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable
from datetime import timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from fabflow.core import outbound
from fabflow.orders import assets as asset_files
from fabflow.orders.models import Asset
from fabflow.orders.services import record_event

log = logging.getLogger(__name__)


def outbound_policy() -> outbound.OutboundPolicy:
    return outbound.OutboundPolicy.from_strings(settings.OUTBOUND_ALLOWLIST)


def enqueue_fetches(asset_ids: Iterable[UUID]) -> None:
    for asset_id in asset_ids:
        fetch_asset.enqueue(str(asset_id))


@task()
def fetch_asset(asset_id: str) -> str:
    """Download one URL asset into storage; transient failures are retried with backoff."""
    asset = Asset.objects.select_related("order").filter(pk=asset_id).first()
    if asset is None or asset.state != Asset.State.PENDING:
        return "skipped"
    Asset.objects.filter(pk=asset.pk).update(attempts=asset.attempts + 1)
    asset.attempts += 1
    try:
        with tempfile.TemporaryFile() as handle:
            _status, _headers, size, digest = outbound.stream_download(
                outbound_policy(),
                asset.source_url,
                handle,
                max_bytes=settings.FABFLOW_MAX_FETCH_BYTES,
            )
            handle.seek(0)
            asset_files.store_file(asset, handle, size=size, sha256=digest)
    except outbound.OutboundError as exc:
        return _failed(asset, exc)
    with transaction.atomic():
        asset.state, asset.error = Asset.State.READY, ""
        asset.save(update_fields=["file", "size", "sha256", "state", "error"])
        record_event(
            asset.order,
            "asset.fetched",
            f"Asset {asset.name} fetched",
            data={"assetId": str(asset.id), "size": size},
        )
    return "ready"


def _failed(asset: Asset, exc: outbound.OutboundError) -> str:
    if exc.transient and asset.attempts < settings.FABFLOW_FETCH_ATTEMPTS:
        delay = outbound.backoff_delay(asset.attempts, base=2.0, cap=600.0)
        log.info(
            "asset %s fetch attempt %s failed (%s); retry in %.1fs",
            asset.id,
            asset.attempts,
            exc,
            delay,
        )
        fetch_asset.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(
            str(asset.id)
        )
        return "retrying"
    with transaction.atomic():
        asset.state, asset.error = Asset.State.FAILED, str(exc)[:2000]
        asset.save(update_fields=["state", "error"])
        record_event(
            asset.order,
            "asset.fetch_failed",
            f"Asset {asset.name} could not be fetched: {exc}",
            data={"assetId": str(asset.id), "attempts": asset.attempts},
        )
    return "failed"
