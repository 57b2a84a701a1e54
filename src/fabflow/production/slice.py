"""The `slice` handler: G-code, print time and material for each STL of the order."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import partial
from pathlib import PurePosixPath
from typing import Any, TypeVar

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from fabflow.flows.handlers.base import (
    AssetRef,
    Failed,
    Handler,
    HandlerContext,
    Outcome,
    PermanentError,
    RetryLater,
    Succeeded,
    TransientError,
)
from fabflow.flows.handlers.payloads import Name, SlicePayload
from fabflow.production import cura, slicing

DEFAULT_PROFILE = "creality_ender3"
GCODE_CONTENT_TYPE = "text/x-gcode"
T = TypeVar("T")


class SliceTaskPayload(SlicePayload):
    """`slice`: the matching STL assets sliced for an installed printer profile."""

    profile: Name = Field(
        DEFAULT_PROFILE,
        description="A printer definition installed with Cura (GET /production/profiles).",
    )
    material: slicing.Material = Field(
        slicing.DEFAULT_MATERIAL, description="Sets the density used for the filament's weight."
    )

    @field_validator("profile")
    @classmethod
    def _installed(cls, profile: str) -> str:
        installed = cura.profiles()
        # With no definitions at all the flow is still valid: the task says what to install.
        if installed and profile not in installed:
            close = difflib.get_close_matches(profile, installed, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise PydanticCustomError(
                "profile",
                "unknown printer profile {profile}{hint}; installed: {installed}",
                {"profile": repr(profile), "hint": hint, "installed": ", ".join(installed)},
            )
        return profile

    @field_validator("settings")
    @classmethod
    def _known_settings(cls, values: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        profile = info.data.get("profile")
        definitions = cura.definitions_dir()
        if definitions is None or profile not in cura.profiles():
            return values  # the profile's own error (or the run) says what is wrong
        machine = cura.machine(definitions, profile)
        try:
            return {key: cura.typed(machine, key, value) for key, value in values.items()}
        except cura.UnknownSetting as exc:
            raise PydanticCustomError("setting", str(exc)) from None


def _payload(ctx: HandlerContext) -> SliceTaskPayload:
    if not isinstance(ctx.payload, SliceTaskPayload):
        raise TypeError(f"expected a SliceTaskPayload, got {type(ctx.payload).__name__}")
    return ctx.payload


def _effect(call: Callable[[], T]) -> T | Outcome:
    try:
        return call()
    except TransientError as exc:
        return RetryLater(str(exc), exc.retry_after_s)
    except PermanentError as exc:
        return Failed(str(exc))


class Slice(Handler):
    key = "slice"
    payload_model = SliceTaskPayload
    title = "Slice STL files with CuraEngine"

    def run(self, ctx: HandlerContext) -> Outcome:
        payload = _payload(ctx)
        stls = ctx.services.assets(payload.filter)
        if not stls:
            return Failed(f"no STL asset matches {payload.filter!r}")
        # Every file is sliced before anything is stored: a failure leaves no half of the order.
        done: list[tuple[AssetRef, slicing.Sliced]] = []
        for ref in stls:
            sliced = _effect(partial(_slice, ctx, payload, ref))
            if not isinstance(sliced, slicing.Sliced):
                return sliced
            done.append((ref, sliced))
        results = []
        for ref, sliced in done:
            result = _effect(partial(_store, ctx, payload, ref, sliced))
            if not isinstance(result, dict):
                return result
            results.append(result)
        return Succeeded(result={"profile": payload.profile, "sliced": results})


def _slice(ctx: HandlerContext, payload: SliceTaskPayload, ref: AssetRef) -> slicing.Sliced:
    stl = ctx.services.read_asset(ref.id)
    try:
        return slicing.slice_stl(
            stl, profile=payload.profile, overrides=payload.settings, material=payload.material
        )
    except slicing.SlicingError as exc:
        raise PermanentError(f"{ref.name}: {exc.reason}") from None


def _store(
    ctx: HandlerContext, payload: SliceTaskPayload, ref: AssetRef, sliced: slicing.Sliced
) -> dict[str, Any]:
    """Store the G-code next to its STL and the figures on the STL's part or product."""
    name = str(PurePosixPath(ref.name).with_suffix(".gcode"))
    gcode_id = ctx.services.store_asset(
        name=name,
        data=sliced.gcode,
        product_id=ref.product_id,
        part_id=ref.part_id,
        content_type=GCODE_CONTENT_TYPE,
        replace=True,
    )
    data = sliced.manufacturing_data(profile=payload.profile, material=payload.material)
    if ref.part_id is not None:
        ctx.services.merge_manufacturing_data(data, part_id=ref.part_id)
    elif ref.product_id is not None:
        ctx.services.merge_manufacturing_data(data, product_id=ref.product_id)
    return {"asset": ref.name, "gcode": name, "gcodeAssetId": gcode_id, **data}
