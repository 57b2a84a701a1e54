"""Web pages of orders, products and parts: tables, details, exports and manual tasks."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
)
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from fabflow.accounts import selectors as account_selectors
from fabflow.accounts.services import save_hidden_columns
from fabflow.accounts.web import member_required, principal, user
from fabflow.core.problems import ApiError
from fabflow.core.tables import Table
from fabflow.core.web import table_page
from fabflow.exports.archive import Archive, segment
from fabflow.exports.tables import LIMIT as EXPORT_LIMIT
from fabflow.orders import selectors
from fabflow.orders.filters import OrderFilter, PartFilter, ProductFilter
from fabflow.orders.models import Asset, OrderEvent, OrderStatus
from fabflow.orders.tables import EXPORTS, ORDERS, PARTS, PRODUCTS, TABLES


def _saved_hidden(request: HttpRequest, table: Table) -> list[str] | None:
    return account_selectors.hidden_columns(user(request), table.name)


@member_required
def orders(request: HttpRequest) -> HttpResponse:
    tags = {t.lower() for t in user(request).tags}
    qs = selectors.orders_scoped(principal(request))
    context = table_page(
        request,
        ORDERS,
        qs,
        OrderFilter,
        saved_hidden=_saved_hidden(request, ORDERS),
        row_css=lambda o: "tag-match" if tags & {t.lower() for t in o.tags} else "",
    )
    context.update(
        title="Orders", filters_template="orders/order_filters.html", statuses=OrderStatus.choices
    )
    return render(request, "orders/list.html", context)


@member_required
def products(request: HttpRequest) -> HttpResponse:
    qs = selectors.products_for(principal(request))
    saved = _saved_hidden(request, PRODUCTS)
    context = table_page(request, PRODUCTS, qs, ProductFilter, saved_hidden=saved)
    context.update(title="Products", filters_template="orders/date_filters.html")
    return render(request, "orders/list.html", context)


@member_required
def parts(request: HttpRequest) -> HttpResponse:
    qs = selectors.parts_for(principal(request))
    context = table_page(request, PARTS, qs, PartFilter, saved_hidden=_saved_hidden(request, PARTS))
    context.update(title="Parts", filters_template="orders/date_filters.html")
    return render(request, "orders/list.html", context)


@member_required
@require_POST
def table_columns(request: HttpRequest, name: str) -> HttpResponse:
    table = TABLES.get(name)
    if table is None:
        raise Http404
    visible = set(request.POST.getlist("visible"))
    hidden = [c.key for c in table.columns if c.key not in visible]
    save_hidden_columns(user=user(request), table=name, hidden=hidden)
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    return HttpResponseRedirect(target if safe and target else f"/{name}")


# Details --------------------------------------------------------------------------------------


@member_required
def order(request: HttpRequest, order_id: UUID) -> HttpResponse:
    from fabflow.flows.graph import render_svg
    from fabflow.flows.models import FlowRun, TaskRun

    who = principal(request)
    obj = selectors.get_or_404(selectors.orders_for(who), order_id)
    products_, parts_, assets, _tasks = selectors.order_rows(obj)
    runs = list(
        TaskRun.objects.filter(order=obj)
        .select_related("flow_run__flow_version", "order")
        .order_by("created_at")
    )
    flow_run = FlowRun.objects.filter(order=obj).select_related("flow_version").first()
    graph = ""
    if flow_run is not None:
        current = [r for r in runs if r.generation == flow_run.generation]
        graph = render_svg(
            flow_run.flow_version.definition,
            states={r.key: r.state for r in current},
            timed_out={r.key for r in current if r.timed_out and r.unfinished},
        )
    elif obj.flow_version is not None:
        graph = render_svg(obj.flow_version.definition)
    thumb = next((a for a in assets if a.content_type.startswith("image/")), None)
    return render(
        request,
        "orders/order.html",
        {
            "order": obj,
            "products": products_,
            "parts": parts_,
            "assets": assets,
            "manual_tasks": [r for r in runs if r.handler_key == "manual-task"],
            "failed_tasks": [r for r in runs if r.state == "failed"],
            "flow_run": flow_run,
            "events": OrderEvent.objects.filter(order=obj).order_by("-id")[:200],
            "graph": graph,
            "thumbnail": thumb,
            "title": obj.name,
            "outcomes": {str(r.id): _outcomes(r) for r in runs if r.handler_key == "manual-task"},
        },
    )


def _outcomes(run: Any) -> list[str]:
    from fabflow.flows.serializers import task_json

    return list(task_json(run)["outcomes"])


@member_required
def product(request: HttpRequest, product_id: UUID) -> HttpResponse:
    obj = selectors.get_or_404(
        selectors.products_for(principal(request)).select_related("order"), product_id
    )
    assets = list(Asset.objects.filter(product=obj))
    return render(
        request,
        "orders/product.html",
        {
            "product": obj,
            "parts": obj.parts.order_by("position"),
            "assets": assets,
            "thumbnail": next((a for a in assets if a.content_type.startswith("image/")), None),
            "title": obj.name,
        },
    )


@member_required
def part(request: HttpRequest, part_id: UUID) -> HttpResponse:
    obj = selectors.get_or_404(
        selectors.parts_for(principal(request)).select_related("order", "product"), part_id
    )
    return render(
        request, "orders/part.html", {"part": obj, "assets": obj.assets.all(), "title": obj.name}
    )


@member_required
def order_files(request: HttpRequest, order_id: UUID) -> HttpResponseBase:
    """All files of an order as one zip, streamed."""
    obj = selectors.get_or_404(selectors.orders_for(principal(request)), order_id)
    archive = Archive()
    assets = (
        Asset.objects.filter(order=obj, state=Asset.State.READY)
        .select_related("product")
        .order_by("created_at", "pk")  # the first of two same names keeps it
    )
    for asset in assets:
        folder = segment(asset.product.name) if asset.product else ""
        archive.add_stored(f"{folder}/{asset.name}", asset.file)
    return archive.response(f"{obj.name}-files")


@member_required
def download(request: HttpRequest, asset_id: UUID) -> HttpResponseBase:
    from fabflow.orders.api import _file_response

    asset = selectors.assets_for(principal(request)).filter(pk=asset_id).first()
    if asset is None or asset.state != Asset.State.READY or not asset.file:
        raise Http404
    return _file_response(asset)


# Manual tasks and staff actions ---------------------------------------------------------------


@member_required
@require_POST
def order_action(request: HttpRequest, order_id: UUID, action: str) -> HttpResponse:
    from fabflow.flows import actions
    from fabflow.flows.models import TaskRun

    who = principal(request)
    obj = selectors.get_or_404(selectors.orders_for(who), order_id)
    try:
        if action == "complete":
            run = TaskRun.objects.get(order=obj, pk=UUID(request.POST.get("task", "")))
            actions.complete_task(
                run=run,
                outcome=request.POST.get("outcome", ""),
                comment=request.POST.get("comment", "")[:5000],
                actor=who.actor,
            )
            messages.success(request, f"Task {run.key} completed.")
        elif action == "retry":
            run = TaskRun.objects.get(order=obj, pk=UUID(request.POST.get("task", "")))
            actions.retry_task(run=run, actor=who.actor)
            messages.success(request, f"Task {run.key} will run again.")
        elif action == "restart":
            actions.restart_flow(order=obj, actor=who.actor)
            messages.success(request, "The flow restarts from its first stage.")
        else:
            raise Http404
    except (TaskRun.DoesNotExist, ValueError, ApiError) as exc:
        messages.error(request, getattr(exc, "detail", "") or "That action is not possible.")
    return HttpResponseRedirect(f"/orders/{obj.id}")


# Exports --------------------------------------------------------------------------------------


@member_required
@require_POST
def export(request: HttpRequest, name: str, kind: str) -> HttpResponseBase:
    """Selected rows (at most 50) as CSV of the visible columns, or a zip with files."""
    exporter = EXPORTS.get(name)
    if exporter is None or kind not in exporter.kinds:
        raise Http404
    ids = request.POST.getlist("ids")
    if not ids:
        return HttpResponseBadRequest("Select at least one row.")
    if len(ids) > EXPORT_LIMIT:
        return HttpResponseBadRequest(f"At most {EXPORT_LIMIT} rows can be exported at once.")
    try:
        uuids = [UUID(i) for i in ids]
    except ValueError:
        return HttpResponseBadRequest("Invalid row id.")
    table = exporter.table
    rows = exporter.rows(_scoped[name](principal(request)), uuids)
    columns = table.visible(table.hidden(_saved_hidden(request, table)))
    return exporter.response(kind, columns, rows)


_scoped = {
    "orders": selectors.orders_scoped,
    "products": selectors.products_for,
    "parts": selectors.parts_for,
}
