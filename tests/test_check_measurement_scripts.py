"""scripts/check_other_tubes.py and check_scan_settings.py: tube ranges, and the tables they print."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from conftest import load_script, write_example_amcsd


def test_each_tube_range_covers_the_d_spacings_of_the_models_grid() -> None:
    script = load_script("check_other_tubes")
    for kalpha1 in (0.709319, 1.788996, 0.559421):
        low, high = script.tube_range(kalpha1, 1.540593, 5.0, 90.0)
        for ours, model in ((low, 5.0), (high, 90.0)):
            d_tube = kalpha1 / (2 * math.sin(math.radians(ours / 2)))
            d_model = 1.540593 / (2 * math.sin(math.radians(model / 2)))
            assert d_tube == pytest.approx(d_model, rel=1e-12)
    # Beyond what the tube can reach (Cr Kα1 would need 2θ > 180° for 90° at Cu), capped at 170°.
    assert script.tube_range(2.28976, 1.540593, 5.0, 90.0)[1] == pytest.approx(170.0)


def test_the_table_has_a_row_per_tube(tmp_path: Path, capsys) -> None:
    script = load_script("check_other_tubes")
    write_example_amcsd(tmp_path)
    assert script.main([str(tmp_path), "--tubes", "Cu,Mo", "--always-strip"]) == 0
    out = capsys.readouterr().out
    assert "3 minerals" in out
    rows = [line for line in out.splitlines() if line.startswith(("Cu (", "Mo ("))]
    assert [row.split(" ")[0] for row in rows] == ["Cu", "Mo"]
    assert all(row.count("%") == 7 for row in rows), rows
    assert rows[1].split(" | ")[1] == "2.44"


def test_the_scan_settings_table_has_a_row_per_step_and_the_variable_slit(tmp_path: Path, capsys) -> None:
    """scripts/check_scan_settings.py on three structures: one row per step, each with two accuracies, and
    the variable-slit line after the first."""
    script = load_script("check_scan_settings")
    write_example_amcsd(tmp_path)
    assert script.main([str(tmp_path), "--steps", "0.02,0.1"]) == 0
    out = capsys.readouterr().out.splitlines()
    steps = [line for line in out if line.startswith(("0.02° |", "0.1° |"))]
    assert len(steps) == 2 and all(line.count("%") == 2 for line in steps), out
    slit = [line for line in out if line.startswith("variable slit at 0.02°")]
    assert len(slit) == 1 and slit[0].count("%") == 2
