"""Plots of powder patterns and of classifier predictions, with matplotlib (``pip install xrdsynth[plot]``).

matplotlib is imported when a function is called, not with this module, so ``import xrdsynth`` never needs it.
Each function draws into the ``ax`` it is given, or into a new figure, and returns the
:class:`matplotlib.axes.Axes` it drew in::

    import xrdsynth as xs
    from xrdsynth import examples, plot

    crystal = xs.Crystal.from_cif(examples.cif_path("quartz"))
    sim = xs.PowderSimulator(two_theta=(10.0, 80.0, 3501))
    ax = plot.pattern(sim.two_theta, sim(xs.CrystalBatch.from_crystals([crystal]))[0], sim.peaks(crystal))
    ax.figure.savefig("quartz.png", dpi=150)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ._base import NUM_SPACE_GROUPS, float_vector, is_space_group_number
from ._radiation import two_theta_from_d

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .simulate import PeakList

__all__ = ["pattern", "prediction"]

_INSTALL_HINT = "xrdsynth.plot needs matplotlib: pip install xrdsynth[plot]"
# Tick marks of the peak positions fill this band below the lowest point of the curve (fractions of its span).
_TICK_BAND = (0.13, 0.04)
_LABEL_HEADROOM = 0.35  # room above the highest point for hkl labels, as a fraction of the span
_LABEL_FONTSIZE = 7.0
_LABEL_LEVELS = 4  # a label that would overlap another is raised by one text line, at most this many times
_LABEL_WINDOW_DEG = 0.25  # a label sits on the highest point of the curve within this distance of its peak
_SYSTEM_COLOURS = {
    "triclinic": "tab:gray",
    "monoclinic": "tab:brown",
    "orthorhombic": "tab:green",
    "tetragonal": "tab:orange",
    "trigonal": "tab:purple",
    "hexagonal": "tab:red",
    "cubic": "tab:blue",
}


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return plt


def _vector(value: Any, name: str, n: int | None = None) -> npt.NDArray[np.float64]:
    """A finite, non-empty 1-D float64 copy of a numpy array, torch tensor or sequence."""
    array = float_vector(value, name, n)  # the check measured-pattern files get, same messages
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return array


def _hkl_label(hkl: Any) -> str:
    """Miller indices as the labels write them: ``(1 0 -1)``."""
    return "(" + " ".join(str(int(i)) for i in hkl) + ")"


def _peak_labels(peaks: Any, hkl: npt.NDArray[np.int64]) -> npt.NDArray[np.str_]:
    """(M,) labels: every family of each peak, ``(0 1 1, 1 0 1)``, with `` Kα2`` for the second line of a
    doublet; the plain hkl for an object without ``labels()``."""
    labels = getattr(peaks, "labels", None)
    if labels is None:
        return np.array([_hkl_label(h) for h in hkl], dtype=str)
    text = [f"({label})" for label in labels()]
    line = np.asarray(getattr(peaks, "line", np.zeros(len(text))))
    return np.array([t + (" Kα2" if int(k) == 1 else "") for t, k in zip(text, line, strict=True)], dtype=str)


def pattern(
    two_theta: Any,
    intensity: Any,
    peaks: PeakList | None = None,
    *,
    ax: Axes | None = None,
    normalise: bool = True,
    label_strongest: int = 8,
    title: str | None = None,
    wavelength: float | None = None,
    label: str | None = None,
) -> Axes:
    """Plot a powder pattern, optionally with the peak positions of a crystal below it.

    Args:
        two_theta: (N,) scattering angles 2θ in degrees (numpy array, torch tensor or sequence).
        intensity: (N,) intensities on that grid.
        peaks: a :class:`xrdsynth.PeakList` (``PowderSimulator.peaks``): a tick mark below the curve for
            every peak inside the plotted 2θ range, and the ``label_strongest`` most intense of them labelled
            with their hkl above the curve: every family merged into the peak, e.g. ``(1 0 4)`` or
            ``(0 1 1, 1 0 1)``, and `` Kα2`` after the peaks of the second line of a doublet. A label that
            would overlap one already placed is raised by a text line (a few times at most) or left out.
        ax: the axes to draw in; None makes a new figure.
        normalise: divide the intensities by their maximum (which must then be positive).
        label_strongest: how many peaks to label (0 for none).
        title: axes title.
        wavelength: the radiation of the pattern in Å, shown in the x label. When ``peaks`` were computed for
            another wavelength, their positions are moved to this one through their d-spacings
            (2θ = 2 arcsin(λ / 2d)), using the entries of the peaks' principal (shortest) line only.
        label: legend entry for the curve (a legend is drawn when given).

    Returns:
        The axes drawn in.

    Raises:
        ValueError: arrays that are not 1-D, of different lengths, empty or with non-finite values; a
            maximum <= 0 with ``normalise``; a negative ``label_strongest`` or non-positive ``wavelength``.
        TypeError: ``peaks`` lacks a PeakList field.
        ImportError: matplotlib is not installed.
    """
    x = _vector(two_theta, "two_theta")
    y = _vector(intensity, "intensity", x.shape[0])
    if isinstance(label_strongest, bool) or not isinstance(label_strongest, (int, np.integer)):
        raise ValueError(f"label_strongest must be an int, got {label_strongest!r}")
    if label_strongest < 0:
        raise ValueError(f"label_strongest must be >= 0, got {label_strongest}")
    if wavelength is not None and not (math.isfinite(wavelength) and wavelength > 0):
        raise ValueError(f"wavelength must be a positive number of Å, got {wavelength!r}")
    if normalise:
        top = float(y.max())
        if top <= 0:
            raise ValueError(f"cannot normalise: the largest intensity is {top:g}")
        y = y / top
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]

    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(8.0, 3.6), layout="constrained")
    ax.plot(x, y, linewidth=0.8, color="C0" if not ax.lines else None, label=label)
    xlabel = "2θ (°)" if wavelength is None else f"2θ (°), λ = {wavelength:g} Å"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("intensity (normalised)" if normalise else "intensity")
    ax.set_xlim(float(x[0]), float(x[-1]) if x[-1] > x[0] else float(x[0]) + 1.0)
    if peaks is not None:
        _draw_peaks(ax, peaks, x, y, label_strongest, wavelength)
    if title is not None:
        ax.set_title(title)
    if label is not None:
        ax.legend(loc="upper right", fontsize=8)
    return ax


def _peak_positions(peaks: Any, wavelength: float | None) -> tuple[npt.NDArray[Any], ...]:
    """(2θ, intensity, label) of the peaks, moved to ``wavelength`` through d when it differs."""
    try:
        two_theta = np.asarray(peaks.two_theta, dtype=np.float64)
        intensity = np.asarray(peaks.intensity, dtype=np.float64)
        hkl = np.asarray(peaks.hkl)
        d = np.asarray(peaks.d, dtype=np.float64)
        lines = np.broadcast_to(np.asarray(peaks.wavelength, dtype=np.float64), two_theta.shape)
    except AttributeError as exc:
        raise TypeError(
            f"peaks must be a PeakList (two_theta, intensity, hkl, d, wavelength): {exc}"
        ) from None
    n = two_theta.shape[0]
    if two_theta.ndim != 1 or intensity.shape != (n,) or hkl.shape != (n, 3) or d.shape != (n,):
        raise ValueError("peaks has inconsistent shapes (two_theta (M,), intensity (M,), hkl (M, 3), d (M,))")
    labels = _peak_labels(peaks, hkl)
    if n == 0:
        return two_theta, intensity, labels
    if wavelength is not None and not np.allclose(lines, wavelength, rtol=1e-6):
        keep = np.isclose(lines, lines.min())
        two_theta, intensity, labels, d = two_theta[keep], intensity[keep], labels[keep], d[keep]
        inside = wavelength / (2.0 * d) <= 1.0  # d >= λ/2: the line reaches it
        two_theta = two_theta_from_d(d[inside], wavelength)
        intensity, labels = intensity[inside], labels[inside]
    return two_theta, intensity, labels


def _draw_peaks(
    ax: Axes,
    peaks: Any,
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    label_strongest: int,
    wavelength: float | None,
) -> None:
    positions, intensity, labels = _peak_positions(peaks, wavelength)
    inside = (positions >= x[0]) & (positions <= x[-1])
    positions, intensity, labels = positions[inside], intensity[inside], labels[inside]
    low, high = float(y.min()), float(y.max())
    span = high - low if high > low else 1.0
    tick_bottom, tick_top = low - _TICK_BAND[0] * span, low - _TICK_BAND[1] * span
    ax.vlines(positions, tick_bottom, tick_top, colors="C3", linewidth=0.8)
    ax.set_ylim(tick_bottom - 0.03 * span, high + _LABEL_HEADROOM * span)
    if label_strongest == 0 or positions.size == 0:
        return

    # Label boxes in data units, from the axes size in points (before layout: close enough to avoid overlaps).
    figure_width, figure_height = ax.figure.get_size_inches()
    box = ax.get_position()
    x_per_point = (x[-1] - x[0] if x[-1] > x[0] else 1.0) / max(box.width * figure_width * 72.0, 1.0)
    y_low, y_high = ax.get_ylim()
    y_per_point = (y_high - y_low) / max(box.height * figure_height * 72.0, 1.0)
    line_height = 1.25 * _LABEL_FONTSIZE
    window = max(_LABEL_WINDOW_DEG, 2.0 * float(np.median(np.diff(x))) if x.size > 1 else 0.0)
    placed: list[tuple[float, float, float, float]] = []  # x0, x1, y0, y1 of the labels drawn
    for k in np.argsort(-intensity, kind="stable")[:label_strongest]:
        centre = float(positions[k])
        near = y[np.abs(x - centre) <= window]
        height = float(near.max()) if near.size else float(np.interp(centre, x, y))
        text = str(labels[k])
        half_width = 0.5 * 0.6 * _LABEL_FONTSIZE * len(text) * x_per_point
        for level in range(_LABEL_LEVELS):
            offset = 2.0 + level * line_height
            candidate = (
                centre - half_width,
                centre + half_width,
                height + offset * y_per_point,
                height + (offset + line_height) * y_per_point,
            )
            if not any(_overlap(candidate, other) for other in placed):
                placed.append(candidate)
                ax.annotate(
                    text,
                    xy=(centre, height),
                    xytext=(0.0, offset),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=_LABEL_FONTSIZE,
                )
                break


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def prediction(prediction: Any, *, ax: Axes | None = None) -> Axes:
    """Bar chart of a classifier's top-k space groups, best at the top, coloured by crystal system.

    Args:
        prediction: an ``xrdsynth.models.Prediction`` or any object with the same fields:
            ``space_group`` (tuple of k ints 1..230, best first), ``symbol`` (k Hermann–Mauguin symbols),
            ``crystal_system`` (k names), ``probability`` (k floats in [0, 1]) and
            ``crystal_system_probability`` (dict name -> probability).
        ax: the axes for the space-group bars. None makes a figure with two axes: the bars, and next to them
            the crystal-system probabilities.

    Returns:
        The axes with the space-group bars (the crystal-system axes, when made, is ``ax.figure.axes[1]``).

    Raises:
        TypeError: ``prediction`` lacks one of the fields.
        ValueError: fields of different lengths, no entries, space-group numbers outside 1..230, or
            probabilities that are not finite numbers in [0, 1].
        ImportError: matplotlib is not installed.
    """
    fields = ("space_group", "symbol", "crystal_system", "probability", "crystal_system_probability")
    missing = [name for name in fields if not hasattr(prediction, name)]
    if missing:
        raise TypeError(f"prediction lacks the field(s) {', '.join(missing)}")
    groups = [int(g) for g in prediction.space_group]
    symbols = [str(s) for s in prediction.symbol]
    systems = [str(s) for s in prediction.crystal_system]
    probabilities = _probabilities(prediction.probability, "probability")
    k = len(groups)
    if k == 0:
        raise ValueError("prediction has no entries")
    if not len(symbols) == len(systems) == probabilities.shape[0] == k:
        raise ValueError(
            f"prediction fields differ in length: space_group {k}, symbol {len(symbols)}, crystal_system "
            f"{len(systems)}, probability {probabilities.shape[0]}"
        )
    if not all(is_space_group_number(g) for g in groups):
        raise ValueError(f"space-group numbers must be in 1..{NUM_SPACE_GROUPS}, got {groups}")
    by_system = dict(prediction.crystal_system_probability)
    system_names = list(_SYSTEM_COLOURS) + sorted(set(by_system) - set(_SYSTEM_COLOURS))
    system_values = _probabilities(
        [by_system.get(name, 0.0) for name in system_names], "crystal_system_probability"
    )

    plt = _pyplot()
    side = None
    if ax is None:
        _, (ax, side) = plt.subplots(
            1, 2, figsize=(8.0, 1.6 + 0.32 * max(k, 7)), width_ratios=(3, 2), layout="constrained"
        )
    rows = np.arange(k)
    colours = [_SYSTEM_COLOURS.get(system, "tab:cyan") for system in systems]
    ax.barh(rows, probabilities, color=colours)
    ax.set_yticks(rows, labels=[f"{g}  {s}" for g, s in zip(groups, symbols, strict=True)])
    ax.invert_yaxis()  # best first, at the top
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("probability")
    ax.set_title(f"top {k} space groups", fontsize=10)
    for row, p in zip(rows, probabilities, strict=True):
        ax.text(min(p + 0.01, 0.9), row, f"{p:.2f}", va="center", fontsize=8)
    if side is not None:
        side_rows = np.arange(len(system_names))
        side.barh(side_rows, system_values, color=[_SYSTEM_COLOURS.get(n, "tab:cyan") for n in system_names])
        side.set_yticks(side_rows, labels=system_names)
        side.invert_yaxis()
        side.set_xlim(0.0, 1.0)
        side.set_xlabel("probability")
        side.set_title("crystal system", fontsize=10)
    return ax


def _probabilities(values: Any, name: str) -> npt.NDArray[np.float64]:
    try:
        array = np.array([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold numbers") from None
    if not np.all(np.isfinite(array)) or np.any(array < 0) or np.any(array > 1):
        raise ValueError(f"{name} must be finite and in [0, 1], got {array.tolist()}")
    return array
