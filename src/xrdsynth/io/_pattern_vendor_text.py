"""Instrument text formats: Bruker/Siemens UXD, Rigaku .ras, .asc and the older text-like .RAW, Sietronics
.cpi, Philips .udf, ILL D1B numors (GSAS is in ``_pattern_gsas``).

Layouts as the open readers and the formats' own documentation describe them (GSAS manual; xylib's
``uxd.cpp``; the header keys Rigaku software writes, as read by GSAS-II and refl1d); the rules are written in
:func:`xrdsynth.io.read_pattern`. Each function returns one entry per range (bank, block, scan) of the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ._pattern_base import (
    MeasuredPattern,
    PatternFileError,
    Ranges,
    build,
    header_number,
    is_two_theta_axis,
    parse_floats,
    positive_float,
    radiation,
)
from ._pattern_text import is_number

# ---------------------------------------------------------------------------------------------------------
# Bruker/Siemens UXD

_UXD_NOT_TWO_THETA = ("THETA", "OMEGA", "PHI", "CHI", "PSI", "X", "Y", "Z", "ROCKING", "KHI")


def is_uxd(lines: list[str]) -> bool:
    """The first line that is not blank or a ';' comment is ``_FILEVERSION=...`` or another ``_KEY=``."""
    for line in lines[:200]:
        stripped = line.strip()
        if not stripped or stripped.startswith(";"):
            continue
        return stripped.upper().startswith("_FILEVERSION") or bool(re.match(r"_[A-Z0-9]+\s*=", stripped))
    return False


def _uxd_value(text: str) -> str:
    return text.strip().strip("'\"").strip()


@dataclass
class _UxdBlock:
    """One UXD range as it is read: its keys, then its data."""

    line: int
    keys: dict[str, str] = field(default_factory=dict)
    data: str = ""  # "counts" or "pairs" once a data keyword is seen
    unit: str = ""
    values: list[float] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    ended: bool = False  # a key after the data: no more data may follow


def read_uxd(source: str, text: str) -> Ranges:
    """Blocks: ``_DRIVE=`` starts one, ``_KEY=value`` lines set it up, ``_COUNTS``/``_CPS`` (counts from
    ``_START`` in steps of ``_STEPSIZE``), ``_2THETACOUNTS``/``_2THETACPS`` (angle, count pairs) or
    ``_2THETACOUNTSTIME`` (angle, count, counting time) precede its data. Keys before the first block hold
    for the file (``_WL1``, ``_WL2``, ``_WLRATIO``, ``_ANODE``)."""
    file_keys: dict[str, str] = {}
    blocks: list[_UxdBlock] = []
    current: _UxdBlock | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        upper = line.upper()
        if upper.startswith("_DRIVE"):
            current = _UxdBlock(number, {"DRIVE": _uxd_value(line.partition("=")[2])})
            blocks.append(current)
        elif upper.startswith(("_COUNT", "_CPS", "_2THETACOUNTS", "_2THETACPS")) and "=" not in line:
            if current is None:  # data without _DRIVE: one block with the file's keys
                current = _UxdBlock(number)
                blocks.append(current)
            if upper.startswith("_2THETA"):
                current.data = "triples" if upper.rstrip().endswith("TIME") else "pairs"
            else:
                current.data = "counts"
            current.unit = "cps" if "CPS" in upper else "counts"
            current.values, current.numbers = [], []
        elif upper.startswith("_"):
            key, _, value = line[1:].partition("=")
            (file_keys if current is None else current.keys)[key.strip().upper()] = _uxd_value(value)
            if current is not None and current.data:
                current.ended = True
        else:
            if current is None or not current.data or current.ended:
                raise PatternFileError(f"{source}: line {number}: data {line[:40]!r} outside a _COUNTS block")
            for word in re.split(r"[\s,]+", line):
                if word:
                    current.values.extend(parse_floats(source, number, [word]))
                    current.numbers.append(number)
    if not blocks:
        raise PatternFileError(f"{source}: a UXD file without data (no _COUNTS or _2THETACOUNTS block)")
    ranges: Ranges = []
    for index, block in enumerate(blocks, start=1):
        try:
            ranges.append(_uxd_block(source, index, block, file_keys))
        except PatternFileError as error:
            ranges.append(error)
    return ranges


def _uxd_block(source: str, index: int, block: _UxdBlock, file_keys: dict[str, str]) -> MeasuredPattern:
    keys = {**file_keys, **block.keys}
    here = f"block {index} (line {block.line})"
    drive = keys.get("DRIVE", "")
    if drive.upper() in _UXD_NOT_TWO_THETA:
        raise PatternFileError(f"{source}: {here}: drive {drive!r} is not a 2θ scan")
    if not block.data:
        raise PatternFileError(f"{source}: {here}: no _COUNTS data")
    values = np.array(block.values, dtype=np.float64)
    numbers = block.numbers
    unit, note, seconds_per_point = block.unit, "", None
    if block.data == "pairs":
        if values.shape[0] % 2:
            raise PatternFileError(f"{source}: {here}: an odd number of values in angle-count pairs")
        two_theta, intensity = values[0::2], values[1::2]
        numbers = numbers[0::2]
    elif block.data == "triples":
        # _2THETACOUNTSTIME: angle, counts and the counting time of each point (s).
        if values.shape[0] % 3:
            raise PatternFileError(f"{source}: {here}: the values are not angle, count, time triples")
        two_theta, intensity, times = values[0::3], values[1::3], values[2::3]
        numbers = numbers[0::3]
        if np.any(times <= 0) or not np.all(np.isfinite(times)):
            raise PatternFileError(f"{source}: {here}: a counting time that is not positive")
        if np.ptp(times) > 1e-9 * times.max():
            # Points counted for different times (a variable counting time scan): only counts per second
            # are comparable from point to point.
            intensity = intensity / times
            unit = "cps"
            note = f"counts divided by their counting times ({times.min():g}-{times.max():g} s per point)"
        else:
            seconds_per_point = float(times[0])
    else:
        start, step = positive_or_zero(keys.get("START")), positive_float(keys.get("STEPSIZE"))
        if start is None or step is None:
            raise PatternFileError(f"{source}: {here}: _COUNTS data need _START and _STEPSIZE")
        intensity = values
        two_theta = start + step * np.arange(values.shape[0], dtype=np.float64)
        stated = keys.get("STEPCOUNT") or keys.get("STEPS")
        if stated and stated.isdigit() and int(stated) != values.shape[0]:
            raise PatternFileError(f"{source}: {here}: {values.shape[0]} counts, _STEPCOUNT says {stated}")
    ratio = keys.get("WLRATIO")
    fields = radiation(
        positive_float(keys.get("WL1")),
        positive_float(keys.get("WL2")),
        None if ratio is None else header_number(ratio),
    )
    seconds = positive_float(keys.get("STEPTIME")) or seconds_per_point
    metadata = {
        "sample": keys.get("SAMPLE", ""),
        "anode": keys.get("ANODE", ""),
        "date": " ".join(v for v in (keys.get("DATE", ""), keys.get("TIME", "")) if v),
        "scan_type": drive,
        "counting_time_s": "" if seconds is None else f"{seconds:g}",
        "intensity_unit": unit,
        "note": note,
    }

    def where(i: int) -> str:
        return f"line {numbers[min(i, len(numbers) - 1)]}" if numbers else here

    return build(
        source, where, two_theta=two_theta, intensity=intensity, format="uxd", metadata=metadata, **fields
    )


def positive_or_zero(text: str | None) -> float | None:
    value = header_number(text)
    return value if value is not None and value >= 0 else None


# ---------------------------------------------------------------------------------------------------------
# Rigaku .ras

_WAVE_UNIT = {"angstrom": 1.0, "a": 1.0, "å": 1.0, "nm": 10.0}


def is_ras(lines: list[str]) -> bool:
    head = [line.strip() for line in lines[:5] if line.strip()]
    return bool(head) and head[0].upper() in ("*RAS_DATA_START", "*RAS_HEADER_START")


def read_ras(source: str, text: str) -> Ranges:
    """``*RAS_HEADER_START`` … ``*KEY "value"`` … ``*RAS_INT_START`` then ``angle count [factor]`` rows
    (the intensity is count × factor, the attenuator factor) until ``*RAS_INT_END``; one scan each."""
    scans: list[tuple[dict[str, str], list[list[float]], list[int], int]] = []
    header: dict[str, str] = {}
    rows: list[list[float]] | None = None
    numbers: list[int] = []
    start_line = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        upper = line.upper()
        if upper == "*RAS_HEADER_START":
            header, start_line = {}, number
        elif upper == "*RAS_INT_START":
            rows, numbers = [], []
        elif upper == "*RAS_INT_END":
            if rows is None:
                raise PatternFileError(f"{source}: line {number}: *RAS_INT_END without *RAS_INT_START")
            scans.append((header, rows, numbers, start_line))
            rows = None
        elif rows is not None:
            values = parse_floats(source, number, line.split())
            rows.append(values)
            numbers.append(number)
        elif line.startswith("*") and " " in line:
            key, _, value = line[1:].partition(" ")
            header[key.strip().upper()] = value.strip().strip('"')
    if rows is not None:
        raise PatternFileError(
            f"{source}: the data of the last scan end without *RAS_INT_END (truncated file?)"
        )
    if not scans:
        raise PatternFileError(
            f"{source}: a Rigaku .ras file without data (no *RAS_INT_START ... *RAS_INT_END)"
        )
    ranges: Ranges = []
    for index, (keys, data, lines_of, line) in enumerate(scans, start=1):
        try:
            ranges.append(_ras_scan(source, index, line, keys, data, lines_of))
        except PatternFileError as error:
            ranges.append(error)
    return ranges


def _ras_scan(
    source: str, index: int, line: int, keys: dict[str, str], rows: list[list[float]], numbers: list[int]
) -> MeasuredPattern:
    here = f"scan {index} (line {line})"
    axis = keys.get("MEAS_SCAN_AXIS_X_INTERNAL") or keys.get("MEAS_SCAN_AXIS_X", "")
    if axis and not is_two_theta_axis(axis):
        raise PatternFileError(f"{source}: {here}: scan axis {axis!r} is not 2θ")
    unit = keys.get("MEAS_SCAN_UNIT_X", "deg").lower()
    if unit and not unit.startswith("deg"):
        raise PatternFileError(f"{source}: {here}: x unit {unit!r}, not degrees")
    if not rows:
        raise PatternFileError(f"{source}: {here}: no data rows")
    width = len(rows[0])
    if width < 2 or any(len(r) != width for r in rows):
        bad = next(n for r, n in zip(rows, numbers, strict=True) if len(r) != width or width < 2)
        raise PatternFileError(f"{source}: line {bad}: rows must hold angle, count and optionally a factor")
    table = np.array(rows, dtype=np.float64)
    intensity = table[:, 1] * table[:, 2] if width >= 3 else table[:, 1]
    wave_type = keys.get("MEAS_COND_XG_WAVE_TYPE", "").lower()
    scale = _WAVE_UNIT.get(keys.get("HW_XG_WAVE_LENGTH_UNIT", "angstrom").lower(), 1.0)
    ka1 = positive_float(keys.get("HW_XG_WAVE_LENGTH_ALPHA1"))
    ka2 = positive_float(keys.get("HW_XG_WAVE_LENGTH_ALPHA2"))
    kb = positive_float(keys.get("HW_XG_WAVE_LENGTH_BETA"))
    if wave_type == "kb":
        fields = radiation(None if kb is None else kb * scale)
    else:
        fields = radiation(
            None if ka1 is None else ka1 * scale,
            None if ka2 is None or wave_type == "ka1" else ka2 * scale,
        )
    metadata = {
        "sample": keys.get("FILE_SAMPLE", ""),
        "comment": keys.get("FILE_COMMENT", ""),
        "anode": keys.get("HW_XG_TARGET_NAME", ""),
        "tube_kv": keys.get("HW_XG_VOLTAGE", ""),
        "tube_ma": keys.get("HW_XG_CURRENT", ""),
        "date": keys.get("MEAS_SCAN_START_TIME", ""),
        "scan_type": keys.get("MEAS_SCAN_AXIS_X", axis),
        "scan_mode": keys.get("MEAS_SCAN_MODE", ""),
        "counting_time_s": _rigaku_counting_time(
            keys.get("MEAS_SCAN_SPEED"), keys.get("MEAS_SCAN_SPEED_UNIT", ""), keys.get("MEAS_SCAN_STEP")
        ),
        "intensity_unit": keys.get("MEAS_SCAN_UNIT_Y", ""),
        "wave_type": keys.get("MEAS_COND_XG_WAVE_TYPE", ""),
    }

    def where(i: int) -> str:
        return f"line {numbers[i]}"

    return build(
        source, where, two_theta=table[:, 0], intensity=intensity, format="ras", metadata=metadata, **fields
    )


def _rigaku_counting_time(speed: str | None, unit: str, step: str | None) -> str:
    """Seconds per step: the speed itself when its unit is seconds, else step / (speed in °/min) × 60."""
    value, step_value = positive_float(speed), positive_float(step)
    if value is None:
        return ""
    unit = unit.lower().replace(".", "")
    if unit.startswith("sec") or unit in ("s", "s/step", "sec/step"):
        return f"{value:g}"
    if unit.endswith("/min") and step_value is not None:
        return f"{step_value * 60.0 / value:g}"
    return ""


# ---------------------------------------------------------------------------------------------------------
# Rigaku .asc

_ASC_KEY = re.compile(r"^\*([A-Z0-9_]+)\s*=\s*(.*)$")
_ATOMIC_ANODES = {24: "Cr", 26: "Fe", 27: "Co", 29: "Cu", 42: "Mo", 47: "Ag", 74: "W"}


def is_asc(lines: list[str]) -> bool:
    head = [line.strip() for line in lines[:40] if line.strip()]
    keys = [m.group(1) for m in (_ASC_KEY.match(line) for line in head) if m]
    return (
        len(keys) >= 3
        and head[0].startswith("*")
        and ("TYPE" in keys or "CLASS" in keys or "GROUP_COUNT" in keys)
    )


def read_asc(source: str, text: str) -> Ranges:
    """``*KEY = value`` lines; each group (``*BEGIN`` … ``*END``) has ``*START``, ``*STOP``, ``*STEP`` and
    ``*COUNT = n`` followed by n comma-separated counts."""
    file_keys: dict[str, str] = {}
    groups: list[tuple[dict[str, str], list[float], list[int], int]] = []
    keys = file_keys
    counts: list[float] | None = None
    numbers: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _ASC_KEY.match(line)
        if line.upper() == "*BEGIN":
            keys, counts, numbers = {}, None, []
            groups.append((keys, [], numbers, number))
        elif line.upper() == "*END":
            keys, counts = file_keys, None
        elif line.upper() == "*EOF":  # SmartLab's end-of-file marker after the last group
            break
        elif match:
            keys[match.group(1)] = match.group(2).strip()
            if match.group(1) == "COUNT" and groups and keys is groups[-1][0]:
                counts = groups[-1][1]
        elif counts is not None:
            for word in re.split(r"[\s,]+", line):
                if word:
                    counts.extend(parse_floats(source, number, [word]))
                    numbers.append(number)
        else:
            raise PatternFileError(f"{source}: line {number}: {line[:40]!r} outside a *COUNT block")
    if not groups:
        raise PatternFileError(f"{source}: a Rigaku .asc file without a *BEGIN group")
    ranges: Ranges = []
    for index, (group, values, lines_of, line) in enumerate(groups, start=1):
        try:
            ranges.append(_asc_group(source, index, line, {**file_keys, **group}, values, lines_of))
        except PatternFileError as error:
            ranges.append(error)
    return ranges


def _asc_group(
    source: str, index: int, line: int, keys: dict[str, str], values: list[float], numbers: list[int]
) -> MeasuredPattern:
    here = f"group {index} (line {line})"
    axis = keys.get("SCAN_AXIS", "") or keys.get("SCAN_MODE", "")
    if axis and not is_two_theta_axis(axis):
        raise PatternFileError(f"{source}: {here}: scan axis {axis!r} is not 2θ")
    start, step = header_number(keys.get("START")), positive_float(keys.get("STEP"))
    stated = header_number(keys.get("COUNT"))
    if start is None or step is None or stated is None:
        raise PatternFileError(f"{source}: {here}: needs *START, *STEP and *COUNT")
    if len(values) != int(stated):
        raise PatternFileError(f"{source}: {here}: {len(values)} counts, *COUNT says {int(stated)}")
    kind = keys.get("XRAY_CHAR", "").upper().replace("-", "").replace("_", "")
    ka1, ka2 = positive_float(keys.get("WAVE_LENGTH1")), positive_float(keys.get("WAVE_LENGTH2"))
    fields = radiation(ka1, None if kind.endswith("ALPHA1") else ka2)
    target = header_number(keys.get("TARGET"))
    anode = _ATOMIC_ANODES.get(int(target), "") if target is not None else keys.get("TARGET", "")
    speed_unit = keys.get("SPEED_DIM", "")
    metadata = {
        "sample": keys.get("SAMPLE", ""),
        "comment": keys.get("COMMENT", "") or keys.get("MEMO", ""),
        "date": keys.get("DATE", ""),
        "anode": anode,
        "tube_kv": keys.get("KV", ""),
        "tube_ma": keys.get("MA", ""),
        "scan_type": axis,
        "scan_mode": keys.get("MEAS_MODE", ""),
        "counting_time_s": _rigaku_counting_time(keys.get("SPEED"), speed_unit, keys.get("STEP")),
        "intensity_unit": keys.get("YUNIT", ""),
    }

    def where(i: int) -> str:
        return f"line {numbers[i]}" if numbers else here

    return build(
        source,
        where,
        two_theta=start + step * np.arange(len(values), dtype=np.float64),
        intensity=np.array(values, dtype=np.float64),
        format="asc",
        metadata=metadata,
        **fields,
    )


# ---------------------------------------------------------------------------------------------------------
# Sietronics .cpi and Philips .udf (layouts as in xylib's cpi.cpp and philips_udf.cpp)


def is_cpi(lines: list[str]) -> bool:
    return bool(lines) and lines[0].strip().upper().startswith("SIETRONICS XRD SCAN")


def _stated_range(source: str, start: float, end: float | None, step: float, n: int) -> None:
    """A start/end/step header must agree with the number of counts (within a step): else it is not this
    layout, or the file is cut."""
    if end is not None and abs(start + (n - 1) * step - end) > 1.01 * abs(step):
        raise PatternFileError(
            f"{source}: {n} counts from {start:g} in steps of {step:g} end at {start + (n - 1) * step:g}, "
            f"but the header says {end:g} (truncated file?)"
        )


def read_cpi(source: str, text: str) -> Ranges:
    """``SIETRONICS XRD SCAN``, then start, end, step, anode, wavelength, date, ... ``SCANDATA``, one count a
    line."""
    lines = text.splitlines()
    marker = next((i for i, line in enumerate(lines) if line.strip().upper() == "SCANDATA"), None)
    if marker is None or marker < 6:
        raise PatternFileError(f"{source}: a Sietronics .cpi file without its header and SCANDATA line")
    start, end, step = (header_number(lines[i]) for i in (1, 2, 3))
    if start is None or step is None or step <= 0:
        raise PatternFileError(f"{source}: lines 2-4: start, end and step of the scan are not numbers")
    values: list[float] = []
    numbers: list[int] = []
    for number, line in enumerate(lines[marker + 1 :], start=marker + 2):
        if line.strip():
            values.extend(parse_floats(source, number, line.split()))
            numbers.append(number)
    _stated_range(source, start, end, step, len(values))
    anode = lines[4].strip()
    metadata = {
        "anode": anode,
        "date": lines[6].strip() if marker > 6 else "",
        "sample": lines[8].strip() if marker > 8 else "",
    }

    def where(i: int) -> str:
        return f"line {numbers[i]}" if i < len(numbers) else "data"

    return [
        build(
            source,
            where,
            two_theta=start + step * np.arange(len(values), dtype=np.float64),
            intensity=np.array(values, dtype=np.float64),
            format="cpi",
            metadata=metadata,
            **radiation(positive_float(lines[5])),
        )
    ]


def is_udf(lines: list[str]) -> bool:
    return bool(lines) and lines[0].lstrip("\ufeff").startswith("SampleIdent")


def read_udf(source: str, text: str) -> Ranges:
    """``Key, value(s),/`` lines (``DataAngleRange``, ``ScanStepSize``, ``LabdaAlpha1``, ...) up to
    ``RawScan``, then comma-separated counts ending with ``/``."""
    keys: dict[str, str] = {}
    values: list[float] = []
    numbers: list[int] = []
    in_data = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if not in_data:
            if line.upper() == "RAWSCAN":
                in_data = True
                continue
            key, _, rest = line.partition(",")
            keys[key.strip().lower()] = rest.rstrip("/").strip().rstrip(",").strip()
            continue
        done = "/" in line
        for word in re.split(r"[\s,]+", line.replace("/", " ")):
            if word:
                values.extend(parse_floats(source, number, [word]))
                numbers.append(number)
        if done:
            break
    if not in_data:
        raise PatternFileError(f"{source}: a Philips .udf file without a RawScan line")
    angles = [
        v for v in (header_number(w) for w in keys.get("dataanglerange", "").split(",")) if v is not None
    ]
    step = positive_float(keys.get("scanstepsize"))
    if not angles or step is None:
        raise PatternFileError(f"{source}: DataAngleRange and ScanStepSize are needed")
    _stated_range(source, angles[0], angles[1] if len(angles) > 1 else None, step, len(values))

    def key(pattern: str) -> str | None:
        return next((v for k, v in keys.items() if re.fullmatch(pattern, k)), None)

    ratio = key(r"ratioalpha21")
    fields = radiation(
        positive_float(key(r"la?m?bda_?alpha_?1")),
        positive_float(key(r"la?m?bda_?alpha_?2")),
        None if ratio is None else header_number(ratio),
    )
    metadata = {
        "sample": keys.get("sampleident", ""),
        "anode": keys.get("anodematerial", keys.get("anode", "")),
        "date": keys.get("datetime", keys.get("date", "")),
        "scan_type": keys.get("scantype", ""),
        "counting_time_s": keys.get("scansteptime", ""),
    }

    def where(i: int) -> str:
        return f"line {numbers[i]}" if i < len(numbers) else "data"

    return [
        build(
            source,
            where,
            two_theta=angles[0] + step * np.arange(len(values), dtype=np.float64),
            intensity=np.array(values, dtype=np.float64),
            format="udf",
            metadata=metadata,
            **fields,
        )
    ]


# ---------------------------------------------------------------------------------------------------------
# Rigaku's older text-like .RAW (a ".RAW" field first, fields separated by carriage returns)

RIGAKU_RAW_MAGIC = b".RAW"
# Field positions (0-based) in the carriage-return separated header, as in the public example of MAUD
# (Steel16CrNi4.RAW, a Rigaku rotating anode at 40 kV, 200 mA) and MAUD's own reading of it: every position
# is cross-checked below before anything is read from it.
_RIGAKU_RAW_FIELDS = {
    "date": 1, "time": 2, "sample": 3, "stop": 8, "tube_kv": 11, "anode": 12, "tube_ma": 13,
    "kalpha": 18, "kalpha1": 19, "kalpha2": 20, "start": 22, "step": 23, "points": 24, "seconds": 25,
}  # fmt: skip


def is_rigaku_raw(data: bytes) -> bool:
    return data.startswith(RIGAKU_RAW_MAGIC) and data[4:5] in (b"\r", b"\n")


def read_rigaku_raw(source: str, data: bytes, format: str) -> Ranges:
    """The older Rigaku .RAW written as text fields separated by carriage returns (NUL padding in the date):
    the header states start, step, stop and the number of points of the scan, the anode, Kα1, Kα2 and
    their weighted mean, and the largest count; the counts are the last fields. Read only where these agree
    with each other, else refused with the disagreement."""
    del format
    text = data.decode("latin-1").replace("\x00", "")
    fields = [f.strip() for f in re.split(r"\r\n|\r|\n", text)]
    while fields and not fields[-1]:
        fields.pop()
    at = _RIGAKU_RAW_FIELDS

    def number(name: str) -> float | None:
        index = at[name]
        return header_number(fields[index]) if index < len(fields) else None

    start, step, stop = number("start"), number("step"), number("stop")
    words = fields[at["points"]].split() if at["points"] < len(fields) else []
    n = int(words[0]) if words and words[0].isdigit() else 0
    where_header = "header"
    if start is None or step is None or stop is None or step <= 0 or n < 2:
        raise PatternFileError(
            f"{source}: a text-like .RAW file (Rigaku) whose header has no start, step, stop and number of "
            "points where this reader expects them; not read"
        )
    if abs(start + (n - 1) * step - stop) > step / 2:
        raise PatternFileError(
            f"{source}: {where_header}: {n} points from {start:g} in steps of {step:g} end at "
            f"{start + (n - 1) * step:g}, but the header's stop is {stop:g}; not read"
        )
    header_end = len(fields) - n
    if header_end <= at["seconds"] or fields[header_end - 1]:
        raise PatternFileError(
            f"{source}: the last {n} fields are not the counts the header announces (a header field runs "
            "into them, or there are fewer); not read"
        )
    values = [header_number(f) for f in fields[header_end:]]
    missing = next((i for i, v in enumerate(values) if v is None), None)
    if missing is not None:
        raise PatternFileError(
            f"{source}: count {missing + 1} of {n} is not a number ({fields[header_end + missing]!r})"
        )
    counts = np.array(values, dtype=np.float64)
    # The header also states the largest count: the counts are where they were counted from.
    stated = {header_number(f) for f in fields[at["seconds"] + 1 : header_end]} - {None}
    if float(counts.max()) not in stated:
        raise PatternFileError(
            f"{source}: the largest of the {n} counts ({counts.max():g}) is not the maximum the header "
            "states; not read"
        )
    ka1, ka2, mean = number("kalpha1"), number("kalpha2"), number("kalpha")
    ratio = None
    if ka1 is not None and ka2 is not None and mean is not None and ka1 < mean < ka2:
        # The weighted mean (ka1 + r ka2) / (1 + r) gives the Kα2/Kα1 ratio r it was made with.
        ratio = round((mean - ka1) / (ka2 - mean), 3)
    seconds = number("seconds")
    metadata = {
        "date": " ".join(fields[at[k]] for k in ("date", "time") if fields[at[k]]),
        "sample": fields[at["sample"]],
        "anode": fields[at["anode"]].capitalize(),
        "tube_kv": fields[at["tube_kv"]],
        "tube_ma": fields[at["tube_ma"]],
        "counting_time_s": "" if seconds is None else f"{seconds:g}",
    }

    def where(i: int) -> str:
        return f"count {i + 1} (field {header_end + i + 1})"

    return [
        build(
            source,
            where,
            two_theta=start + step * np.arange(n, dtype=np.float64),
            intensity=counts,
            format="rigaku_raw",
            metadata=metadata,
            **radiation(ka1, ka2, ratio),
        )
    ]


# ---------------------------------------------------------------------------------------------------------
# ILL D1B numor files

# The title line of a numor starts with its date and time ("13-JUL-98 22:37:05CHATEIJLS GTiAl1").
_ILL_TITLE = re.compile(r"(\d{2}-[A-Z]{3}-\d{2} \d{2}:\d{2}:\d{2})(.*)")
_ILL_PAIR = 10  # each cell is written as (I2, I8): a flag and its count, ten cells a line
_ILL_COUNT = re.compile(r" *-?[0-9]+")  # the I8 field of a cell


def is_ill_numors(lines: list[str]) -> bool:
    """A count of numors alone on the first line, a title line starting with a date and time, then the
    numor's "k numor" line and a line of at least nine numbers."""
    if len(lines) < 6 or not lines[0].strip().isdigit() or not _ILL_TITLE.match(lines[1]):
        return False
    params = lines[3].split()
    return (
        bool(re.fullmatch(r"\s*\d+\s+\d+\s*", lines[2]))
        and len(params) >= 9
        and all(is_number(p) for p in params)
    )


def read_ill_numors(source: str, text: str) -> Ranges:
    """ILL D1B numors (MAUD's .F1B; neutrons): a count on the first line, then per numor a title line (date,
    time, then the experiment's words), ``k numor``, a line of numbers (monitor, time, 2θ of the first
    cell, ω, χ, φ, -, λ in Å, the 2θ step between cells, ...), a line ``n ...`` (n cells; MAUD skips one
    more line unless its words hold "To"), the n counts as (I2, I8) pairs ten a line, and ``-1000``; a
    ``-10000`` line ends the numors (as MAUD's ``D1BILLDataFile`` reads them). One range per numor."""
    lines = text.splitlines()
    ranges: Ranges = []
    i = 1
    while i < len(lines) and lines[i].strip() not in ("-10000", ""):
        end = next((k for k in range(i, len(lines)) if lines[k].strip() == "-1000"), len(lines))
        ranges.append(_ill_numor(source, lines, i, end))
        i = end + 1
    if not ranges:
        raise PatternFileError(f"{source}: an ILL numor file without numors")
    return ranges


def _ill_numor(source: str, lines: list[str], i: int, end: int) -> MeasuredPattern | PatternFileError:
    """The numor whose title is line ``i`` and whose ``-1000`` line is ``end`` (0-based; the number of lines
    where it has none), or why it cannot be read."""
    title = _ILL_TITLE.match(lines[i])
    if title is None or i + 4 >= len(lines):
        return PatternFileError(f"{source}: line {i + 1}: not the title line of a numor ({lines[i][:40]!r})")
    ids, params, cells = lines[i + 1].split(), lines[i + 2].split(), lines[i + 3].split()
    if len(ids) != 2 or len(params) < 9 or not cells or not re.fullmatch("[0-9]+", cells[0]):
        return PatternFileError(f"{source}: lines {i + 2}-{i + 4}: not the header of an ILL numor")
    values = parse_floats(source, i + 3, params)
    start, lam, step, n = values[2], values[7], values[8], int(cells[0])
    first = i + 4 if any(word.lower() == "to" for word in cells[1:]) else i + 5
    counts: list[float] = []
    numbers: list[int] = []
    for k in range(first, end):
        line = lines[k].rstrip()
        for c in range(0, len(line), _ILL_PAIR):
            field_ = line[c + 2 : c + _ILL_PAIR]
            if not _ILL_COUNT.fullmatch(field_):
                cell = line[c : c + _ILL_PAIR]
                return PatternFileError(f"{source}: line {k + 1}: {cell!r} is not an (I2, I8) cell")
            counts.append(float(field_))
            numbers.append(k + 1)
    if len(counts) != n or step <= 0:
        return PatternFileError(
            f"{source}: numor {ids[1]} (line {i + 1}): {len(counts)} counts where its header states {n} "
            f"cells of {step:g}°"
        )
    metadata = {
        "date": title.group(1),
        "title": title.group(2).strip(),
        "numor": ids[1],
        "omega": params[3],
        "chi": params[4],
        "phi": params[5],
        "probe": "neutron",
    }

    def where(j: int) -> str:
        return f"line {numbers[j]}" if j < len(numbers) else f"numor {ids[1]}"

    return build(
        source,
        where,
        two_theta=start + step * np.arange(n, dtype=np.float64),
        intensity=np.array(counts, dtype=np.float64),
        format="ill_d1b",
        metadata=metadata,
        **radiation(lam if lam > 0 else None),
    )
