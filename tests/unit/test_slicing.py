"""Slicing without the engine: the G-code header, the figures, profiles and resolved settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fabflow.core.tables import hours_minutes
from fabflow.production import cura, slicing

PLACEHOLDER_GCODE = b"""\
;FLAVOR:Marlin
;TIME:6666
;Filament used: 0m
;Layer height: 0.2
;MINX:2.14748e+06
;MAXZ:-2.14748e+06

;Generated with Cura_SteamEngine 4.13.0
M140 S60
G1 X1 Y2 ;TIME:6666 in a comment of a move stays
"""
REPORT = """\
Progress: export accomplished in 0.013s
Gcode header after slicing:
;FLAVOR:Marlin
;TIME:431
;Filament used: 0.175027m
;Layer height: 0.2
;MINX:96.51
;MAXZ:3

End of gcode header.
Print time (s): 431
Print time (hr|min|s): 0h 7m 11s
Filament (mm^3): 420
"""


def test_the_header_is_replaced_by_the_reported_one_and_the_moves_stay() -> None:
    header = REPORT.split("slicing:\n", 1)[1].split("\nEnd of gcode header.", 1)[0]
    assert slicing.rewrite_header(PLACEHOLDER_GCODE, header) == (
        b";FLAVOR:Marlin\n;TIME:431\n;Filament used: 0.175027m\n;Layer height: 0.2\n"
        b";MINX:96.51\n;MAXZ:3\n\n;Generated with Cura_SteamEngine 4.13.0\nM140 S60\n"
        b"G1 X1 Y2 ;TIME:6666 in a comment of a move stays\n"
    )


@pytest.mark.parametrize(
    ("material", "grams"),
    [("PLA", 0.52), ("PETG", 0.53), ("ABS", 0.44), ("TPU", 0.51), ("Nylon", 0.48)],
)
def test_the_figures_come_from_the_report(material: slicing.Material, grams: float) -> None:
    sliced = slicing._figures(PLACEHOLDER_GCODE, REPORT, {"material_diameter": 1.75}, material)
    assert (sliced.print_time_s, sliced.filament_mm, sliced.filament_g) == (431, 175.0, grams)
    assert b";TIME:431\n" in sliced.gcode and b";TIME:6666\n" not in sliced.gcode
    assert sliced.manufacturing_data(profile="creality_ender3", material=material) == {
        "printTimeS": 431,
        "filamentMm": 175.0,
        "filamentG": grams,
        "profile": "creality_ender3",
        "material": material,
    }


def test_without_a_length_in_the_header_the_volume_gives_it() -> None:
    # a Griffin header has no "Filament used": the reported mm³ and the filament's diameter do
    report = REPORT.replace(";Filament used: 0.175027m\n", "")
    sliced = slicing._figures(PLACEHOLDER_GCODE, report, {"material_diameter": 2.85}, "PLA")
    assert (sliced.filament_mm3, sliced.filament_mm, sliced.filament_g) == (420.0, 65.8, 0.52)


def test_a_report_without_figures_is_a_clear_failure() -> None:
    with pytest.raises(slicing.SlicingError, match="did not report print time and filament"):
        slicing._figures(PLACEHOLDER_GCODE, "Segmentation fault", {}, "PLA")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, ""), (0, "0:00"), (29, "0:00"), (30, "0:01"), (269, "0:04"), (3600, "1:00"),
     (36_000 + 59 * 60 + 40, "11:00")],
)  # fmt: skip
def test_print_times_show_as_hours_and_minutes(seconds: int | None, shown: str) -> None:
    assert hours_minutes(seconds) == shown


# Definitions ------------------------------------------------------------------------------------


def write(folder: Path, name: str, body: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.def.json").write_text(json.dumps({"version": 2, **body}))


@pytest.fixture
def definitions(tmp_path: Path, settings: Any) -> Path:
    """A small Cura resources folder: a base, a hidden family, two printers, an extruder."""
    folder = tmp_path / "definitions"
    layer = {"type": "float", "default_value": 0.1}
    infill = {"type": "float", "default_value": 20}
    distance = {"type": "float", "default_value": 2, "value": "0.4 * 100 / infill_density"}
    nozzle = {"type": "float", "default_value": 0.4}
    top = {"type": "int", "default_value": 4, "value": "math.ceil(0.8 / layer_height)"}
    pattern = {
        "type": "enum",
        "options": {"grid": "Grid", "lines": "Lines"},
        "default_value": "grid",
    }
    tree = {"layer_height": layer, "infill_density": infill, "infill_distance": distance}
    tree |= {"nozzle": nozzle, "top_layers": top, "infill_pattern": pattern}
    tree |= {"support": {"type": "bool", "default_value": False}}
    tree |= {"machine_extruder_count": {"type": "int", "default_value": 1}}
    tree |= {"extruders_enabled_count": {"type": "int", "default_value": 1}}
    base = {"name": "FDM", "metadata": {"visible": False}, "settings": {"all": {"children": tree}}}
    write(folder, "fdmprinter", base)
    write(folder, "fdmextruder", {"name": "Extruder", "metadata": {"visible": False}})
    trains = {"machine_extruder_trains": {"0": "family_extruder_0"}}
    write(folder, "family", {"inherits": "fdmprinter", "metadata": {"visible": False, **trains}})
    write(folder, "printer_a", {"inherits": "family", "metadata": {"visible": True}})
    big = {"overrides": {"layer_height": {"default_value": 0.3}}}
    write(folder, "printer_b", {"inherits": "fdmprinter", **big})
    nozzle_06 = {"overrides": {"nozzle": {"default_value": 0.6}}}
    write(tmp_path / "extruders", "family_extruder_0", {"inherits": "fdmextruder", **nozzle_06})
    settings.FABFLOW_CURA_DEFINITIONS = str(folder)
    return folder


def test_profiles_are_the_visible_printers(definitions: Path) -> None:
    assert cura.profiles() == ["printer_a", "printer_b"]


def test_no_definitions_means_no_profiles(tmp_path: Path, settings: Any) -> None:
    settings.FABFLOW_CURA_DEFINITIONS = str(tmp_path)
    assert (cura.definitions_dir(), cura.profiles()) == (None, [])
    with pytest.raises(slicing.SlicingError, match=r"not installed \(apt-get install cura"):
        slicing.machine("creality_ender3")


def test_the_distributions_profiles_leave_out_abstract_bases() -> None:
    installed = cura.profiles()
    assert {"creality_ender3", "ultimaker_s5"} <= set(installed)
    assert not {"fdmprinter", "fdmextruder", "creality_base"} & set(installed)


def test_formulas_follow_the_overrides(definitions: Path) -> None:
    printer = cura.machine(definitions, "printer_a")
    values = cura.resolve(printer, {"infill_density": 40, "layer_height": "0.2"})
    assert values["infill_distance"] == 1.0 and values["top_layers"] == 4
    assert values["layer_height"] == 0.2  # typed from the text of a number
    assert values["nozzle"] == 0.6  # the extruder train's own value wins


def test_a_childs_default_and_the_single_extruder(definitions: Path) -> None:
    values = cura.resolve(cura.machine(definitions, "printer_b"), {})
    assert values["layer_height"] == 0.3 and values["top_layers"] == 3
    assert (values["machine_extruder_count"], values["extruders_enabled_count"]) == (1, 1)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("layer_heigth", 0.2, "unknown setting 'layer_heigth' for printer_a"),
        ("layer_height", "thin", "setting 'layer_height' must be a number"),
        ("layer_height", True, "setting 'layer_height' must be a number"),
        ("top_layers", 2.5, "setting 'top_layers' must be an integer"),
        ("support", "yes", "setting 'support' must be true or false"),
        ("infill_pattern", "waves", "setting 'infill_pattern' must be one of grid, lines"),
    ],
)
def test_overrides_are_checked_against_the_definition(
    definitions: Path, key: str, value: Any, reason: str
) -> None:
    with pytest.raises(cura.UnknownSetting) as error:
        cura.typed(cura.machine(definitions, "printer_a"), key, value)
    assert str(error.value) == reason


def test_a_formula_that_cannot_be_evaluated_keeps_its_default(definitions: Path) -> None:
    printer = cura.machine(definitions, "printer_a")
    # infill_density 0: the formula divides by zero, as Cura's front end would, and keeps 2
    assert cura.resolve(printer, {"infill_density": 0})["infill_distance"] == 2


def test_the_distributions_formulas_all_evaluate() -> None:
    definitions = cura.definitions_dir()
    assert definitions is not None
    for profile in ("creality_ender3", "ultimaker_s5", "prusa_i3"):
        printer = cura.machine(definitions, profile)
        resolver = cura._Resolver(printer, cura.SINGLE_EXTRUDER)
        formulas = {k: p["value"] for k, p in printer.properties.items() if "value" in p}
        failed = []
        for key, formula in formulas.items():
            try:
                resolver.evaluator.eval(formula) if isinstance(formula, str) else None
            except Exception as exc:
                failed.append(f"{key}: {exc}")
        assert failed == [], profile


def test_an_engine_failure_names_its_errors_not_its_warnings_or_settings() -> None:
    stderr = (
        '-s layer_height="0.1"\n[WARNING] Unrecognized data type\n[ERROR] Failed to load model\n'
    )
    assert slicing._tail(stderr) == "[ERROR] Failed to load model"
    assert slicing._tail('-s a="1"\nSegmentation fault\n') == "Segmentation fault"
    assert slicing._tail("") == "no message"
