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
                outbound.OutboundPolicy.from_strings(settings.OUTBOUND_ALLOWLIST),
                asset.source_url,
                handle,
                max_bytes=settings.FABFLOW_MAX_FETCH_BYTES,
            )
            handle.seek(0)
            assets.fetched(asset, handle, size=size, sha256=digest)
    except outbound.OutboundError as exc:
        if not exc.transient or asset.attempts >= settings.FABFLOW_FETCH_ATTEMPTS:
            assets.fetch_failed(asset, str(exc))
            return "failed"
        delay = outbound.backoff_delay(asset.attempts, base=2.0, cap=600.0)
        log.info(
            "asset %s fetch attempt %s failed (%s); retry in %.1fs",
            asset.id,
            asset.attempts,
            exc,
            delay,
        )
        retry_at = timezone.now() + timedelta(seconds=delay)
        fetch_asset.using(run_after=retry_at).enqueue(str(asset.id))
        return "retrying"
    return "ready"
