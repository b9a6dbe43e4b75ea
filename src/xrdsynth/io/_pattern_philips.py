"""Philips PC-APD binary scans (magic ``V3RD``, usually .rd; ``V5RD``, usually .sd): one 2θ range.

Philips (now Malvern Panalytical) gave its layout to the xylib project, whose reader follows it; Profex and
PyXRD have independent readers. All numbers are little-endian:

======  ===================================================================================================
offset  content
======  ===================================================================================================
0       magic ``V3RD`` or ``V5RD``
84      diffractometer type, anode material, focus type: one byte each (codes in ``_DIFFRACTOMETERS``, ...)
94      Kα1 and Kα2 wavelengths (Å) and the Kα2/Kα1 ratio, 3 float64 (PyXRD; xylib does not read them)
138     file name, 8 characters; 146: sample identification, 20 characters
214     2θ step, start and end, 3 float64, degrees
250     (V3) or 810 (V5): the counts, one uint16 per point, each 10 √counts (the count is v² / 100)
======  ===================================================================================================

The intensities are stored as 10 √counts (xylib, after the vendor's description, and Profex; PyXRD reads
the stored numbers as counts). The one public file (PyXRD's test scan, a V3 file of a clay from 3 to 15° in
0.02° steps) agrees: the point-to-point variance of its stored numbers is about 25 at every level from 100
down to 55, as the square root of Poisson counts gives (100 x 1/4), not proportional to the level, as counts
would.

The points are start, start + step, ..., end: (end - start) / step + 1 numbers (xylib, Profex). That file
holds one number fewer. This reader reads such a file from the start as far as its numbers go, as Profex
does, and says so in ``metadata["note"]`` (xylib would fail at the end of the file; PyXRD places the numbers
at the step centres, start + (i + 1/2) step). A file of any other length is refused with the numbers, as are
a step, start or end that make no scan.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._pattern_base import PatternFileError, Ranges, build, radiation
from ._pattern_bruker_raw import _Bytes, _fmt

MAGICS = (b"V3RD", b"V5RD")
_DATA_START = {"V3": 250, "V5": 810}
_TYPES, _WAVELENGTHS, _FILE_NAME, _SAMPLE, _SCAN = 84, 94, 138, 146, 214
_DIFFRACTOMETERS = (
    "PW1800", "PW1710 based system", "PW1840", "PW3710 based system", "undefined", "X'Pert MPD"
)  # fmt: skip
_ANODES = ("Cu", "Mo", "Fe", "Cr", "other")
_FOCUS = ("BF", "NF", "FF", "LFF")


def is_philips_rd(data: bytes) -> bool:
    """Whether the bytes start like a Philips PC-APD scan (``V3RD`` or ``V5RD``)."""
    return data.startswith(MAGICS)


def _code(table: tuple[str, ...], value: int) -> str:
    return table[value] if value < len(table) else f"code {value}"


def read_philips_rd(source: str, data: bytes, format: str) -> Ranges:
    """The one 2θ range of a Philips PC-APD .rd/.sd file (see the module's docstring for the layout)."""
    del format
    if not is_philips_rd(data):
        raise PatternFileError(f"{source}: not a Philips PC-APD scan (starts with {data[:4]!r})")
    version = data[:2].decode("ascii")
    first = _DATA_START[version]
    raw = _Bytes(source, data, f"Philips {version}RD")
    step, start, end = (raw.f64(_SCAN + 8 * i) for i in range(3))
    if not all(math.isfinite(v) for v in (step, start, end)) or step <= 0 or not 0 <= start < end <= 180:
        raise PatternFileError(
            f"{source}: Philips {version}RD scan: 2θ step {step:g}, start {start:g}, end {end:g}: not a scan"
        )
    steps = (end - start) / step
    if abs(steps - round(steps)) > 1e-6 * max(1.0, steps):
        raise PatternFileError(
            f"{source}: Philips {version}RD scan: 2θ from {start:g} to {end:g} is not a whole number of "
            f"steps of {step:g} ({steps:.6g})"
        )
    steps = round(steps)
    if len(data) < first:
        raise PatternFileError(
            f"{source}: truncated Philips {version}RD file: its counts start at offset {first}, the file has "
            f"{len(data)} bytes"
        )
    held = (len(data) - first) / 2
    note = ""
    if held == steps:
        note = (
            f"the file holds {steps} counts for the {steps + 1} points from {start:g} to {end:g}°: read from "
            "the start"
        )
    elif held != steps + 1:
        raise PatternFileError(
            f"{source}: Philips {version}RD scan of {steps} steps of {step:g}° ({start:g}-{end:g}°) needs "
            f"{2 * steps} or {2 * steps + 2} bytes of counts from offset {first}, the file has "
            f"{len(data) - first}: a layout this reader does not know, not read"
        )
    two_theta = start + step * np.arange(int(held), dtype=np.float64)
    # Stored as 10 √counts (see the module docstring): the count is the square over 100.
    packed = np.frombuffer(data, dtype="<u2", count=two_theta.size, offset=first).astype(np.float64)
    metadata = {
        "philips_version": f"{version}RD",
        "diffractometer": _code(_DIFFRACTOMETERS, data[_TYPES]),
        "anode": _code(_ANODES, data[_TYPES + 1]),
        "focus": _code(_FOCUS, data[_TYPES + 2]),
        "file_name": raw.text(_FILE_NAME, 8),
        "sample": raw.text(_SAMPLE, 20),
        "step": _fmt(step),
        "note": note,
    }
    ka1, ka2, ratio = (raw.f64(_WAVELENGTHS + 8 * i) for i in range(3))
    fields: dict[str, Any] = radiation(ka1, ka2, ratio)

    def where(i: int) -> str:
        return f"point {i + 1} (offset {first + 2 * i})"

    fields.update(two_theta=two_theta, intensity=packed**2 / 100.0, format="philips_rd", metadata=metadata)
    return [build(source, where, **fields)]
