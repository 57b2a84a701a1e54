"""Storing asset files: inline base64, uploads and fetched URLs, all through Django storage."""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import unicodedata
from collections.abc import Iterable
from typing import IO

from django.conf import settings
from django.core import signing
from django.core.files import File
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils.text import get_valid_filename

from fabflow.core.problems import ApiError, field_error
from fabflow.orders.models import Asset

DOWNLOAD_SALT = "fabflow.asset-download"


def safe_filename(name: str) -> str:
    """A storage-safe file name: no directories, control characters or leading dots."""
    name = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = get_valid_filename(name.strip().lstrip(".")) if name.strip(". ") else ""
    return name[:150] or "file"


def guess_content_type(name: str, given: str | None = None) -> str:
    return given or mimetypes.guess_type(name)[0] or "application/octet-stream"


def decode_inline(content: str, loc: tuple[str | int, ...]) -> bytes:
    """Decode base64 content, enforcing the inline size limit before decoding."""
    limit = settings.FABFLOW_MAX_INLINE_ASSET_BYTES
    if len(content) > (limit * 4) // 3 + 4:
        raise ApiError(
            413,
            f"Inline asset larger than {limit} bytes; upload it instead.",
            errors=[field_error(loc, f"larger than {limit} bytes")],
        )
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(
            422, "Invalid base64 content.", errors=[field_error(loc, "not valid base64")]
        ) from exc
    if len(data) > limit:
        raise ApiError(
            413,
            f"Inline asset larger than {limit} bytes; upload it instead.",
            errors=[field_error(loc, f"larger than {limit} bytes")],
        )
    return data


def store_bytes(asset: Asset, data: bytes) -> None:
    """Write `data` as the asset's file and fill in its size and checksum (not saved)."""
    asset.size = len(data)
    asset.sha256 = hashlib.sha256(data).hexdigest()
    asset.file.save(safe_filename(asset.name), ContentFile(data), save=False)


def store_file(asset: Asset, handle: IO[bytes], *, size: int, sha256: str) -> None:
    asset.size = size
    asset.sha256 = sha256
    asset.file.save(safe_filename(asset.name), File(handle), save=False)


def hash_stream(chunks: Iterable[bytes]) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


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
