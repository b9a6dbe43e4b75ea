"""scripts/compare_classifiers.py: the paired test and the split of amcsd-dev by mineral."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from conftest import load_script, write_example_amcsd


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


def test_a_model_compared_with_itself_agrees_under_every_laboratory_condition(tmp_path: Path, capsys):
    """With --robustness each condition's patterns are made once and read by both models: the shipped model
    against itself is right on exactly the same structures under every condition (no discordant pattern),
    and every condition of evaluate_classifier's robustness table, and of its every-pattern table, is
    reported."""
    script = _script()
    write_example_amcsd(tmp_path)
    shipped = ["xrdsynth-resnet-cu", "xrdsynth-resnet-cu"]
    assert script.main([*shipped, "--amcsd", str(tmp_path), "--robustness"]) == 0
    out = capsys.readouterr().out
    grid = script.load_pretrained("xrdsynth-resnet-cu").spec.grid
    for name in script.robustness_conditions(grid, 0):
        assert f"  {name}: A " in out
    every = [name for name in script.every_pattern_conditions(grid, 0) if name != "clean"]
    for name in every:
        assert f"  on every pattern: {name}: A " in out
    paired = [line for line in out.splitlines() if "of 3;" in line]
    assert len(paired) == 1 + len(script.robustness_conditions(grid, 0)) + len(every)
    assert all("right only for A 0, only for B 0; McNemar p = 1" in line for line in paired)
    with pytest.raises(SystemExit):
        script.main([*shipped, "--rruff", str(tmp_path), "--robustness"])
    # --long-cells 1.2 keeps rutile alone (c/a 0.64: edges 4.59 and 2.96 Å, ratio 1.55; quartz 1.10,
    # pyrite 1): one structure, read alike by the model and itself.
    assert script.main([*shipped, "--amcsd", str(tmp_path), "--long-cells", "1.2"]) == 0
    long_lines = [line for line in capsys.readouterr().out.splitlines() if "edge ratio above 1.2" in line]
    assert len(long_lines) == 1 and "of 1; right only for A 0, only for B 0" in long_lines[0]
    with pytest.raises(SystemExit):
        script.main([*shipped, "--amcsd", str(tmp_path), "--long-cells", "1.0"])


def test_long_cells_are_those_whose_longest_edge_exceeds_the_ratio_times_the_shortest():
    """Edge lengths of the lattice rows, whatever their directions: a layered cell (c = 6a), a monoclinic one
    whose long edge is oblique, a cube."""
    import xrdsynth as xs

    def crystal(lattice):
        return xs.Crystal(lattice=np.array(lattice, dtype=float), frac_coords=np.zeros((1, 3)), numbers=[14])

    layered = crystal([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 18.0]])
    oblique = crystal([[4.0, 0, 0], [0, 5.0, 0], [-12.0, 0, 16.0]])  # c = 20 Å at beta 126.9°: ratio 5.0
    cube = crystal(np.eye(3) * 5.0)
    script = _script()
    np.testing.assert_array_equal(script.long_cells([layered, oblique, cube], 5.0), [0])
    np.testing.assert_array_equal(script.long_cells([layered, oblique, cube], 4.9), [0, 1])
    assert script.long_cells([cube], 1.5).shape == (0,)


def test_each_later_model_is_paired_against_the_first_on_measured_patterns(tmp_path: Path, capsys):
    """Three models and --xred: one line per model after the first (B, C), on the same measured patterns;
    a model against itself has no discordant pattern."""
    import xrdsynth as xs
    import xrdsynth.examples

    script = _script()
    lines = ["sample,pattern,cif,space_group_declared,space_group_spglib_0p1"]
    for name, group in [("quartz", 154), ("rutile", 136)]:
        crystal = xs.Crystal.from_cif(xrdsynth.examples.cif_path(name))
        sim = xs.PowderSimulator(two_theta=(10.0, 80.0, 3501), wavelength="CuKa1", seed=0)
        two_theta, counts = sim.two_theta.numpy(), 1000.0 * sim([crystal])[0].numpy()
        (tmp_path / name).mkdir()
        np.savetxt(tmp_path / name / "pattern.csv", np.c_[two_theta, counts], delimiter=",")
        lines.append(f"{name},{name}/pattern.csv,{name}/{name}.cif,{group},{group}")
    (tmp_path / "index.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shipped = ["xrdsynth-resnet-cu"] * 3
    assert script.main([*shipped, "--xred", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    lines_b = [line for line in out if line.startswith("xred-monophase: A ") and ", B " in line]
    lines_c = [line for line in out if line.startswith("xred-monophase: A ") and ", C " in line]
    assert len(lines_b) == len(lines_c) == 1
    assert "of 2; right only for A 0, only for C 0; McNemar p = 1" in lines_c[0]


def test_rruff_lines_pair_the_crystal_system_of_the_first_answer(tmp_path: Path, capsys):
    """With --rruff, a second line per set pairs the crystal system of each model's first answer: its
    accuracy is that of the model's own answers mapped to their systems."""
    import xrdsynth as xs
    import xrdsynth.examples
    from xrdsynth.models import load_pretrained
    from xrdsynth.symmetry import crystal_system

    script = _script()
    sim = xs.PowderSimulator(two_theta=(5.0, 89.99, 8500), wavelength="CuKa1", seed=0)
    crystals = [xs.Crystal.from_cif(xrdsynth.examples.cif_path(name)) for name in ("quartz", "rutile")]
    intensity = 1000.0 * sim(crystals).numpy()
    # Labels of groups other than the answers: P321 for quartz (which the model reads as P3_121 or its
    # enantiomorph), of the same crystal system, and Fm-3m for rutile, of another: top-1 wrong for both,
    # the system right at most for the first.
    labels = np.array([150, 225])
    np.savez(
        tmp_path / "rruff-dev.npz", two_theta=sim.two_theta.numpy(), intensity=intensity, space_group=labels
    )
    answers = (
        load_pretrained().predict_proba(sim.two_theta.numpy(), intensity, wavelength="CuKa1").argmax(1) + 1
    )
    expected = np.mean(
        [crystal_system(int(g)) == crystal_system(int(t)) for g, t in zip(answers, labels, strict=True)]
    )
    assert expected > 0  # the shipped model reads quartz as trigonal: the two lines can differ
    assert script.main(["xrdsynth-resnet-cu", "xrdsynth-resnet-cu", "--rruff", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(x.startswith("rruff-dev: A 0.0%, B 0.0% of 2") for x in out)
    line = next(x for x in out if x.startswith("rruff-dev, crystal system of the first answer: A "))
    assert line.startswith(
        f"rruff-dev, crystal system of the first answer: A {expected:.1%}, B {expected:.1%} of 2"
    )
