"""Background jobs of the orders app: fetching URL assets under the outbound policy."""

from __future__ import annotations

import logging
import tempfile
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from fabflow.core import outbound
from fabflow.orders import assets
from fabflow.orders.models import Asset

log = logging.getLogger(__name__)


def outbound_policy() -> outbound.OutboundPolicy:
    return outbound.OutboundPolicy.from_strings(settings.OUTBOUND_ALLOWLIST)


@task()
def fetch_asset(asset_id: str) -> str:
    """Download one URL asset into storage; transient failures are retried with backoff."""
    asset = Asset.objects.select_related("order").filter(pk=asset_id).first()
    if asset is None or asset.state != Asset.State.PENDING:
        return "skipped"
    assets.count_fetch_attempt(asset)
    try:
        with tempfile.TemporaryFile() as handle:
            _status, _headers, size, digest = outbound.stream_download(
                outbound_policy(),
                asset.source_url,
                handle,
                max_bytes=settings.FABFLOW_MAX_FETCH_BYTES,
            )
            handle.seek(0)
            assets.fetched(asset, handle, size=size, sha256=digest)
    except outbound.OutboundError as exc:
        return _failed(asset, exc)
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
    assets.fetch_failed(asset, str(exc))
    return "failed"
