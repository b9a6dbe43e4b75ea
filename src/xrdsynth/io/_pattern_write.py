"""Writing patterns as column text: measured ones (:func:`write_pattern`, exact numbers, radiation header) and
simulated ones (:func:`write_xy`, fixed decimals under your header lines).

The header is written so that :func:`xrdsynth.io.read_pattern` reads the file back to the same pattern: the
wavelength line first, in the words the text reader knows; metadata lines that the reader would mistake for
a wavelength, a ratio or another axis are left out; numbers are written with ``repr`` so that they read
back exactly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TextIO

import numpy as np
import numpy.typing as npt

from ._pattern_base import MeasuredPattern
from ._pattern_text import header_radiation, x_axis

# Metadata written first, in this order; the rest follows sorted. Multi-line values are not written.
_FIRST_KEYS = ("sample", "anode", "date", "scan_type", "counting_time_s", "x_axis", "ranges", "range")
_LEFT_OUT = ("header", "comment")


def _radiation_line(pattern: MeasuredPattern) -> str:
    if pattern.wavelength is None:
        return "wavelength: not stated in the source file"
    if pattern.wavelength2 is None:
        probe = pattern.metadata.get("probe", "").lower()
        one = "one wavelength" if probe and "x" not in probe else "Kα1 only"  # neutrons: no Kα lines
        return f"wavelength = {pattern.wavelength!r} Å ({one})"
    ratio = "" if pattern.ratio is None else f", ratio Kα2/Kα1 = {pattern.ratio!r}"
    return f"wavelength = {pattern.wavelength!r} Å, Kα2 = {pattern.wavelength2!r} Å{ratio}"


def _safe(line: str) -> bool:
    """Whether a metadata line says nothing the reader would take for radiation or an x axis."""
    return (
        not header_radiation([line]) and x_axis([line], None).kind == "2theta" and "ratio" not in line.lower()
    )


def pattern_text(pattern: MeasuredPattern, header: Sequence[str] = ()) -> str:
    """The text :func:`write_pattern` writes."""
    lines = [f"# {line}" for line in header]
    lines.append(f"# {_radiation_line(pattern)}")
    if pattern.source:
        lines.append(f"# source: {pattern.source} (read as {pattern.format or 'unknown'})")
    keys = [k for k in _FIRST_KEYS if k in pattern.metadata]
    keys += sorted(k for k in pattern.metadata if k not in _FIRST_KEYS and k not in _LEFT_OUT)
    for key in keys:
        value = pattern.metadata[key]
        if "\n" in value or "\r" in value or not value.strip():
            continue
        line = f"{key}: {value}"
        if _safe(line):
            lines.append(f"# {line}")
    columns = "2theta_deg intensity" + (" sigma" if pattern.sigma is not None else "")
    lines.append(f"# {columns}")
    if pattern.sigma is None:
        body = (
            f"{x!r} {y!r}"
            for x, y in zip(pattern.two_theta.tolist(), pattern.intensity.tolist(), strict=True)
        )
    else:
        body = (
            f"{x!r} {y!r} {s!r}"
            for x, y, s in zip(
                pattern.two_theta.tolist(), pattern.intensity.tolist(), pattern.sigma.tolist(), strict=True
            )
        )
    return "\n".join(lines) + "\n" + "\n".join(body) + "\n"


def write_pattern(
    pattern: MeasuredPattern, path: str | os.PathLike[str] | TextIO, header: Sequence[str] = ()
) -> None:
    """Write ``pattern`` as text: ``2θ intensity [σ]`` per line under a ``#`` header of its settings.

    The header holds ``header`` (your lines, first), the wavelength (Kα1, Kα2 and their ratio when the
    pattern has them, in words :func:`read_pattern` reads back), the source file and reader, the metadata
    (one line each, ``key: value``), and the column names; numbers are written exactly (``repr``), so
    ``read_pattern`` gives back the same 2θ, intensities, σ and wavelengths. Use a ``.xye`` suffix when the
    pattern has σ.

    Args:
        pattern: the pattern.
        path: a file path (written as UTF-8, parents must exist) or an open text stream (e.g. sys.stdout).
        header: extra header lines (without the ``#``), written first.
    """
    text = pattern_text(pattern, header)
    if hasattr(path, "write"):
        path.write(text)  # type: ignore[union-attr]
        return
    with open(os.fspath(path), "w", encoding="utf-8") as handle:  # type: ignore[arg-type]
        handle.write(text)


def xy_text(two_theta: npt.ArrayLike, intensity: npt.ArrayLike, header: Sequence[str] = ()) -> str:
    """The text :func:`write_xy` writes."""
    lines = [f"# {line}" for line in header]
    body = np.column_stack([np.asarray(two_theta, dtype=np.float64), np.asarray(intensity, dtype=np.float64)])
    return "\n".join(lines) + "\n" + "".join(f"{x:.6f} {y:.8g}\n" for x, y in body)


def write_xy(
    two_theta: npt.ArrayLike,
    intensity: npt.ArrayLike,
    path: str | os.PathLike[str] | TextIO,
    header: Sequence[str] = (),
) -> None:
    """Write a simulated pattern as ``.xy`` text: ``2θ intensity`` per line (2θ with 6 decimals, intensity
    with 8 significant digits) under ``#`` header lines; :func:`read_pattern` reads it back (a wavelength is
    read from the header when a line states it, e.g. ``wavelength = 1.540593 Å``).

    Args:
        two_theta: (P,) degrees.
        intensity: (P,) intensities.
        path: a file path (UTF-8, parents must exist) or an open text stream (e.g. sys.stdout).
        header: header lines, without the ``#``.
    """
    text = xy_text(two_theta, intensity, header)
    if hasattr(path, "write"):
        path.write(text)  # type: ignore[union-attr]
        return
    with open(os.fspath(path), "w", encoding="utf-8") as handle:  # type: ignore[arg-type]
        handle.write(text)
