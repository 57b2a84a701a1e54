"""Read-only slicing endpoint: the printer profiles and materials a `slice` task may name."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from fabflow.production import cura, slicing
from fabflow.production.slice import DEFAULT_PROFILE

router = Router(tags=["production"])


class ProfilesOut(Schema):
    profiles: list[str]
    defaultProfile: str
    materials: dict[str, float]
    defaultMaterial: str
    definitionsInstalled: bool


@router.get("/production/profiles", response=ProfilesOut, operation_id="list_slicing_profiles")
def profiles(request: HttpRequest) -> ProfilesOut:
    """Printer profiles installed with Cura (the `profile` of a `slice` task) and the
    materials with their densities in g/cm³ (the `material`)."""
    return ProfilesOut(
        profiles=cura.profiles(),
        defaultProfile=DEFAULT_PROFILE,
        materials={str(name): density for name, density in slicing.MATERIAL_DENSITY.items()},
        defaultMaterial=slicing.DEFAULT_MATERIAL,
        definitionsInstalled=cura.definitions_dir() is not None,
    )
