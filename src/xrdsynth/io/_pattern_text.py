"""Text patterns: columns (.xy, .xye, .csv, .txt, .dat), RRUFF, and a start/step header over a list of counts.

The rules (which lines are data, which column is σ, which header line states the wavelength, what the x
axis is) are written in :func:`xrdsynth.io.read_pattern`; the comments here say why.
"""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ._pattern_base import (
    UNIT_TO_ANGSTROM,
    WAVELENGTH_RANGE,
    MeasuredPattern,
    PatternFileError,
    Ranges,
    build,
    positive_float,
    two_theta_from_d,
    two_theta_from_q,
)

COMMENT_PREFIXES = ("#", "!", ";", "//", "/*", "*/", "'")
# A third text column is sigma when its median ratio to sqrt(y) lies in this range (counting errors).
_SIGMA_RATIO_RANGE = (0.2, 5.0)
# From this many columns on, rows whose first column is not an even angle axis are a block of counts.
_BLOCK_COLUMNS = 4
# ... or whose first column's largest step exceeds its smallest this many times.
_MAX_STEP_SPREAD = 20.0


def decode(source: str, data: bytes) -> str:
    """Text of a text file: UTF-16 with a BOM, else UTF-8 (BOM allowed), else Latin-1; binary refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise PatternFileError(f"{source}: not valid UTF-16 text despite its byte-order mark") from None
    nul = data.find(b"\x00")
    if nul >= 0:
        raise PatternFileError(
            f"{source}: a binary file (NUL byte at offset {nul}) of no known format (readable binary "
            "formats: Bruker RAW v1-v4, Bruker .brml, Rigaku .rasx; text: columns, .xrdml, GSAS, UXD, .ras)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # old instrument software writes Latin-1 ("°", "Å"); any byte decodes


# ---------------------------------------------------------------------------------------------------------
# Wavelengths stated in header lines

_NUMBER = r"(?P<value>[0-9]*\.[0-9]+(?:[eE][-+]?[0-9]+)?)(?:\s*(?P<unit>nm|pm|m)\b)?"
# "Kα1", "K-alpha 1", "CuKa1": a K not inside a word, unless an anode symbol precedes it.
_KALPHA = r"(?:(?<![a-z])|(?<=cu|mo|co|cr|fe|ag))k\s*[-_]?\s*(?:alpha|α|a)\s*[-_]?\s*"
_GAP = r"(?![0-9.])(?P<gap>[^0-9\n]{0,24}?)"
# "WL1" / "_WL1": Bruker's key for Kα1 (UXD, DIFFRAC.EVA exports), not inside a word.
_WL = r"(?<![a-z0-9])_?wl"
_HEADER_PATTERNS = {
    "wavelength": re.compile(
        rf"(?:{_KALPHA}1|{_WL}1|(?:wave\s*length|lambda|λ)(?:\s*[-_]?\s*1)?){_GAP}{_NUMBER}", re.IGNORECASE
    ),
    "wavelength2": re.compile(
        rf"(?:{_KALPHA}2|{_WL}2|(?:wave\s*length|lambda|λ)\s*[-_]?\s*2){_GAP}{_NUMBER}", re.IGNORECASE
    ),
    # "ratio 0.5", "ratio Kα2/Kα1 = 0.5", 'WLRatio: "0.5"': a label may hold digits, so it ends at ":"/"=".
    "ratio": re.compile(rf"ratio(?:[^:=\n]{{0,30}}[:=]|\s)\s*[\"']?{_NUMBER}", re.IGNORECASE),
}
_NAMED_LINE = re.compile(rf"\b(cu|mo|co|cr|fe|ag)\s*[-_]?\s*{_KALPHA}([12])?(?![0-9a-z])", re.IGNORECASE)


def header_radiation(lines: Sequence[str]) -> dict[str, float]:
    """Wavelength, wavelength2 and ratio stated in header lines (numbers win over a named line)."""
    found: dict[str, float] = {}
    named: dict[str, float] = {}
    for line in lines:
        for key, pattern in _HEADER_PATTERNS.items():
            match = pattern.search(line)
            if match is None or key in found:
                continue
            value = float(match["value"])
            if key != "ratio":
                unit = (match["unit"] or "").lower()
                if not unit:
                    in_gap = re.search(r"\b(nm|pm)\b", match["gap"], re.IGNORECASE)
                    unit = in_gap.group(1).lower() if in_gap else ""
                value *= UNIT_TO_ANGSTROM.get(unit, 1.0)
                if not WAVELENGTH_RANGE[0] <= value <= WAVELENGTH_RANGE[1]:
                    continue
            found[key] = value
        match = _NAMED_LINE.search(line)
        if match is not None and not named:
            named = named_lines(match.group(1), match.group(2))
    radiation = found if "wavelength" in found else {**named, **found}
    if "wavelength" not in radiation:
        return {}
    if "wavelength2" not in radiation or radiation.get("ratio") == 0:
        # A ratio means nothing without the second line; a ratio of 0 says Kα1 only.
        radiation.pop("wavelength2", None)
        radiation.pop("ratio", None)
    return radiation


def named_lines(anode: str, line: str | None) -> dict[str, float]:
    """Kα1, Kα2 or the doublet (ratio 0.5) of a named anode, from the simulator's one table of lines."""
    from ..simulate import KALPHA2_RATIO, WAVELENGTHS  # Hölzer et al.; imported late: simulate imports torch

    anode = anode.capitalize()
    if line == "2":
        return {"wavelength": WAVELENGTHS[f"{anode}Ka2"]}
    if line == "1":
        return {"wavelength": WAVELENGTHS[f"{anode}Ka1"]}
    return {
        "wavelength": WAVELENGTHS[f"{anode}Ka1"],
        "wavelength2": WAVELENGTHS[f"{anode}Ka2"],
        "ratio": KALPHA2_RATIO,
    }


# ---------------------------------------------------------------------------------------------------------
# What the x axis is


@dataclass(frozen=True)
class XAxis:
    """The x axis a text file declares: kind is "2theta", "2theta_centideg", "2theta_rad", "q", "d", "tof",
    "energy" or "channel"; ``unit`` is "1/Å"/"1/nm" for Q, "Å"/"nm" for d, "" when unknown; ``said`` quotes
    the words that declared it."""

    kind: str
    unit: str
    said: str


_TOF_WORDS = re.compile(r"time[\s_-]*of[\s_-]*flight|\btof\b", re.IGNORECASE)
# "Energy-dispersive diffraction", not an energy-dispersive detector (a LynxEye XE measures 2θ scans).
_ED_WORDS = re.compile(
    r"energy[\s_-]*dispersive\s+(?:x[\s_-]*ray\s+)?diffraction|\bed-?xrd\b|\bedxd\b", re.IGNORECASE
)
_LABEL_PREFIX = re.compile(r"^(?:[#!;'/*\s]+)?(?:(?:columns?|fields?|data)\s*[:=]\s*)?", re.IGNORECASE)
_FIRST_LABEL = re.compile(r"[\"']?([^\s,;\"'(\[]+)[\"']?(\s*[(\[][^)\]]{0,20}[)\]])?")
_Q_UNITS = (("nm", "1/nm"), ("å", "1/Å"), ("a^-1", "1/Å"), ("1/a", "1/Å"), ("a-1", "1/Å"), ("ang", "1/Å"))


def _label_axis(line: str) -> XAxis | None:
    """The axis named by the first label of a column-header line ("2theta,counts", "# q_nm^-1 I")."""
    text = _LABEL_PREFIX.sub("", line.strip())
    # A column header names columns: no "key: value" or "key = value", no bare numbers ("Time: 12:30").
    if not text or "=" in text or ":" in text or any(is_number(w) for w in re.split(r"[\s,;]+", text)):
        return None
    match = _FIRST_LABEL.match(text)
    if match is None:
        return None
    token = (match.group(1) + (match.group(2) or "")).lower().replace(" ", "")
    said = (match.group(1) + (match.group(2) or "")).strip()
    if re.match(r"(2[-_]?th|2θ|two[-_]?theta|tth|2-?theta)", token):
        if "centideg" in token or "cdeg" in token:
            return XAxis("2theta_centideg", "", said)
        if "rad" in token:
            return XAxis("2theta_rad", "", said)
        return XAxis("2theta", "", said)
    if token[0] == "q" and (len(token) == 1 or token[1] in "_([-/^"):
        unit = next((u for key, u in _Q_UNITS if key in token[1:]), "")
        return XAxis("q", unit, said)
    if token[0] == "d" and (len(token) == 1 or token[1] in "_([-" or token.startswith("dspacing")):
        if token.startswith("d_") and not re.match(r"d_(a|å|nm|ang|spacing)", token):
            return None  # "d_min", "d_sample": a label that is not the lattice spacing
        return XAxis("d", "nm" if "nm" in token else "Å", said)
    if token.startswith(("tof", "time")):
        return XAxis("tof", "", said)
    if token.startswith(("energy", "kev")) or token in ("e", "e(kev)", "e_kev"):
        return XAxis("energy", "", said)
    if token.startswith(("channel", "chan")):
        return XAxis("channel", "", said)
    return None


def _axis_title(line: str) -> XAxis | None:
    """An axis named by a header line that is only an axis title ("Q (1/nm)", "2-Theta Angle (Degrees)"),
    as Fit2D's .chi files write it: one or two words and a unit, no numbers outside brackets."""
    text = re.sub(r"[(\[][^)\]]*[)\]]", "", _LABEL_PREFIX.sub("", line.strip()))
    if len(text.split()) > 2 or re.search(r"[0-9]", text.lstrip("2")) or ":" in text:
        return None
    declared = _label_axis(line)
    return None if declared is None or declared.kind == "2theta" else declared


def x_axis(header: Sequence[str], label_line: str | None) -> XAxis:
    """What a text file's x is: the column-header line decides; else a header line that is an axis title;
    else the header's words (time of flight, energy-dispersive); else 2θ."""
    if label_line is not None:
        declared = _label_axis(label_line)
        if declared is not None:
            return declared
    for line in header:
        declared = _axis_title(line)
        if declared is not None:
            return declared
    for line in header:
        match = _TOF_WORDS.search(line)
        if match:
            return XAxis("tof", "", match.group(0))
        match = _ED_WORDS.search(line)
        if match:
            return XAxis("energy", "", match.group(0))
    return XAxis("2theta", "", "")


def convert_x(
    source: str, x: npt.NDArray[np.float64], axis: XAxis, radiation: dict[str, float]
) -> tuple[npt.NDArray[np.float64], str]:
    """2θ in degrees from the file's x and a note for ``metadata["x_axis"]``; refuses what is uncertain."""
    if axis.kind == "2theta":
        return x, ""
    if axis.kind == "2theta_centideg":
        return x / 100.0, f"2θ in centidegrees ({axis.said!r}), divided by 100"
    if axis.kind == "2theta_rad":
        return np.degrees(x), f"2θ in radians ({axis.said!r}), converted to degrees"
    if axis.kind in ("tof", "energy", "channel"):
        what = {
            "tof": "time of flight (neutron)",
            "energy": "energy (energy-dispersive)",
            "channel": "detector channels",
        }[axis.kind]
        raise PatternFileError(
            f"{source}: the x axis is {what} ({axis.said!r}), not 2θ; it cannot be converted to an angle "
            "without the instrument's calibration"
        )
    lam = radiation.get("wavelength")
    name = "Q" if axis.kind == "q" else "d"
    helper = "from_q" if axis.kind == "q" else "from_d"
    if lam is None:
        raise PatternFileError(
            f"{source}: the x axis is {name} ({axis.said!r}); converting it to 2θ needs the wavelength, "
            f"which the file does not state (build the pattern with MeasuredPattern.{helper}(..., "
            "wavelength=...))"
        )
    if axis.kind == "q" and not axis.unit:
        raise PatternFileError(
            f"{source}: the x axis is Q ({axis.said!r}) without a unit (1/Å or 1/nm?); build the pattern "
            "with MeasuredPattern.from_q(..., q_unit=...)"
        )
    try:
        if axis.kind == "q":
            scale = 0.1 if axis.unit == "1/nm" else 1.0
            two_theta = two_theta_from_q(x * scale, lam)
        else:
            two_theta = two_theta_from_d(x * (10.0 if axis.unit == "nm" else 1.0), lam)
    except ValueError as exc:
        raise PatternFileError(f"{source}: {name} axis ({axis.said!r}): {exc}") from None
    return two_theta, f"{name} in {axis.unit} ({axis.said!r}), converted with λ = {lam:g} Å"


# ---------------------------------------------------------------------------------------------------------
# Columns

_SPLIT = re.compile(r"\s*[,;]\s*|\s+")
_SPLIT_DECIMAL_COMMA = re.compile(r"\s*;\s*|\s+")
_DECIMAL_COMMA_TOKEN = re.compile(r"-?[0-9]+,[0-9]+")
_SIGMA_LABEL = re.compile(r"^(sigma|σ|esd|e\.?s\.?d|err|error|errors|uncertainty|s\(?i\)?|di|dy|sig)", re.I)
_TEXT_SUFFIXES = {".xye": "xye", ".csv": "csv"}


def _numbers(tokens: list[str]) -> list[float] | None:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        return None


@dataclass
class _Table:
    header: list[str]
    metadata: dict[str, str]
    rows: list[list[float]]
    line_numbers: list[int]
    label_line: str | None  # the header line right before the first data line (a column header?)


def _scan(source: str, text: str) -> _Table:
    header: list[str] = []
    metadata: dict[str, str] = {}
    rows: list[list[float]] = []
    line_numbers: list[int] = []
    label_line: str | None = None
    split = _SPLIT
    decimal_comma = False
    ended_at: tuple[int, str] | None = None  # the first non-numeric line after the data (a footer)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().rstrip("\x1a")
        if not line:
            continue
        if line.startswith("##"):
            key, sep, value = line[2:].partition("=")
            if key.strip().upper() == "END":
                break
            if sep:
                metadata[key.strip()] = value.strip()
            header.append(line)
            continue
        if line.startswith(COMMENT_PREFIXES):
            if not rows:
                header.append(line)
                label_line = line
            continue
        if not rows:
            decimal_comma = (";" in line or "\t" in line) and "," in line and "." not in line
            split = _SPLIT_DECIMAL_COMMA if decimal_comma else _SPLIT
            words = line.split()
            if not decimal_comma and len(words) > 1 and all(_DECIMAL_COMMA_TOKEN.fullmatch(w) for w in words):
                raise PatternFileError(
                    f"{source}: line {number}: {line[:40]!r} is ambiguous (decimal commas between spaces, or "
                    "comma-separated columns?); separate the columns by ';' or tabs, or use decimal points"
                )
        body = line.replace(",", ".") if decimal_comma else line
        values = _numbers([t.strip("\"'") for t in split.split(body.rstrip(",; \t")) if t])
        if values is None or not values:
            if rows and ended_at is None:
                ended_at = (number, line)
            elif not rows:
                header.append(line)
                label_line = line
            continue
        if ended_at is not None:
            raise PatternFileError(
                f"{source}: line {ended_at[0]}: not numeric ({ended_at[1][:60]!r}), but data continue at "
                f"line {number}"
            )
        rows.append(values)
        line_numbers.append(number)
    return _Table(header, metadata, rows, line_numbers, label_line)


def _refuse_blocks(source: str, table: _Table) -> None:
    """Rows of many numbers whose first column is not monotonic are a block of counts (10 a line in ILL
    and GSAS files), with the angles in a header: say so, rather than "2θ is not monotonic"."""
    widths = collections.Counter(len(r) for r in table.rows)
    width = widths.most_common(1)[0][0]
    if width < _BLOCK_COLUMNS:
        return
    rows = [(r, n) for r, n in zip(table.rows, table.line_numbers, strict=True) if len(r) == width]
    first = np.array([r[0] for r, _ in rows])
    steps = np.diff(first)
    # A first numeric line of another width is a header of numbers (start, step, ...) over the block; an
    # angle axis is monotonic and nearly evenly spaced, a column of counts that happens to rise is not.
    numeric_header = len(table.rows[0]) != width
    monotonic = bool(np.all(steps > 0) or np.all(steps < 0))
    if monotonic and steps.size > 1 and np.abs(steps).max() > _MAX_STEP_SPREAD * np.abs(steps).min():
        monotonic = False
    if len(rows) > 1 and (numeric_header or not monotonic):
        raise PatternFileError(
            f"{source}: line {rows[0][1]}: rows of {width} numbers whose first column is not an angle axis "
            f"({'after a numeric header line' if numeric_header else 'not monotonic and evenly spaced'}): a "
            "block of counts whose angles are in a header this reader does not know (as in ILL or GSAS "
            "files), not x-y columns"
        )


def _looks_like_sigma(y: npt.NDArray[np.float64], s: npt.NDArray[np.float64]) -> bool:
    """Whether a third column is counting errors: non-negative and of the order of sqrt(y)."""
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        return False
    ratio = float(np.median(s / np.sqrt(np.maximum(np.abs(y), 1.0))))
    return _SIGMA_RATIO_RANGE[0] <= ratio <= _SIGMA_RATIO_RANGE[1]


def _third_label_is_sigma(label_line: str | None) -> bool:
    if label_line is None:
        return False
    labels = [w for w in re.split(r"[\s,;]+", _LABEL_PREFIX.sub("", label_line.strip())) if w]
    return len(labels) >= 3 and bool(_SIGMA_LABEL.match(labels[2].strip("\"'()[]")))


def _steps_layout(source: str, table: _Table) -> tuple[float, float, int, float | None] | None:
    """(start, step, n, wavelength) when the data are a "n step start [λ ...]" line over n counts.

    The count must match exactly and only one reading of (step, start) may give 2θ within 0-180°, so that
    the layout is certain; anything else is not this layout.
    """
    first = table.rows[0]
    rest = table.rows[1:]
    if len(first) < 3 or not rest or first[0] != int(first[0]) or first[0] < 2:
        return None
    n = int(first[0])
    if any(len(r) > len(first) for r in rest) or sum(len(r) for r in rest) != n:
        return None
    readings = [
        (start, step)
        for step, start in ((first[1], first[2]), (first[2], first[1]))
        if step > 0 and start >= 0 and start + (n - 1) * step <= 180.0
    ]
    if len(readings) != 1:
        if len(readings) > 1:
            raise PatternFileError(
                f"{source}: line {table.line_numbers[0]}: {n} counts follow a header "
                f"{' '.join(f'{v:g}' for v in first)} whose start and step cannot be told apart"
            )
        return None
    # A 4th number that is not a whole number and in range is the wavelength (Å) ("2660 .05 22 1.540598 1").
    lam = first[3] if len(first) >= 4 and first[3] != int(first[3]) else None
    if lam is not None and not WAVELENGTH_RANGE[0] <= lam <= WAVELENGTH_RANGE[1]:
        lam = None
    return readings[0][0], readings[0][1], n, lam


def read_text(source: str, data: bytes, format: str) -> Ranges:
    """Columns, RRUFF or a start/step list; one range."""
    text = decode(source, data)
    table = _scan(source, text)
    if not table.rows:
        raise PatternFileError(f"{source}: no numeric data lines")
    if format == "rruff":
        return [_rruff(source, table)]
    steps = _steps_layout(source, table)
    if steps is not None:
        return [_steps(source, table, *steps)]
    columns = _columns(source, table)
    width = columns.shape[1]
    x, intensity = columns[:, 0], columns[:, 1]
    metadata = dict(table.metadata)

    sigma = None
    if format == "xye" or _third_label_is_sigma(table.label_line):
        if width >= 3:
            sigma = columns[:, 2]
            negative = np.flatnonzero(sigma < 0)
            if negative.size:
                line = table.line_numbers[int(negative[0])]
                raise PatternFileError(f"{source}: line {line}: negative sigma {sigma[negative[0]]:g}")
    elif width >= 3 and _looks_like_sigma(intensity, columns[:, 2]):
        sigma = columns[:, 2]
    if format == "xye" and sigma is None:
        metadata["note"] = "no sigma column (2 columns)"
    format = "xye" if sigma is not None else ("csv" if format == "csv" else "xy")
    used = 2 if sigma is None else 3
    if width > used:
        metadata["ignored_columns"] = str(width - used)

    radiation = header_radiation(table.header)
    axis = x_axis(table.header, table.label_line)
    two_theta, note = convert_x(source, x, axis, radiation)
    if note:
        metadata["x_axis"] = note
    if table.header:
        metadata["header"] = "\n".join(table.header)

    def where(i: int) -> str:
        return f"line {table.line_numbers[i]}"

    return [
        build(
            source,
            where,
            two_theta=two_theta,
            intensity=intensity,
            sigma=sigma,
            format=format,
            metadata=metadata,
            **radiation,
        )
    ]


def _columns(source: str, table: _Table) -> np.ndarray:
    """(N, K) the data table of a column file, K >= 2 columns in every row. A first line holding the
    number of points (Fit2D .chi) goes to the header; blocks of counts are refused."""
    if len(table.rows[0]) == 1 and table.rows[0][0] == len(table.rows) - 1 and len(table.rows) > 2:
        # A line with the number of points before the data (Fit2D .chi): not a data row.
        table.header.append(f"points: {int(table.rows[0][0])}")
        del table.rows[0], table.line_numbers[0]
    _refuse_blocks(source, table)
    width = len(table.rows[0])
    if width < 2:
        raise PatternFileError(f"{source}: line {table.line_numbers[0]}: one column; need 2θ and intensity")
    for row, number in zip(table.rows, table.line_numbers, strict=True):
        if len(row) != width:
            raise PatternFileError(
                f"{source}: line {number}: {len(row)} columns, but the data started with {width} "
                f"(line {table.line_numbers[0]})"
            )
    columns = np.array(table.rows, dtype=np.float64)
    return columns


def _rruff(source: str, table: _Table) -> MeasuredPattern:
    """RRUFF: ``##KEY=value`` headers, ``x, y`` data; the wavelength from X-RAY WAVELENGTH or WAVELENGTH."""
    columns = _columns(source, table)
    width = columns.shape[1]
    metadata = dict(table.metadata)
    radiation: dict[str, float] = {}
    for key in ("X-RAY WAVELENGTH", "WAVELENGTH"):
        value = next((v for k, v in metadata.items() if k.upper() == key), None)
        wavelength = positive_float(value)
        if wavelength is not None:
            radiation = {"wavelength": wavelength}
            break
    name = next((v for k, v in metadata.items() if k.upper() in ("NAMES", "NAME")), "")
    if name:
        metadata["sample"] = name
    if width > 2:
        metadata["ignored_columns"] = str(width - 2)
    if table.header:
        metadata["header"] = "\n".join(table.header)

    def where(i: int) -> str:
        return f"line {table.line_numbers[i]}"

    return build(
        source,
        where,
        two_theta=columns[:, 0],
        intensity=columns[:, 1],
        format="rruff",
        metadata=metadata,
        **radiation,
    )


def _steps(
    source: str, table: _Table, start: float, step: float, n: int, lam: float | None
) -> MeasuredPattern:
    """A "n step start [λ ...]" line followed by n counts (MAUD's and older Rietveld programs' .dat)."""
    counts = np.array([v for row in table.rows[1:] for v in row], dtype=np.float64)
    metadata = {"header": "\n".join(table.header), "steps_line": " ".join(f"{v:g}" for v in table.rows[0])}
    if table.header:
        metadata["sample"] = table.header[0][:200]
    offsets = np.cumsum([0] + [len(r) for r in table.rows[1:]])

    def where(i: int) -> str:
        row = int(np.searchsorted(offsets, i, side="right")) - 1
        return f"line {table.line_numbers[1 + row]}"

    return build(
        source,
        where,
        two_theta=start + step * np.arange(n, dtype=np.float64),
        intensity=counts,
        format="steps",
        metadata=metadata,
        **({} if lam is None else {"wavelength": lam}),
    )


def text_format(source: str, text: str) -> str:
    """The plain-text reader: "rruff" (``##KEY=value`` headers), else by suffix ("xye", "csv"), else "xy"."""
    for line in text.splitlines()[:200]:
        if re.match(r"\s*##[^#=]+=", line):
            return "rruff"
    return _TEXT_SUFFIXES.get(Path(source).suffix.lower(), "xy")


def is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
