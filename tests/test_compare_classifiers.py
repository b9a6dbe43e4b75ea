"""scripts/compare_classifiers.py: the paired test and the split of amcsd-dev by mineral."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from conftest import load_script


def _script():
    return load_script("compare_classifiers")


def test_mcnemar_p_is_the_exact_binomial_tail():
    script = _script()
    assert script.mcnemar_p(0, 0) == 1.0
    assert script.mcnemar_p(5, 5) == 1.0
    # 0 against 6: both tails of Binomial(6, 1/2) at the extremes, 2 / 64.
    assert script.mcnemar_p(0, 6) == script.mcnemar_p(6, 0) == 2 / 64
    # 6 against 13 (the cell-shape A/B on rruff-dev): 2 x 43,796 / 2^19.
    assert script.mcnemar_p(6, 13) == pytest.approx(0.16707, abs=1e-5)


def test_mineral_halves_put_every_entry_of_a_mineral_in_one_half(tmp_path: Path):
    script = _script()
    names = ["Quartz", "quartz", "Calcite", "Albite", "Calcite"]
    rows = [(f"000{k}", name) for k, name in enumerate(names, start=1)]
    lines = ["amcsd_id,file,mineral"] + [f"{i},cifs/{i}.cif,{m}" for i, m in rows]
    (tmp_path / "index.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    halves = script.mineral_halves(tmp_path, [i for i, _ in rows])
    expected = [zlib.crc32(m.lower().encode()) % 2 for _, m in rows]
    np.testing.assert_array_equal(halves, expected)
    assert halves[0] == halves[1] and halves[2] == halves[4]  # one mineral, one half, whatever the case
