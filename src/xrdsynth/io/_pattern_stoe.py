"""STOE WinXPOW RAW files (magic ``RAW_1.06Powdat``): one 2θ range of uint32 counts.

STOE publishes no specification. The layout read here is the one two independent public readers agree on
(the xrdpattern project's STOE parser and the Chemotion converter's ``stoe_raw.py``), and every file is
checked against itself before anything is returned, so that a variant this reader does not know is refused
with the disagreement instead of being read wrong. All numbers are little-endian; the file is made of
512-byte blocks:

===============  ===========================================================================================
offset           content
===============  ===========================================================================================
0x000            magic ``RAW_1.06Powdat``
0x010            date of the measurement, ASCII ("22-Sep-20 17:18")
0x020-0x12F      NUL-separated strings (sample, title, comments)
0x142            Kα1 and Kα2 wavelengths, 2 float32, Å
0x1D2            number of points + 1, uint16
0x1DA, 0x1DC     length of the counts and of the file in blocks, uint16 each
0x600            operator, ASCII
D - 0x200        the range header (D = (file blocks - count blocks) x 512): start and end time, ASCII
D - 0x1DE        number of points, uint16
D - 0x1D4        2θ start, θ start, 2θ end, θ end, 2θ step, θ step: 6 float32, degrees
D - 0x188        smallest and largest count, 2 uint32
D                the counts, one uint32 per point
===============  ===========================================================================================

The checks: the block counts describe the file (it is at least that long, the counts fit their blocks and
fill the last one), the two point counts agree, 2θ start + (n - 1) x step is the stated end, and the
smallest and largest count are the ones stated. Files of several ranges are not known publicly; one whose
counters do not describe a single range fails these checks and is refused.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._pattern_base import PatternFileError, Ranges, build, radiation
from ._pattern_bruker_raw import _Bytes, _fmt

MAGIC = b"RAW_1"
_BLOCK = 512
_KNOWN = b"RAW_1.06Powdat"
# Offsets in the file header.
_DATE, _STRINGS, _STRINGS_END, _WAVELENGTHS = 0x010, 0x020, 0x130, 0x142
_POINTS_PLUS_ONE, _COUNT_BLOCKS, _FILE_BLOCKS, _OPERATOR = 0x1D2, 0x1DA, 0x1DC, 0x600
# Offsets before the first count (the range header is the block in front of the counts).
_START_TIME, _END_TIME, _POINTS, _SCAN, _EXTREMES = 0x200, 0x1F0, 0x1DE, 0x1D4, 0x188


def is_stoe_raw(data: bytes) -> bool:
    """Whether the bytes start like a STOE RAW file (``RAW_1``, as ``RAW_1.06Powdat``)."""
    return data.startswith(MAGIC)


def read_stoe_raw(source: str, data: bytes, format: str) -> Ranges:
    """The one 2θ range of a STOE RAW file (see the module's docstring for the layout and the checks)."""
    del format
    if not is_stoe_raw(data):
        raise PatternFileError(f"{source}: not a STOE RAW file (starts with {data[:14]!r})")
    magic = data[:14].split(b"\x00", 1)[0].decode("latin-1")
    if not data.startswith(_KNOWN):
        raise PatternFileError(
            f"{source}: a STOE RAW file of an unknown version ({magic!r}; {_KNOWN.decode()} is read): export "
            "the pattern as .xy from WinXPOW"
        )
    raw = _Bytes(source, data, "STOE RAW")
    file_blocks, count_blocks = raw.u16(_FILE_BLOCKS), raw.u16(_COUNT_BLOCKS)
    # The range header (the block in front of the counts) comes after the file header's last field.
    header_blocks = math.ceil((_OPERATOR + 32 + _START_TIME) / _BLOCK)
    if count_blocks == 0 or file_blocks - count_blocks < header_blocks or file_blocks * _BLOCK > len(data):
        raise PatternFileError(
            f"{source}: STOE RAW header states a file of {file_blocks} blocks with {count_blocks} blocks of "
            f"counts, the file has {len(data)} bytes ({len(data) / _BLOCK:g} blocks of {_BLOCK}): a layout "
            "this reader does not know, not read"
        )
    first = (file_blocks - count_blocks) * _BLOCK  # offset of the first count
    points = raw.u16(first - _POINTS)
    stated = raw.u16(_POINTS_PLUS_ONE) - 1
    if points < 2 or points != stated or math.ceil(4 * points / _BLOCK) != count_blocks:
        raise PatternFileError(
            f"{source}: STOE RAW range header (offset {first - _START_TIME}) states {points} points, the "
            f"file header {stated}, and {count_blocks} blocks of counts hold "
            f"{count_blocks * _BLOCK // 4 - _BLOCK // 4 + 1}-{count_blocks * _BLOCK // 4}: a layout this "
            "reader does not know, not read"
        )
    start, theta_start, end, _, step = (raw.f32(first - _SCAN + 4 * i) for i in range(5))
    if not all(math.isfinite(v) for v in (start, end, step)) or step <= 0:
        raise PatternFileError(f"{source}: STOE RAW range: 2θ start {start}, end {end}, step {step} unusable")
    if abs(start + (points - 1) * step - end) > 1e-3 * step + 1e-5 * abs(end):
        raise PatternFileError(
            f"{source}: STOE RAW range: 2θ from {start:g} in {points} steps of {step:g} ends at "
            f"{start + (points - 1) * step:.6g}, not at the stated {end:g}: a layout this reader does not "
            "know, not read"
        )
    counts = np.frombuffer(data, dtype="<u4", count=points, offset=first).astype(np.float64)
    low, high = raw.u32(first - _EXTREMES), raw.u32(first - _EXTREMES + 4)
    if high and (counts.min() != low or counts.max() != high):
        raise PatternFileError(
            f"{source}: STOE RAW counts range from {counts.min():g} to {counts.max():g}, the range header "
            f"states {low} to {high}: a layout this reader does not know, not read"
        )
    strings = [s.decode("latin-1").strip() for s in data[_STRINGS:_STRINGS_END].split(b"\x00")]
    strings = [s for s in strings if s]
    metadata = {
        "stoe_version": magic,
        "date": raw.text(_DATE, 16),
        "title": " | ".join(strings),
        "operator": raw.text(_OPERATOR, 32),
        "scan_start": raw.text(first - _START_TIME, 16),
        "scan_end": raw.text(first - _END_TIME, 16),
        "theta_start": _fmt(theta_start),
    }
    fields: dict[str, Any] = radiation(raw.f32(_WAVELENGTHS), raw.f32(_WAVELENGTHS + 4))

    def where(i: int) -> str:
        return f"point {i + 1} (offset {first + 4 * i})"

    two_theta = start + step * np.arange(points, dtype=np.float64)
    fields.update(two_theta=two_theta, intensity=counts, format="stoe_raw", metadata=metadata)
    return [build(source, where, **fields)]
