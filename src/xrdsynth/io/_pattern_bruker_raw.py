"""Bruker (Siemens) DIFFRAC RAW files: versions 1 (``RAW ``), 2 (``RAW2``), 3 (``RAW1.01``), 4 (``RAW4.00``).

The layouts are those documented by the open readers (xylib's ``bruker_raw.cpp``, after DIFFRAC-plus XCH
5.0 appendix A, and GSAS-II's ``G2pwd_BrukerRAW.py``), not by a Bruker specification; the offsets read are
listed in :func:`xrdsynth.io.read_pattern`. All numbers are little-endian. Every read is bounds-checked
against the file, so a truncated or corrupted file is a :class:`PatternFileError`, never a crash or a huge
allocation.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from ._pattern_base import MeasuredPattern, PatternFileError, Ranges, build, is_two_theta_axis, radiation

MAGICS = {b"RAW4.00": "4", b"RAW1.01": "3", b"RAW2": "2", b"RAW ": "1"}
# A file claiming more ranges than this is corrupt (real files hold a handful).
_MAX_RANGES = 4096
_V4_FILE_HEADER = 61
_V4_RANGE_HEADER = 160
_V4_RANGE_TYPES = (0, 160)
_V4_VARIABLE, _V4_SOURCE = 10, 30
_V4_TWO_THETA_SCANS = ("locked coupled", "unlocked coupled", "detector scan")
_V3_FILE_HEADER = 712
_V3_RANGE_HEADER = 304
_V2_FIRST_RANGE = 256
_V1_RANGE_HEADER = 152
# Bruker writes -1e6 for "unknown" in the float fields of the oldest layout.
_UNKNOWN = -1.0e6


def version(data: bytes) -> str | None:
    """ "1".."4" for a Bruker RAW file's magic, else None."""
    return next((v for magic, v in MAGICS.items() if data.startswith(magic)), None)


def _decimal_of_float32(value: float | np.float32) -> float:
    """The shortest decimal that rounds to the same float32 (NaN and infinities as they are)."""
    return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))


class _Bytes:
    """Little-endian reads at absolute offsets, with errors that name the file, the version and the offset."""

    def __init__(self, source: str, data: bytes, name: str) -> None:
        self.source, self.data, self.name = source, data, name

    def _unpack(self, fmt: str, offset: int) -> Any:
        size = struct.calcsize(fmt)
        if offset < 0 or offset + size > len(self.data):
            raise PatternFileError(
                f"{self.source}: truncated {self.name} file: needs {size} bytes at offset {offset}, the file "
                f"has {len(self.data)}"
            )
        return struct.unpack_from(fmt, self.data, offset)[0]

    def u16(self, offset: int) -> int:
        return int(self._unpack("<H", offset))

    def u32(self, offset: int) -> int:
        return int(self._unpack("<I", offset))

    def f32(self, offset: int) -> float:
        """A float32 header value as the shortest decimal that is the same float32: what the software
        wrote (1.5406 Å, a step of 0.02°), not its binary neighbour 1.5405999422073364."""
        return _decimal_of_float32(self._unpack("<f", offset))

    def f64(self, offset: int) -> float:
        """A float64 header value; one that is exactly a float32 (a float32 the software widened, as RAW4's
        1.5405999422073364 Å) as that float32's decimal."""
        value = float(self._unpack("<d", offset))
        with np.errstate(over="ignore"):
            narrowed = np.float32(value)
        return _decimal_of_float32(narrowed) if float(narrowed) == value else value

    def text(self, offset: int, size: int) -> str:
        if offset < 0 or offset + size > len(self.data):
            raise PatternFileError(f"{self.source}: truncated {self.name} file at offset {offset}")
        return self.data[offset : offset + size].split(b"\x00", 1)[0].decode("latin-1").strip()

    def counts(self, offset: int, steps: int, datum: int = 4) -> npt.NDArray[np.float64]:
        """``steps`` float32 counts from ``offset``, one every ``datum`` bytes (the count first)."""
        end = offset + steps * datum
        if offset < 0 or end > len(self.data):
            raise PatternFileError(
                f"{self.source}: truncated {self.name} file: {steps} steps of {datum} bytes from offset "
                f"{offset} need {end} bytes, the file has {len(self.data)}"
            )
        # A corrupt count may be a signalling NaN, whose cast warns; build() refuses non-finite counts.
        with np.errstate(invalid="ignore"):
            return self._counts(offset, steps, datum)

    def _counts(self, offset: int, steps: int, datum: int) -> npt.NDArray[np.float64]:
        if datum == 4:
            return np.frombuffer(self.data, dtype="<f4", count=steps, offset=offset).astype(np.float64)
        if datum == 8:
            # Seen: a float32 count then a uint32 (1). A float64 count would give sane doubles instead of
            # the denormals that (float32, small uint32) pairs make; read it as such if so.
            doubles = np.frombuffer(self.data, dtype="<f8", count=steps, offset=offset)
            magnitude = np.abs(doubles[doubles != 0])
            if doubles.size and np.all(np.isfinite(doubles)) and magnitude.size and magnitude.min() > 1e-30:
                return doubles.astype(np.float64)
        words = np.frombuffer(self.data, dtype="<f4", count=steps * (datum // 4), offset=offset)
        return words.reshape(steps, datum // 4)[:, 0].astype(np.float64)


def _fmt(value: float) -> str:
    return f"{value:g}" if math.isfinite(value) and value != _UNKNOWN else ""


def _range_pattern(
    source: str,
    label: str,
    start: float,
    step: float,
    intensity: npt.NDArray[np.float64],
    data_offset: int,
    datum: int,
    metadata: dict[str, str],
    fields: dict[str, float],
) -> MeasuredPattern:
    if not (math.isfinite(start) and math.isfinite(step)) or step == 0:
        raise PatternFileError(f"{source}: {label}: start {start} and step {step} are unusable")

    def where(i: int) -> str:
        return f"{label}, step {i + 1} (offset {data_offset + datum * i})"

    return build(
        source,
        where,
        two_theta=start + step * np.arange(intensity.shape[0], dtype=np.float64),
        intensity=intensity,
        format="raw",
        metadata=metadata,
        **fields,
    )


def _collect(ranges: Ranges, make: Callable[..., MeasuredPattern], *args: Any) -> None:
    """Append ``make(*args)``, or the error that says why this range is not a pattern."""
    try:
        ranges.append(make(*args))
    except PatternFileError as error:
        ranges.append(error)


# ---------------------------------------------------------------------------------------------------------


def read_raw(source: str, data: bytes, format: str) -> Ranges:
    """Every range of a Bruker RAW file (any version), in file order."""
    found = version(data)
    if found is None:
        raise PatternFileError(f"{source}: not a Bruker RAW file (starts with {data[:7]!r})")
    reader = {"1": _read_v1, "2": _read_v2, "3": _read_v3, "4": _read_v4}[found]
    return reader(source, data)


def _read_v1(source: str, data: bytes) -> Ranges:
    """Version 1: per range a 152-byte header (after the ``RAW `` magic, repeated or not), float32 counts."""
    raw = _Bytes(source, data, "Bruker RAW v1")
    ranges: Ranges = []
    offset = 4
    while True:
        if len(ranges) >= _MAX_RANGES:
            raise PatternFileError(f"{source}: more than {_MAX_RANGES} ranges: a corrupt Bruker RAW v1 file")
        if ranges and data[offset : offset + 4] == b"RAW ":
            offset += 4  # later writers repeat the magic before each range
        steps, following = raw.u32(offset), raw.u32(offset + 148)
        start, step = raw.f32(offset + 20), raw.f32(offset + 8)
        label = f"range {len(ranges) + 1} (offset {offset})"
        data_offset = offset + _V1_RANGE_HEADER
        counts = raw.counts(data_offset, steps)
        metadata = {
            "raw_version": "1",
            "sample": raw.text(offset + 36, 32),
            "time_per_step": _fmt(raw.f32(offset + 4)),
            "scan_mode": str(raw.u32(offset + 12)),
            "theta_start": _fmt(raw.f32(offset + 24)),
        }
        fields = radiation(raw.f32(offset + 68), raw.f32(offset + 72))
        _collect(ranges, _range_pattern, source, label, start, step, counts, data_offset, 4, metadata, fields)
        offset = data_offset + 4 * steps
        if following == 0 or offset >= len(data):
            break
    return ranges


def _read_v2(source: str, data: bytes) -> Ranges:
    """Version 2: a 256-byte file header, then per range a header of its stated length and float32 counts."""
    raw = _Bytes(source, data, "Bruker RAW v2")
    count = raw.u16(4)
    if count == 0 or count > _MAX_RANGES:
        raise PatternFileError(f"{source}: Bruker RAW v2 file states {count} ranges")
    file_metadata = {
        "raw_version": "2",
        "title": " ".join(raw.text(8, 160).split()),
        "date": raw.text(168, 20),
        "anode": raw.text(188, 2),
    }
    fields = radiation(raw.f32(190), raw.f32(194), raw.f32(198))
    ranges: Ranges = []
    offset = _V2_FIRST_RANGE
    for index in range(1, count + 1):
        header_length, steps = raw.u16(offset), raw.u16(offset + 2)
        label = f"range {index} (offset {offset})"
        if header_length <= 48:
            raise PatternFileError(
                f"{source}: {label}: range header of {header_length} bytes (expected > 48)"
            )
        seconds, step, start = raw.f32(offset + 8), raw.f32(offset + 12), raw.f32(offset + 16)
        data_offset = offset + header_length
        counts = raw.counts(data_offset, steps)
        metadata = {
            **file_metadata,
            "counting_time_s": _fmt(seconds),
            "temperature_K": str(raw.u16(offset + 46)),
        }
        _collect(ranges, _range_pattern, source, label, start, step, counts, data_offset, 4, metadata, fields)
        offset = data_offset + 4 * steps
    return ranges


def _read_v3(source: str, data: bytes) -> Ranges:
    """Version 3 (``RAW1.01``): a 712-byte file header, then per range a 304-byte header, supplementary
    headers of the size it states, and float32 counts."""
    raw = _Bytes(source, data, "Bruker RAW v3 (RAW1.01)")
    count = raw.u32(12)
    if count == 0 or count > _MAX_RANGES:
        raise PatternFileError(f"{source}: Bruker RAW v3 file states {count} ranges")
    status = {1: "done", 2: "active", 3: "aborted", 4: "interrupted"}.get(raw.u32(8), "")
    file_metadata = {
        "raw_version": "3",
        "date": raw.text(16, 10),
        "time": raw.text(26, 10),
        "user": raw.text(36, 72),
        "site": raw.text(108, 218),
        "sample": raw.text(326, 60),
        "comment": raw.text(386, 160),
        "anode": raw.text(608, 4),
        "file_status": status,
    }
    fields = radiation(raw.f64(624), raw.f64(632), raw.f64(648))
    ranges: Ranges = []
    offset = _V3_FILE_HEADER
    for index in range(1, count + 1):
        header_length, steps = raw.u32(offset), raw.u32(offset + 4)
        label = f"range {index} (offset {offset})"
        if header_length != _V3_RANGE_HEADER:
            raise PatternFileError(
                f"{source}: {label}: range header of {header_length} bytes (expected {_V3_RANGE_HEADER})"
            )
        start, step = raw.f64(offset + 16), raw.f64(offset + 176)
        data_offset = offset + header_length + raw.u32(offset + 256)
        counts = raw.counts(data_offset, steps)
        used = raw.f64(offset + 240)
        metadata = {
            **file_metadata,
            "theta_start": _fmt(raw.f64(offset + 8)),
            "time_per_step": _fmt(raw.f32(offset + 192)),
            "tube_kv": str(raw.u32(offset + 224)),
            "tube_ma": str(raw.u32(offset + 228)),
            "used_wavelength": _fmt(used),
        }
        range_fields = fields or radiation(used)
        _collect(
            ranges, _range_pattern, source, label, start, step, counts, data_offset, 4, metadata, range_fields
        )
        offset = data_offset + 4 * steps
    return ranges


def _is_v4_two_theta(scan_type: str) -> bool:
    return scan_type.lower() in _V4_TWO_THETA_SCANS or is_two_theta_axis(scan_type)


def _v4_range(
    source: str,
    label: str,
    scan_type: str,
    start: float,
    step: float,
    counts: npt.NDArray[np.float64],
    data_offset: int,
    datum: int,
    metadata: dict[str, str],
    fields: dict[str, float],
) -> MeasuredPattern:
    if not _is_v4_two_theta(scan_type):
        raise PatternFileError(f"{source}: {label}: scan type {scan_type or '(unnamed)'!r} is not a 2θ scan")
    return _range_pattern(source, label, start, step, counts, data_offset, datum, metadata, fields)


def _read_v4(source: str, data: bytes) -> Ranges:
    """Version 4 (``RAW4.00``): a 61-byte header, metadata segments, then ranges (160-byte header,
    supplementary segments, one datum of the stated size per step)."""
    raw = _Bytes(source, data, "Bruker RAW4")
    metadata = {"raw_version": "4", "date": raw.text(12, 12), "time": raw.text(24, 10)}
    fields: dict[str, float] = {}
    offset = _V4_FILE_HEADER
    while True:  # metadata segments up to the first range
        kind = raw.u32(offset)
        if kind in _V4_RANGE_TYPES:
            break
        length = raw.u32(offset + 4)
        if length < 8:
            raise PatternFileError(f"{source}: segment of type {kind} at offset {offset} has length {length}")
        if kind == _V4_VARIABLE and length >= 36:
            name = raw.text(offset + 12, 24)
            if name:
                metadata[name] = raw.text(offset + 36, length - 36)
        elif kind == _V4_SOURCE and length >= 120:
            fields = radiation(raw.f64(offset + 80), raw.f64(offset + 88), raw.f64(offset + 104))
            metadata["anode"] = raw.text(offset + 116, 4)
        offset += length
    if "SAMPLEID" in metadata and "sample" not in metadata:
        metadata["sample"] = metadata["SAMPLEID"]

    ranges: Ranges = []
    while offset < len(data):
        if len(ranges) >= _MAX_RANGES:
            raise PatternFileError(f"{source}: more than {_MAX_RANGES} ranges: a corrupt Bruker RAW4 file")
        kind = raw.u32(offset)
        if kind not in _V4_RANGE_TYPES:
            raise PatternFileError(f"{source}: expected a range header (type 0 or 160) at offset {offset}")
        steps, datum = raw.u32(offset + 88), raw.u32(offset + 136)
        data_offset = offset + _V4_RANGE_HEADER + raw.u32(offset + 140)
        label = f"range {len(ranges) + 1} (offset {offset})"
        if datum not in (4, 8):
            raise PatternFileError(
                f"{source}: {label}: {datum}-byte data, expected 4 or 8 (a float32 count first)"
            )
        counts = raw.counts(data_offset, steps, datum)
        scan_type = raw.text(offset + 32, 24)
        start, step = raw.f64(offset + 72), raw.f64(offset + 80)
        used = raw.f64(offset + 112)
        range_metadata = {
            **metadata,
            "scan_type": scan_type,
            "time_per_step": _fmt(raw.f32(offset + 92)),
            "tube_kv": _fmt(raw.f32(offset + 100)),
            "tube_ma": _fmt(raw.f32(offset + 104)),
            "used_wavelength": _fmt(used),
            "datum_bytes": str(datum),
        }
        range_fields = fields or radiation(used)

        _collect(
            ranges,
            _v4_range,
            source,
            label,
            scan_type,
            start,
            step,
            counts,
            data_offset,
            datum,
            range_metadata,
            range_fields,
        )
        offset = data_offset + datum * steps
    if not ranges:
        raise PatternFileError(f"{source}: no range (scan) in the Bruker RAW4 file")
    return ranges
