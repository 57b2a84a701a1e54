"""The `generate-production-files` handler: a model rendered for each product or part of the
order, stored as its files, preview and manufacturing data (docs/production.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import re2

from fabflow.flows.handlers.base import Failed, Handler, HandlerContext, Outcome, Succeeded
from fabflow.flows.handlers.payloads import GenerateProductionFilesPayload
from fabflow.production import mesh as meshes
from fabflow.production.parameters import ParameterError
from fabflow.production.render import Rendered, RenderError, render_cached
from fabflow.production.selectors import version_for_order


@dataclass(frozen=True)
class Target:
    kind: str  # product | part
    id: str
    name: str
    configuration: Mapping[str, Any] | None

    def ids(self) -> dict[str, str]:
        return {"product_id": self.id} if self.kind == "product" else {"part_id": self.id}


def targets(order: Mapping[str, Any], target: str, pattern: str | None) -> list[Target]:
    """The order's products, or its parts, whose names match `pattern`. A part renders with
    its own configuration (`data.configuration`) when it has one, else its product's."""
    regex = re2.compile(pattern) if pattern else None
    found = []
    for product in order.get("products", []):
        if target == "product":
            rows = [("product", product, product.get("configuration"))]
        else:
            rows = [("part", part, _part_configuration(part, product)) for part in product["parts"]]
        for kind, row, configuration in rows:
            if regex is None or regex.search(row["name"]):
                found.append(Target(kind, str(row["id"]), row["name"], configuration))
    return found


def _part_configuration(part: Mapping[str, Any], product: Mapping[str, Any]) -> Any:
    own = (part.get("data") or {}).get("configuration")
    return own if isinstance(own, Mapping) else product.get("configuration")


def asset_name(target_name: str, extension: str) -> str:
    # A slash would read as a folder in zip exports and downloads.
    return f"{target_name.replace('/', '-')}.{extension}"


class GenerateProductionFiles(Handler):
    key = "generate-production-files"
    title = "Generate production files"
    payload_model = GenerateProductionFilesPayload

    def run(self, ctx: HandlerContext) -> Outcome:
        payload = ctx.payload
        assert isinstance(payload, GenerateProductionFilesPayload)
        space = ctx.order["spaceKey"]
        version = version_for_order(space, payload.model, _created_at(ctx.order["createdAt"]))
        if version is None:
            return Failed(f"no model {payload.model!r} in space {space}")
        results = []
        for target in targets(ctx.order, payload.target, payload.filter):
            try:
                rendered = render_cached(
                    version,
                    target.configuration,
                    payload.fileFormat,
                    payload.resolution,
                    preview=payload.preview,
                )
            except ParameterError as exc:
                reason = f"parameter {exc.name!r}: {exc.reason}"
                return Failed(f"{target.kind} {target.name!r}: {reason}")
            except RenderError as exc:
                return Failed(f"{target.kind} {target.name!r}: {exc.reason}")
            results.append(_store(ctx, target, rendered, payload.fileFormat))
            if not rendered.checks["watertight"] and not payload.allowNonWatertight:
                # The files stay, for a person to see what went wrong.
                return Failed(
                    f"{target.kind} {target.name!r}: the mesh is not watertight "
                    "(allowNonWatertight lets it pass)"
                )
        return Succeeded(
            {"targets": results},
            message=f"{len(results)} {payload.target}(s) rendered with {payload.model} "
            f"v{version.number}",
        )


def _store(ctx: HandlerContext, target: Target, rendered: Rendered, fmt: str) -> dict[str, Any]:
    """The target's file and preview as its assets (replacing a previous run's), its checks
    as its manufacturing data."""
    services = ctx.services
    asset = services.store_asset(
        name=asset_name(target.name, fmt),
        data=rendered.mesh_bytes,
        content_type=meshes.CONTENT_TYPES[fmt],
        replace=True,
        **target.ids(),
    )
    preview = None
    if rendered.preview_png is not None:
        preview = services.store_asset(
            name=asset_name(target.name, "png"),
            data=rendered.preview_png,
            content_type="image/png",
            replace=True,
            **target.ids(),
        )
    services.merge_manufacturing_data(rendered.checks, **target.ids())
    return {
        "name": target.name,
        "id": target.id,
        "cacheHit": rendered.cache_hit,
        "asset": asset,
        "preview": preview,
        "checks": rendered.checks,
    }


def _created_at(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)
