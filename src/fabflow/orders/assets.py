"""Assets: the one writer of Asset rows, and their files (inline base64, uploads, fetched URLs
and files made by flows, all through Django storage)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import mimetypes
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core import signing
from django.core.files import File
from django.db import transaction
from django.http import FileResponse
from django.urls import reverse
from django.utils.text import get_valid_filename

from fabflow.core.errors import Invalid, TooLarge
from fabflow.exports import downloads
from fabflow.orders import timeline
from fabflow.orders.inserts import insert_rows
from fabflow.orders.models import Asset, Order

# The timeline entry of new assets: (message, data) from the rows just made.
Announce = Callable[[list[Asset]], tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class NewAsset:
    """An asset to create: its content as bytes, an open file (an upload), or a URL that a
    job fetches after commit; optionally of one product or part of the order."""

    name: str
    source: str  # Asset.Source
    content_type: str = ""
    content: bytes | None = None
    upload: IO[bytes] | None = None
    url: str = ""
    product_id: Any = None
    part_id: Any = None


def create_assets(
    *, order: Order, new: Sequence[NewAsset], actor: str = "", announce: Announce | None = None
) -> list[Asset]:
    """Store the files of `new` and write their rows (intake's multi-row insert), with the entry
    `announce` makes (if any); URL assets are fetched by a job enqueued on commit. Runs in the
    caller's transaction when there is one (no savepoint: its failure is the caller's). If a
    write fails, the files stored so far are removed."""
    if not new:
        return []
    made = [
        Asset(
            order=order,
            product_id=spec.product_id,
            part_id=spec.part_id,
            name=spec.name,
            content_type=spec.content_type
            or mimetypes.guess_type(spec.name)[0]
            or "application/octet-stream",
            source=spec.source,
            state=Asset.State.PENDING if spec.source == Asset.Source.URL else Asset.State.READY,
            source_url=spec.url,
        )
        for spec in new
    ]
    try:
        for asset, spec in zip(made, new, strict=True):
            if spec.content is not None:
                _store(asset, io.BytesIO(spec.content))
            elif spec.upload is not None:
                _store(asset, spec.upload)
        with transaction.atomic(savepoint=False):
            insert_rows(made)
            if announce is not None:
                message, data = announce(made)
                timeline.record(
                    order, timeline.EventKind.ASSET_ADDED, message, data=data, actor=actor
                )
    except BaseException:
        delete_files(made)
        raise
    fetches = [str(a.id) for a in made if a.state == Asset.State.PENDING]
    if fetches:
        transaction.on_commit(lambda: _enqueue_fetches(fetches))
    return made


def _enqueue_fetches(asset_ids: list[str]) -> None:
    from fabflow.orders.jobs import fetch_asset

    for asset_id in asset_ids:
        fetch_asset.enqueue(asset_id)


def _store(asset: Asset, handle: IO[bytes], size: int | None = None, sha256: str = "") -> None:
    """Write `handle` as the asset's file (not saved) with its size and checksum: those of
    what is stored (not what a client announced), measured here unless given."""
    if size is None:
        handle.seek(0)
        # Django's File objects proxy readinto, which the stubs of IO lack.
        sha256 = hashlib.file_digest(handle, "sha256").hexdigest()  # type: ignore[arg-type]
        size = handle.seek(0, io.SEEK_END)
        handle.seek(0)
    asset.size, asset.sha256 = size, sha256
    asset.file.save(safe_filename(asset.name), File(handle), save=False)


def count_fetch_attempt(asset: Asset) -> None:
    asset.attempts += 1
    Asset.objects.filter(pk=asset.pk).update(attempts=asset.attempts)


def fetched(asset: Asset, handle: IO[bytes], *, size: int, sha256: str) -> None:
    """Store a downloaded URL asset's file and mark it ready, on its order's timeline."""
    _store(asset, handle, size, sha256)
    with transaction.atomic():
        asset.state, asset.error = Asset.State.READY, ""
        asset.save(update_fields=["file", "size", "sha256", "state", "error"])
        timeline.record(
            asset.order,
            timeline.EventKind.ASSET_FETCHED,
            f"Asset {asset.name} fetched",
            data={"assetId": str(asset.id), "size": size},
        )


def fetch_failed(asset: Asset, reason: str) -> None:
    """Mark a URL asset failed for good, on its order's timeline."""
    with transaction.atomic():
        asset.state, asset.error = Asset.State.FAILED, reason[:2000]
        asset.save(update_fields=["state", "error"])
        timeline.record(
            asset.order,
            timeline.EventKind.ASSET_FETCH_FAILED,
            f"Asset {asset.name} could not be fetched: {reason}",
            data={"assetId": str(asset.id), "attempts": asset.attempts},
        )


DOWNLOAD_SALT = "fabflow.asset-download"


def safe_filename(name: str) -> str:
    """A storage-safe file name: no directories, control characters or leading dots."""
    name = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = get_valid_filename(name.strip().lstrip(".")) if name.strip(". ") else ""
    return name[:150] or "file"


def file_response(asset: Asset) -> FileResponse:
    """The asset's file for the API and the web download: safe images inline, anything else as
    opaque bytes to save."""
    return downloads.file_response(
        asset.file.open("rb"), name=safe_filename(asset.name), content_type=asset.content_type
    )


def decode_inline(content: str, loc: tuple[str | int, ...]) -> bytes:
    """Decode base64 content, enforcing the inline size limit before decoding."""
    limit = settings.FABFLOW_MAX_INLINE_ASSET_BYTES
    too_large = TooLarge(
        f"Inline asset larger than {limit} bytes; upload it instead.",
        field=loc,
        reason=f"larger than {limit} bytes",
    )
    if len(content) > (limit * 4) // 3 + 4:
        raise too_large
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid("Invalid base64 content.", field=loc, reason="not valid base64") from exc
    if len(data) > limit:
        raise too_large
    return data


def delete_files(assets: Iterable[Asset]) -> None:
    """Remove stored files of assets whose rows were never committed."""
    for asset in assets:
        if asset.file and asset.file.name:
            asset.file.storage.delete(asset.file.name)


def signed_download_url(asset: Asset) -> str:
    """An absolute download link that works without a key until it expires."""
    token = signing.dumps(str(asset.id), salt=DOWNLOAD_SALT, compress=True)
    path = reverse("api-1:download_asset", kwargs={"asset_id": asset.id})
    return f"{settings.BASE_URL}{path}?token={token}"


def check_download_token(token: str, asset_id: str) -> bool:
    try:
        value = signing.loads(
            token, salt=DOWNLOAD_SALT, max_age=settings.FABFLOW_SIGNED_URL_MAX_AGE
        )
    except signing.BadSignature:
        return False
    return bool(value == asset_id)
