"""The side effects a handler may cause, bound to one task run (the `Services` of base.py)."""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

import re2
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils.html import escape

from fabflow.accounts.signing import webhook_headers
from fabflow.core import mailer, outbound
from fabflow.core.templating import SafeHtml, render
from fabflow.flows.engine import store
from fabflow.flows.handlers.base import AssetRef, PermanentError, TransientError
from fabflow.flows.models import TaskRun
from fabflow.orders import assets
from fabflow.orders.assets import NewAsset
from fabflow.orders.models import Asset, Order, Part, Product


def policy_http(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> outbound.OutboundResponse:
    """One request under the outbound policy with the connector timeout, its errors as the
    handler errors: `Services.http`, also for calls outside a task run (connection tests)."""
    policy = outbound.OutboundPolicy.from_strings(
        settings.OUTBOUND_ALLOWLIST, read_timeout=settings.FABFLOW_CONNECTOR_TIMEOUT
    )
    try:
        return outbound.request(policy, method, url, headers=headers, body=body)
    except outbound.OutboundError as exc:
        raise (TransientError if exc.transient else PermanentError)(str(exc)) from exc


def mail_domain() -> str:
    return settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1] or "fabflow.local"


class TaskEffects:
    """Concrete services for one task run; every side effect carries the run's stable id."""

    def __init__(
        self,
        *,
        order: Order,
        run_id: str,
        context: Callable[[], dict[str, Any]],
        run: TaskRun | None = None,
    ) -> None:
        self.order = order
        self.run_id = run_id
        self._run = run
        self.progress: dict[str, Any] = dict(run.progress) if run is not None else {}
        self._context = context
        self.missing: list[str] = []
        self._sent = 0

    @cached_property
    def context(self) -> dict[str, Any]:
        """The template context, built on first use (it needs the order snapshot)."""
        return self._context()

    # -- templates --
    def render(self, text: str, *, html: bool = False, header: bool = False) -> str:
        rendered, missing = render(text, self.context, html=html, header=header)
        self.missing += [m for m in missing if m not in self.missing]
        return rendered

    def asset_overview(self, pattern: str) -> list[str]:
        """Set {assetOverview}, an HTML list of expiring download links of the order's assets
        matching `pattern`; returns their ids."""
        regex = re2.compile(pattern)
        items, ids = [], []
        for asset in Asset.objects.filter(order=self.order, state=Asset.State.READY):
            if regex.search(asset.name):
                url = assets.signed_download_url(asset)
                items.append(f'<li><a href="{escape(url)}">{escape(asset.name)}</a></li>')
                ids.append(str(asset.id))
        self.context["assetOverview"] = SafeHtml(f"<ul>{''.join(items)}</ul>" if items else "")
        return ids

    def unfetched_assets(self, pattern: str) -> tuple[list[str], dict[str, str]]:
        """Matching assets still being fetched (names), and those that failed (name: reason)."""
        regex = re2.compile(pattern)
        pending, failed = [], {}
        rows = Asset.objects.filter(order=self.order).exclude(state=Asset.State.READY)
        for name, state, error in rows.order_by("name").values_list("name", "state", "error"):
            if not regex.search(name):
                continue
            if state == Asset.State.PENDING:
                pending.append(name)
            else:
                failed[name] = error
        return pending, failed

    # -- e-mail --
    def send_mail(
        self,
        *,
        to: list[str],
        subject: str,
        html: str,
        cc: list[str] | None = None,
        bcc: list[str] | None = None,
    ) -> None:
        self._sent += 1
        suffix = "" if self._sent == 1 else f".{self._sent}"
        message = EmailMultiAlternatives(
            subject=subject,
            body=mailer.plain_text(html),
            to=to,
            cc=cc or [],
            bcc=bcc or [],
            headers={"Message-ID": f"<taskrun-{self.run_id}{suffix}@{mail_domain()}>"},
        )
        message.attach_alternative(html, "text/html")
        try:
            mailer.send([message], timeout=settings.FABFLOW_SMTP_TIMEOUT)
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TransientError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise PermanentError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            refusals = "; ".join(
                f"{address}: {code} {reply.decode(errors='replace')}"
                for address, (code, reply) in sorted(exc.recipients.items())
            )
            # Greylisting answers 4xx at RCPT: that is worth a retry, 5xx is not.
            if any(400 <= code < 500 for code, _ in exc.recipients.values()):
                raise TransientError(f"recipients deferred: {refusals}") from exc
            raise PermanentError(f"recipients refused: {refusals}") from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"mail server unavailable: {exc}") from exc

    # -- HTTP --
    def http(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> outbound.OutboundResponse:
        return policy_http(method, url, headers=headers, body=body)

    def sign_webhook(self, message_id: str, body: bytes) -> dict[str, str]:
        return webhook_headers(self.order.space, message_id, body)

    # -- assets --
    def store_asset(
        self,
        *,
        name: str,
        data: bytes,
        product_id: str | None = None,
        part_id: str | None = None,
        content_type: str = "",
        replace: bool = False,
    ) -> str:
        """Store a flow-made asset; `replace` removes earlier flow-made assets of the same name
        and product or part (a task run again makes its files again, not copies)."""
        made = NewAsset(
            name,
            Asset.Source.FLOW,
            content_type,
            content=data,
            product_id=product_id,
            part_id=part_id,
        )
        with transaction.atomic():
            [asset] = assets.create_assets(order=self.order, new=[made])
            if replace:
                earlier = Asset.objects.filter(
                    order=self.order,
                    product=asset.product_id,
                    part=asset.part_id,
                    name=name,
                    source=Asset.Source.FLOW,
                ).exclude(pk=asset.pk)
                gone = list(earlier)
                earlier.delete()
                transaction.on_commit(lambda: assets.delete_files(gone))
        return str(asset.id)

    def assets(
        self, pattern: str, *, product_id: str | None = None, part_id: str | None = None
    ) -> list[AssetRef]:
        """Ready assets of the order whose name matches `pattern` (RE2), optionally only those
        of one product or part, in name order."""
        regex = re2.compile(pattern)
        rows = Asset.objects.filter(order=self.order, state=Asset.State.READY)
        if product_id is not None:
            rows = rows.filter(product_id=product_id)
        if part_id is not None:
            rows = rows.filter(part_id=part_id)
        return [
            AssetRef(
                id=str(a.id),
                name=a.name,
                content_type=a.content_type,
                size=a.size,
                product_id=str(a.product_id) if a.product_id else None,
                part_id=str(a.part_id) if a.part_id else None,
            )
            for a in rows.order_by("name", "id")
            if regex.search(a.name)
        ]

    def _asset(self, asset_id: str) -> Asset:
        asset = Asset.objects.filter(order=self.order, pk=asset_id, state=Asset.State.READY).first()
        if asset is None:
            raise PermanentError(f"asset {asset_id} is not a ready asset of this order")
        return asset

    def read_asset(self, asset_id: str) -> bytes:
        """The content of a ready asset of the order."""
        with self._asset(asset_id).file.open("rb") as handle:
            return handle.read()

    def download_url(self, asset_id: str) -> str:
        """An expiring signed download link (FABFLOW_SIGNED_URL_MAX_AGE) of a ready asset."""
        return assets.signed_download_url(self._asset(asset_id))

    # -- manufacturing data --
    def merge_manufacturing_data(
        self,
        data: Mapping[str, Any],
        *,
        product_id: str | None = None,
        part_id: str | None = None,
    ) -> None:
        """Merge keys into the manufacturing data of one product or part of the order."""
        row_id = product_id or part_id
        if row_id is None or (product_id is not None and part_id is not None):
            raise ValueError("name exactly one of product_id and part_id")
        model: type[Product] | type[Part] = Product if product_id is not None else Part
        row = model.objects.filter(order=self.order, pk=row_id).first()
        if row is None:
            raise PermanentError(f"no such {model.__name__.lower()} in this order")
        row.manufacturing_data = {**row.manufacturing_data, **data}
        row.save(update_fields=["manufacturing_data"])

    # -- progress --
    def save_progress(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Merge `data` into the run's progress and commit it at once (the handler runs outside
        any transaction): the next call of this run sees it in `ctx.extra["progress"]`, even
        after a crash. Returns the whole progress."""
        self.progress = {**self.progress, **data}
        if self._run is not None:
            store.write_run(self._run, {"progress": self.progress})
        return self.progress
