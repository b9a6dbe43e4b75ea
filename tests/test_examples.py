"""The example scripts run (as a user would run them, in a subprocess), and the bundled measured patterns."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

import xrdsynth as xs
from xrdsynth import examples
from xrdsynth.models import Classifier, InputSpec, save_pretrained

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_example(name: str, *args: str | Path, cwd: Path | None = None) -> str:
    """Run examples/<name> with ``args``; its stdout (fails the test on a non-zero exit)."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    # The limit only stops a hung example: each takes seconds on a quiet machine, but minutes on a loaded one.
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *map(str, args)],
        capture_output=True, text=True, timeout=900, env=env, cwd=cwd, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained classifier saved as a model folder (no shipped model is needed)."""
    classifier = Classifier.from_architecture("resnet10", InputSpec(10.0, 70.0, 500), width=8)
    return save_pretrained(classifier, tmp_path_factory.mktemp("model") / "m")


def test_train_small_trains_saves_loads_and_classifies_in_a_temporary_folder(tmp_path) -> None:
    # Without --out the run folder is a temporary one, removed afterwards; the example still loads the saved
    # model back from it (load_pretrained checks the weights against the card) before classifying.
    out = run_example("train_small.py", "--steps", "4", "--batch-size", "8", cwd=tmp_path)
    assert "trained 4 steps of 8 patterns" in out
    assert re.search(r"^loaded .*model: ", out, flags=re.M)
    assert "quartz (true space group 154)" in out
    ranked = [line for line in out.splitlines() if re.match(r"^[1-5]\.\s+\d+ ", line)]
    assert len(ranked) == 5
    assert list(tmp_path.iterdir()) == []


def test_train_small_documents_its_defaults() -> None:
    # The docstring's defaults (30 steps of 16) are what --help says; training itself is tested above.
    usage = run_example("train_small.py", "--help")
    assert "optimiser steps (default: 30)" in usage and "patterns per step (default: 16)" in usage
    assert "--out" in usage


def test_classify_measured_prints_the_top_five_and_plots(tiny_model, tmp_path) -> None:
    target = tmp_path / "prediction.png"
    out = run_example("classify_measured.py", "--model", tiny_model, "--plot", target)
    for name in examples.measured_names():
        assert f"{name}: " in out
        assert f"true space group {examples.measured_space_group(name)}:" in out
        assert (tmp_path / f"prediction-{name}.png").read_bytes()[:8] == PNG_SIGNATURE
    ranked = [line for line in out.splitlines() if re.match(r"^[1-5]\.\s+\d+ ", line)]
    assert len(ranked) == 5 * len(examples.measured_names())
    assert out.count("most probable crystal system:") == len(examples.measured_names())


# ------------------------------------------------------------------------------- bundled measured data
def test_measured_examples_read_with_their_space_groups() -> None:
    assert examples.measured_names() == ["CdS", "PbSO4"]
    expected = {"PbSO4": (62, 6001, 10.0, 160.0), "CdS": (186, 584, 10.0, 79.96)}
    for name, (group, points, first, last) in expected.items():
        assert examples.measured_space_group(name) == group
        pattern = xs.io.read_pattern(examples.measured_path(name))
        assert len(pattern.two_theta) == points
        assert pattern.two_theta[0] == pytest.approx(first) and pattern.two_theta[-1] == pytest.approx(last)
        assert pattern.wavelength is None  # the files do not state it; the README says Cu Kα
        assert pattern.intensity.min() >= 0


def test_measured_examples_match_the_structures_of_their_phases() -> None:
    # Simulated Cu Kα1 sticks of the phase lie under measured peaks: the strongest stick of each sample
    # falls within 0.3° of a local maximum of the counts. The files carry no wavelength, so this is the
    # evidence for "Cu Kα" in the README; the phases' CIFs are copied from the xred-monophase development
    # data into tests/data/xred.
    data = ROOT / "tests" / "data" / "xred"
    cifs = {"PbSO4": data / "PbSO4_1528837.cif", "CdS": data / "CdS_1011054.cif"}
    for name, cif in cifs.items():
        pattern = xs.io.read_pattern(examples.measured_path(name))
        crystal = xs.Crystal.from_cif(cif)
        assert crystal.space_group == examples.measured_space_group(name)
        peaks = xs.PowderSimulator(two_theta=(10.0, 79.0, 500), crystallite_size_nm=50.0).peaks(crystal)
        strongest = peaks.two_theta[peaks.intensity.argmax()]
        window = abs(pattern.two_theta - strongest) <= 0.6
        measured = pattern.two_theta[window][pattern.intensity[window].argmax()]
        assert abs(measured - strongest) < 0.3


def test_unknown_measured_name_raises() -> None:
    with pytest.raises(ValueError, match="PbSO4"):
        examples.measured_path("NaCl")
    with pytest.raises(ValueError, match="CdS"):
        examples.measured_space_group("NaCl")


def test_measured_files_are_package_data() -> None:
    # Every shipped file of examples/measured/ is listed in pyproject's package data, so wheels carry it.
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["xrdsynth"]
    package = ROOT / "src" / "xrdsynth"
    files = [p.relative_to(package).as_posix() for p in (package / "examples" / "measured").iterdir()]
    assert {"examples/measured/LICENSE", "examples/measured/README.md"} <= set(files)
    for file in files:
        assert any(fnmatch(file, pattern) for pattern in patterns), f"{file} is not package data"


def test_refit_statistics_fits_saves_and_samples(tmp_path) -> None:
    out = run_example("refit_statistics.py", "--out", tmp_path / "stats.json")
    assert re.search(r"fitted \d+ structures", out)
    assert (tmp_path / "stats.json").is_file()
    loaded = xs.sampler.SamplerStatistics.load(tmp_path / "stats.json")
    assert loaded.num_structures > 0
