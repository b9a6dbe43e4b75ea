"""scripts/measure_intensity_angle.py: pairs patterns with their structures and recovers a known extra B;
scripts/read_measured_twins.py reads the pairs."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import xrdsynth as xs
from conftest import load_script
from xrdsynth.examples import cif_path

STRUCTURES = [("quartz", 154), ("rutile", 136), ("pyrite", 205)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An amcsd-dev-like folder of three structures, and "measured" patterns of the same three made with a
    Cu Kα doublet, Gaussian peaks of 0.08°, and every atom at B = 1.5 Å² on RRUFF's grid (max 1000)."""
    root = tmp_path_factory.mktemp("intensity")
    amcsd, rruff = root / "amcsd", root / "rruff"
    (amcsd / "cifs").mkdir(parents=True)
    rruff.mkdir()
    lines = ["amcsd_id,file,mineral,space_group"]
    for k, (name, group) in enumerate(STRUCTURES, start=1):
        shutil.copy(cif_path(name), amcsd / "cifs" / f"{name}.cif")
        lines.append(f"000{k},cifs/{name}.cif,{name.title()},{group}")
    (amcsd / "index.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    two_theta = np.round(np.arange(8500) * 0.01 + 5.0, 2)
    sim = xs.PowderSimulator(
        two_theta, wavelength="CuKa", crystallite_size_nm=None, instrument_fwhm=0.08, dtype=torch.float64
    )
    crystals = [xs.Crystal.from_cif(cif_path(name)) for name, _ in STRUCTURES]
    warm = [dataclasses.replace(c, b_iso=np.full(c.num_atoms, 1.5)) for c in crystals]
    intensity = 1000.0 * sim(warm).numpy()
    np.savez(
        rruff / "rruff-dev.npz",
        two_theta=two_theta,
        intensity=intensity,
        space_group=np.array([g for _, g in STRUCTURES]),
        wavelength=np.array(1.540593),
    )
    return rruff, amcsd


def test_each_pattern_pairs_with_its_structure_and_the_extra_b_is_recovered(folders, tmp_path: Path) -> None:
    rruff, amcsd = folders
    script = load_script("measure_intensity_angle")
    out = tmp_path / "out.json"
    results = script.main([str(rruff), str(amcsd), "--json", str(out), "--preset-b", "1.5"])
    assert results["paired"] == 3 and results["kept"] == 3
    pairs = {row["pattern"]: row for row in results["pairs"]}
    for n, (name, _) in enumerate(STRUCTURES):
        assert pairs[n]["mineral"] == name.title()
        assert pairs[n]["scale"] == pytest.approx(1.0, abs=0.003)
        assert pairs[n]["cosine"] > 0.95
        # The measured patterns are the structures at B = 1.5 Å² against sticks at B = 0.
        assert pairs[n]["extra_b"] == pytest.approx(1.5, abs=0.25)
        assert pairs[n]["scatter"] < 0.05
    stored = json.loads(out.read_text(encoding="utf-8"))
    assert stored["extra_b_quantiles"][2] == pytest.approx(1.5, abs=0.25)
    assert set(stored["preset_b"]) == {"1.5"}


def test_displacement_fit_is_the_closed_form_debye_waller_exponent() -> None:
    script = load_script("measure_intensity_angle")
    two_theta = np.linspace(10.0, 80.0, 12)
    s2 = (np.sin(np.radians(two_theta / 2)) / 1.540593) ** 2
    b, scatter = script.displacement_fit(two_theta, 0.3 - 2 * 0.8 * s2, 1.540593)
    assert b == pytest.approx(0.8, abs=1e-9) and scatter == pytest.approx(0.0, abs=1e-9)


def test_twins_read_the_measured_scans_as_the_evaluation_does(folders, tmp_path: Path) -> None:
    """scripts/read_measured_twins.py pairs each scan with its own structure and reports the classifier's
    answers on the scans exactly as reading them directly gives."""
    from xrdsynth.models import load_pretrained

    rruff, amcsd = folders
    script = load_script("read_measured_twins")
    out = tmp_path / "twins.json"
    results = script.main(
        [str(rruff), str(amcsd), "--seeds", "2", "--precision", "float32", "--json", str(out)]
    )
    every, close = results["subsets"]["every pair"], results["subsets"]["cosine >= 0.75"]
    assert every["patterns"] == 3 and close["patterns"] == 3
    data = np.load(rruff / "rruff-dev.npz")
    classifier = load_pretrained("xrdsynth-resnet-cu", precision="float32")
    answers = classifier.predict_proba(data["two_theta"], data["intensity"], wavelength="CuKa1").argmax(1) + 1
    assert every["measured"]["top1"] == pytest.approx(np.mean(answers == data["space_group"]))
    assert len(every["twin laboratory-cu"]["top1_draws"]) == 2 and len(every["twin clean"]["top1_draws"]) == 1
    assert json.loads(out.read_text(encoding="utf-8"))["subsets"]["every pair"]["patterns"] == 3


def test_twin_shares_count_the_crystal_system_of_the_first_answer() -> None:
    script = load_script("read_measured_twins")
    # P2_1/c for C2/c (both monoclinic), P-1 right, Fm-3m for Pm-3m (both cubic), P6_3/mmc for Pnma.
    answers, labels = np.array([14, 2, 225, 194]), np.array([15, 2, 221, 62])
    assert script.shares(answers, labels) == {"top1": 0.25, "crystal_system_first": 0.75}


def test_a_peak_the_twin_does_not_explain_is_found_with_its_height() -> None:
    """A quartz scan (Cu Kα doublet) is explained by quartz's own reflections; a Gaussian peak of 30 % of the
    strongest added where quartz has none is found as the strongest unexplained peak, at its height."""
    script = load_script("read_measured_twins")
    two_theta = np.round(np.arange(8500) * 0.01 + 5.0, 2)
    quartz = xs.Crystal.from_cif(cif_path("quartz"))
    sim = xs.PowderSimulator(
        two_theta, wavelength="CuKa", crystallite_size_nm=None, instrument_fwhm=0.08, dtype=torch.float64
    )
    scan = 1000.0 * sim([quartz])[0].numpy()
    peaks = xs.PowderSimulator(two_theta=(4.0, 91.0, 8701), wavelength="CuKa1").peaks(quartz)
    assert script.strongest_unexplained_peak(scan, two_theta, 1.5418, peaks) == 0.0
    # Quartz has no reflection between 9 and 20° 2θ (its largest spacing, 100, is 4.26 Å: 20.9°).
    assert peaks.two_theta.min() > 20.0
    extra = 300.0 * np.exp(-0.5 * ((two_theta - 14.0) / 0.05) ** 2)
    found = script.strongest_unexplained_peak(scan + extra, two_theta, 1.5418, peaks)
    assert found == pytest.approx(0.3, abs=0.03)
    # A sample whose cell is 2 % larger puts its peaks beyond the tolerance of the twin's own cell, and is
    # explained again once the twin's d-spacings are scaled by the pair's 1.02.
    larger = dataclasses.replace(quartz, lattice=quartz.lattice * 1.02)
    scan = 1000.0 * sim([larger])[0].numpy()
    assert script.strongest_unexplained_peak(scan, two_theta, 1.5418, peaks) > 0.1
    assert script.strongest_unexplained_peak(scan, two_theta, 1.5418, peaks, scale=1.02) == 0.0
    assert script.strongest_unexplained_peak(np.zeros_like(scan), two_theta, 1.5418, peaks) == 0.0
