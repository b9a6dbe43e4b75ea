"""xrdsynth.plot: the functions return Axes, render to valid PNG images, label the right reflections, and
refuse bad input. Runs on the Agg backend (no display)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("matplotlib")

import matplotlib

matplotlib.use("Agg")

import matplotlib.image
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

import xrdsynth as xs
from xrdsynth import examples, plot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass(frozen=True)
class _Prediction:
    """Stand-in for xrdsynth.models.Prediction: the fields plot.prediction reads."""

    space_group: tuple[int, ...]
    symbol: tuple[str, ...]
    crystal_system: tuple[str, ...]
    probability: tuple[float, ...]
    crystal_system_probability: dict[str, float]


QUARTZ_PREDICTION = _Prediction(
    space_group=(154, 152, 180, 62, 14),
    symbol=("P3_221", "P3_121", "P6_222", "Pnma", "P2_1/c"),
    crystal_system=("trigonal", "trigonal", "hexagonal", "orthorhombic", "monoclinic"),
    probability=(0.62, 0.21, 0.09, 0.03, 0.01),
    crystal_system_probability={"trigonal": 0.84, "hexagonal": 0.1, "orthorhombic": 0.04, "monoclinic": 0.02},
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def quartz() -> tuple[np.ndarray, np.ndarray, xs.PeakList]:
    crystal = xs.Crystal.from_cif(examples.cif_path("quartz"))
    sim = xs.PowderSimulator(two_theta=(10.0, 80.0, 1401), crystallite_size_nm=60.0)
    intensity = sim(xs.CrystalBatch.from_crystals([crystal]))[0]
    return sim.two_theta, intensity, sim.peaks(crystal)


def _assert_png(ax: Axes, path: Path) -> None:
    ax.figure.savefig(path, dpi=60)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    assert float(image[..., :3].std()) > 0.01  # something is drawn


def test_pattern_with_peaks(quartz, tmp_path: Path) -> None:
    two_theta, intensity, peaks = quartz  # torch tensors and a PeakList
    assert isinstance(two_theta, torch.Tensor)
    ax = plot.pattern(two_theta, intensity, peaks, title="quartz", wavelength=1.540593)
    assert isinstance(ax, Axes)
    assert ax.get_title() == "quartz" and "1.54059 Å" in ax.get_xlabel()
    labels = [t.get_text() for t in ax.texts]
    # Quartz's strongest peak holds two forms with one d-spacing, {1 0 1} and {0 1 1}: both are named.
    assert "(0 1 1, 1 0 1)" in labels
    assert 1 <= len(labels) <= 8
    ticks = ax.collections[0].get_segments()
    inside = (peaks.two_theta >= 10.0) & (peaks.two_theta <= 80.0)
    assert len(ticks) == int(inside.sum())
    assert max(seg[:, 1].max() for seg in ticks) < 0.0  # below the normalised curve, which starts at 0
    curve = ax.lines[0].get_ydata()
    assert curve.max() == pytest.approx(1.0)
    _assert_png(ax, tmp_path / "pattern.png")


def test_second_line_of_a_doublet_is_labelled_as_such() -> None:
    crystal = xs.Crystal.from_cif(examples.cif_path("quartz"))
    sim = xs.PowderSimulator(two_theta=(20.0, 30.0, 1001), wavelength="CuKa", crystallite_size_nm=300.0)
    peaks = sim.peaks(crystal)
    ax = plot.pattern(sim.two_theta, sim([crystal])[0], peaks, label_strongest=4)
    labels = [t.get_text() for t in ax.texts]
    assert "(0 1 1, 1 0 1)" in labels and "(0 1 1, 1 0 1) Kα2" in labels
    # At the principal wavelength only the Kα1 sticks are drawn, so no label needs the line.
    ax = plot.pattern(sim.two_theta, sim([crystal])[0], peaks, label_strongest=4, wavelength=1.540593)
    assert not any("Kα2" in t.get_text() for t in ax.texts)


def test_labels_do_not_overlap(quartz) -> None:
    two_theta, intensity, peaks = quartz
    ax = plot.pattern(two_theta.numpy(), intensity.numpy(), peaks, label_strongest=25)
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) > 8
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b)


def test_pattern_options(quartz) -> None:
    two_theta, intensity, peaks = quartz
    _, ax = plt.subplots()
    out = plot.pattern(
        two_theta, 1000.0 * intensity, peaks, ax=ax, normalise=False, label_strongest=0, label="sim"
    )
    assert out is ax and not ax.texts and ax.get_legend() is not None
    assert ax.lines[0].get_ydata().max() == pytest.approx(1000.0 * float(intensity.max()), rel=1e-6)
    # Peaks computed for Cu, plotted against a Mo grid: moved through d (2θ shrinks).
    ax = plot.pattern(two_theta, intensity, peaks, wavelength=0.709319, label_strongest=0)
    positions = np.array([seg[0, 0] for seg in ax.collections[0].get_segments()])
    expected = np.degrees(2 * np.arcsin(0.709319 / (2 * peaks.d[peaks.wavelength == peaks.wavelength.min()])))
    np.testing.assert_allclose(np.sort(positions), np.sort(expected[(expected >= 10) & (expected <= 80)]))


def test_pattern_without_peaks_accepts_lists() -> None:
    ax = plot.pattern([10.0, 11.0, 12.0], [1.0, 3.0, 2.0])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1 / 3, 1.0, 2 / 3])
    assert not ax.collections


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([10.0, 11.0, 12.0], [1.0, 2.0], "must have 3 values to match two_theta, got 2"),
        ([10.0, np.nan, 12.0], [1.0, 2.0, 3.0], "non-finite"),
        ([10.0, 11.0, 12.0], [1.0, np.inf, 3.0], "non-finite"),
        ([[10.0, 11.0]], [[1.0, 2.0]], "1-D"),
        ([], [], "empty"),
        ([10.0, 11.0], [0.0, -1.0], "cannot normalise"),
        (["a", "b"], [1.0, 2.0], "array of numbers"),
    ],
)
def test_pattern_bad_input(x, y, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plot.pattern(x, y)


def test_pattern_bad_options(quartz) -> None:
    two_theta, intensity, peaks = quartz
    with pytest.raises(ValueError, match="label_strongest"):
        plot.pattern(two_theta, intensity, peaks, label_strongest=-1)
    with pytest.raises(ValueError, match="wavelength"):
        plot.pattern(two_theta, intensity, peaks, wavelength=-1.0)
    with pytest.raises(TypeError, match="PeakList"):
        plot.pattern(two_theta, intensity, peaks=object())  # type: ignore[arg-type]


def test_prediction_figure(tmp_path: Path) -> None:
    ax = plot.prediction(QUARTZ_PREDICTION)
    assert isinstance(ax, Axes)
    assert len(ax.figure.axes) == 2  # the bars and the crystal systems
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "154  P3_221" and labels[-1] == "14  P2_1/c"
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == pytest.approx(QUARTZ_PREDICTION.probability)
    side = ax.figure.axes[1]
    systems = [t.get_text() for t in side.get_yticklabels()]
    assert "trigonal" in systems and len(systems) == 7
    trigonal = side.patches[systems.index("trigonal")].get_width()
    assert trigonal == pytest.approx(0.84)
    _assert_png(ax, tmp_path / "prediction.png")


def test_prediction_into_given_axes() -> None:
    fig, ax = plt.subplots()
    assert plot.prediction(QUARTZ_PREDICTION, ax=ax) is ax
    assert len(fig.axes) == 1 and len(ax.patches) == 5


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"probability": (0.5, 0.2)}, ValueError, "differ in length"),
        ({"probability": (0.5, 0.2, float("nan"), 0.1, 0.1)}, ValueError, r"in \[0, 1\]"),
        ({"probability": (1.5, 0.2, 0.1, 0.1, 0.1)}, ValueError, r"in \[0, 1\]"),
        ({"space_group": (231, 152, 180, 62, 14)}, ValueError, "1..230"),
        ({"crystal_system_probability": {"trigonal": -0.1}}, ValueError, "crystal_system_probability"),
        (
            {"space_group": (), "symbol": (), "crystal_system": (), "probability": ()},
            ValueError,
            "no entries",
        ),
    ],
)
def test_prediction_bad_input(change: dict, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        plot.prediction(dataclasses.replace(QUARTZ_PREDICTION, **change))


def test_prediction_needs_the_fields() -> None:
    with pytest.raises(TypeError, match="crystal_system_probability"):
        plot.prediction(object())


def test_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install xrdsynth\[plot\]"):
        plot.pattern([10.0, 11.0], [1.0, 2.0])


def test_import_does_not_load_matplotlib() -> None:
    import subprocess

    code = "import sys, xrdsynth, xrdsynth.plot; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
