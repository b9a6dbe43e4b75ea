"""Measured powder patterns: two-column text (.xy, .xye, .csv, .txt, .dat), RRUFF text, PANalytical .xrdml and
Bruker .raw version 4.

Every reader returns a :class:`MeasuredPattern` with 2θ strictly increasing (a file written from high to low
angle is reversed; any other disorder is an error) and raises :class:`PatternFileError` naming the file, and
the line or the byte offset where that helps, for anything it cannot read.

Formats and their rules
-----------------------

Text (``"xy"``, ``"xye"``, ``"csv"``): one point per line, columns separated by commas, semicolons, tabs or
spaces (mixed is fine: ``"10.0, 179.0"``). Blank lines, comment lines (starting with ``#``, ``!``, ``;`` or
``//``) and any non-numeric line before the first data line (a header row such as ``2theta,counts``) are
skipped; a non-numeric line after the data ends it (a footer), and data may not resume after it. Every data
line has the same number of columns (at least two: 2θ in degrees, intensity). A third column is σ of the
intensity when the file is ``.xye`` (or ``format="xye"``), or when it looks like counting errors
(non-negative, median σ/√y between 0.2 and 5); otherwise extra columns are ignored and
``metadata["ignored_columns"]`` says how many. Decimal commas are read only where they are unambiguous: the
columns are separated by semicolons or tabs and the first data line has no ``.``; ``"10,5 123,4"`` (spaces) is
four columns, not two numbers. A wavelength stated in a header or comment line is read:
``wavelength = 1.5406``, ``lambda: 1.54056``, ``Kα1 = 1.5406`` in Å (a unit nm or pm next to the number is
converted), ``Kα2 = 1.5444``, ``ratio = 0.5``, or a named line such as ``Cu Ka1`` (one line) or ``Cu Ka``
(the Kα1 + Kα2 doublet, ratio 0.5); values outside 0.01-10 Å are not taken as wavelengths. The header
lines are kept in ``metadata["header"]``.

RRUFF (``"rruff"``): text whose header lines are ``##KEY=value`` (``##NAMES=Quartz``, ``##RRUFFID=R040031``,
``##X-RAY WAVELENGTH=1.541838``); data lines are ``x, y``; ``##END=`` ends the data. Every key is kept in the
metadata as written, the wavelength comes from ``X-RAY WAVELENGTH`` or ``WAVELENGTH`` (RRUFF's 1.541838 Å is
the weighted mean of Cu Kα1 and Kα2, so ``wavelength2`` stays None).

PANalytical XRDML (``"xrdml"``, any schema version ``http://www.xrdml.com/XRDMeasurement/x.y``): the first
``<scan>`` of the first ``<xrdMeasurement>``. 2θ comes from its ``<positions axis="2Theta">``, either
``<startPosition>``/``<endPosition>`` (equally spaced over the points) or ``<listPositions>``; a scan whose 2θ
is a ``<commonPosition>`` (fixed) is not a powder pattern and is refused. Intensities: ``<intensities>``
(schema 1.x, already corrected for the beam attenuator) as stored; raw ``<counts>`` (schema 2.x) multiplied by
``<beamAttenuationFactors>`` or ``<commonBeamAttenuationFactor>`` when the file gives them, as PANalytical's
software does. Counts are not divided by the counting time (it is in ``metadata["counting_time_s"]``), so a
pattern keeps its Poisson statistics. The wavelength is ``<usedWavelength>``: ``kAlpha1``, ``kAlpha2``,
``ratioKAlpha2KAlpha1``.

Bruker RAW version 4 (``"raw"``, files starting with ``RAW4.00``; older ``RAW``, ``RAW2`` and ``RAW1.01``
files are refused with a message). The layout, as documented by the open readers (xylib's ``bruker_raw.cpp``,
GSAS-II's ``G2pwd_BrukerRAW.py``) and not by a Bruker specification: all numbers little-endian. File header of
61 bytes: the magic at 0, the measurement date (12 characters) at 12 and time (10) at 24. Then metadata
segments, each ``uint32 type, uint32 length`` (length includes these 8 bytes): type 10 is a text variable
(name: 24 characters at +12, value: the rest from +36), type 30 the X-ray source (float64 mean Kα, Kα1, Kα2,
Kβ and Kα2/Kα1 ratio at +72, +80, +88, +96, +104; anode, 4 characters, at +116). A segment type of 0 or 160
starts a range (a scan); its 160-byte header has the scan type (24 characters) at +32, float64 start angle at
+72 and step at +80, uint32 number of steps at +88, float32 time per step at +92, float32 generator kV and mA
at +100 and +104, float64 wavelength used at +112, uint32 bytes per datum at +136 and uint32 size of the
supplementary headers that follow the 160 bytes at +140; then the counts, float32 each. Only the first range
whose scan type is a 2θ scan ("Locked Coupled", "Unlocked Coupled", "Detector Scan", or a name with "2Theta"
or "TwoTheta") is read; ``metadata["ranges"]`` gives how many the file has. The start angle is the 2θ of the
first step. Uncertain in the public descriptions, and not used: the bytes 4-11 and 34-60 of the file header,
bytes 4-31 of a range header, and the time-per-step unit (stored as found in ``metadata["time_per_step"]``).
"""

from __future__ import annotations

import math
import os
import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["MeasuredPattern", "PatternFileError", "read_pattern"]

FORMATS = ("xy", "xye", "csv", "xrdml", "raw", "rruff")
"""The values of :attr:`MeasuredPattern.format` (and of ``read_pattern(format=...)``)."""

_TEXT_SUFFIXES = {".xye": "xye", ".csv": "csv"}
_COMMENT_PREFIXES = ("#", "!", ";", "//")
_SNIFF_BYTES = 4096
_XRDML_NAMESPACE = "http://www.xrdml.com/XRDMeasurement/"
_RAW4_MAGIC = b"RAW4.00"
_RAW_OLD_MAGICS = {b"RAW ": "1", b"RAW2": "2", b"RAW1": "3 (RAW1.01)"}
# A third text column is sigma when its median ratio to sqrt(y) lies in this range (counting errors).
_SIGMA_RATIO_RANGE = (0.2, 5.0)
# Header numbers outside this range (Å) are not taken as wavelengths.
_WAVELENGTH_RANGE = (0.01, 10.0)
_UNIT_TO_ANGSTROM = {"nm": 10.0, "pm": 0.01}


class PatternFileError(ValueError):
    """A measured pattern file that cannot be read.

    Subclasses :class:`ValueError`. The message starts with the file and, where it helps, the line or byte
    offset, e.g. ``"scan.xy: line 12: 3 columns, but the data started with 2"``. A missing file raises a
    subclass that is also a :class:`FileNotFoundError`, so ``except OSError`` catches it as well.
    """


class _MissingPatternFile(PatternFileError, FileNotFoundError):
    """The path does not exist (both a PatternFileError and a FileNotFoundError)."""


def _frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class MeasuredPattern:
    """A measured powder pattern read from a file (see :func:`read_pattern`).

    Built directly, the arrays are copied to float64 and validated; they are stored read-only. Use
    ``dataclasses.replace(pattern, intensity=...)`` for a modified copy.

    Attributes:
        two_theta: (N,) float64 scattering angles 2θ in degrees, strictly increasing, N >= 2.
        intensity: (N,) float64 intensities as the file stores them (counts, counts per second or arbitrary
            units; nothing is normalised).
        sigma: (N,) float64 non-negative standard uncertainties of the intensities (the third column of an
            .xye file), or None.
        wavelength: the wavelength in Å the file states (Kα1 for a Kα1/Kα2 doublet), or None.
        wavelength2: Kα2 in Å when the file states a doublet, else None.
        ratio: intensity ratio Kα2/Kα1 of the doublet when the file states it, else None.
        source: the path the pattern was read from ("" when built in memory).
        format: the reader used: "xy", "xye", "csv", "xrdml", "raw" or "rruff" (any string when built
            directly).
        metadata: what else the file says, as strings. Keys shared by the readers where the file has the
            information: ``"sample"``, ``"anode"``, ``"date"``; format-specific keys are described in
            :func:`read_pattern`.

    Equality is identity; compare the arrays.
    """

    two_theta: npt.NDArray[np.float64]
    intensity: npt.NDArray[np.float64]
    sigma: npt.NDArray[np.float64] | None = None
    wavelength: float | None = None
    wavelength2: float | None = None
    ratio: float | None = None
    source: str = ""
    format: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        two_theta = _float_vector(self.two_theta, "two_theta")
        n = two_theta.shape[0]
        if n < 2:
            raise ValueError(f"a pattern needs at least 2 points, got {n}")
        steps = np.diff(two_theta)
        if not np.all(steps > 0):
            i = int(np.flatnonzero(steps <= 0)[0])
            raise ValueError(
                f"two_theta must be strictly increasing; point {i + 1} ({two_theta[i + 1]:g}) "
                f"follows {two_theta[i]:g}"
            )
        intensity = _float_vector(self.intensity, "intensity", n)
        sigma = None
        if self.sigma is not None:
            sigma = _float_vector(self.sigma, "sigma", n)
            if np.any(sigma < 0):
                raise ValueError(f"sigma must be non-negative, got {sigma[sigma < 0][0]:g}")
        for name in ("wavelength", "wavelength2", "ratio"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
                raise ValueError(f"{name} must be a number or None, got {value!r}")
            value = float(value)
            positive = name != "ratio"
            if not math.isfinite(value) or value < 0 or (positive and value == 0):
                raise ValueError(
                    f"{name} must be finite and {'> 0 (Å)' if positive else '>= 0'}, got {value!r}"
                )
            object.__setattr__(self, name, value)
        object.__setattr__(self, "two_theta", _frozen(two_theta))
        object.__setattr__(self, "intensity", _frozen(intensity))
        object.__setattr__(self, "sigma", None if sigma is None else _frozen(sigma))
        object.__setattr__(self, "source", str(self.source))
        object.__setattr__(self, "format", str(self.format))
        object.__setattr__(self, "metadata", {str(k): str(v) for k, v in dict(self.metadata).items()})

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild through __init__ so that unpickled arrays are validated and read-only again.
        return (
            type(self),
            (
                self.two_theta,
                self.intensity,
                self.sigma,
                self.wavelength,
                self.wavelength2,
                self.ratio,
                self.source,
                self.format,
                self.metadata,
            ),
        )

    def __len__(self) -> int:
        return int(self.two_theta.shape[0])

    def __repr__(self) -> str:
        if self.wavelength is None:
            radiation = "wavelength unknown"
        elif self.wavelength2 is None:
            radiation = f"λ={self.wavelength:g} Å"
        else:
            ratio = "" if self.ratio is None else f", ratio {self.ratio:g}"
            radiation = f"λ={self.wavelength:g}/{self.wavelength2:g} Å{ratio}"
        sample = f", sample={self.metadata['sample']!r}" if self.metadata.get("sample") else ""
        sigma = ", with sigma" if self.sigma is not None else ""
        return (
            f"MeasuredPattern({len(self)} points, 2θ {self.two_theta[0]:g}-{self.two_theta[-1]:g}°, "
            f"{radiation}{sigma}, format={self.format!r}{sample}, source={self.source!r})"
        )


def _float_vector(value: Any, name: str, n: int | None = None) -> npt.NDArray[np.float64]:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    try:
        array = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D array of numbers") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if n is not None and array.shape[0] != n:
        raise ValueError(f"{name} must have {n} values to match two_theta, got {array.shape[0]}")
    if not np.all(np.isfinite(array)):
        i = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"{name} has a non-finite value at point {i + 1} ({array[i]})")
    return array


# ---------------------------------------------------------------------------------------------------------
# Dispatch


def read_pattern(path: str | os.PathLike[str], format: str | None = None) -> MeasuredPattern:
    """Read a measured powder pattern.

    Args:
        path: the file.
        format: one of "xy", "xye", "csv", "rruff" (text), "xrdml" or "raw"; None (default) picks the reader
            from the content: XML in the XRDML namespace is ``"xrdml"``, a binary file starting with
            ``RAW4.00`` is ``"raw"``, text with ``##KEY=value`` header lines is ``"rruff"``, other text is
            ``"xye"`` when it has a σ column (always for a ``.xye`` file), ``"csv"`` for a ``.csv`` file and
            ``"xy"`` otherwise. ``format="xye"`` requires the third column to be σ.

    Returns:
        The pattern; ``format`` says which reader was used. The metadata keys are, where the file has them:
        text: ``"header"`` (the header and comment lines), ``"ignored_columns"``; RRUFF: every ``##`` key as
        written (``"NAMES"``, ``"RRUFFID"``, ...) and ``"sample"`` (the name); XRDML: ``"sample"``,
        ``"sample_id"``, ``"anode"``, ``"tube_kv"``, ``"tube_ma"``, ``"date"`` (start time stamp),
        ``"scan_axis"``, ``"scan_mode"``, ``"counting_time_s"``, ``"intensity_unit"``,
        ``"intended_wavelength"``, ``"comment"``, ``"scans"`` (when more than one); RAW: ``"date"``,
        ``"time"``, ``"anode"``, ``"scan_type"``, ``"time_per_step"``, ``"tube_kv"``, ``"tube_ma"``,
        ``"ranges"`` and every text variable of the file under its own name.

    Raises:
        PatternFileError: no such file (also a FileNotFoundError), an empty file, a binary file of no known
            format, unparsable content, fewer than 2 points, non-finite values, 2θ not monotonic,
            inconsistent column counts. The message names the file and the line (text) or byte offset
            (binary) where it can.
        ValueError: an unknown ``format``.
    """
    source = os.fspath(path)
    if format is not None and format not in FORMATS:
        raise ValueError(f"unknown pattern format {format!r}; expected one of {', '.join(FORMATS)} or None")
    file = Path(source)
    if not file.exists():
        raise _MissingPatternFile(f"{source}: no such file")
    if file.is_dir():
        raise PatternFileError(f"{source}: is a directory, not a pattern file")
    data = file.read_bytes()
    if not data.strip():
        raise PatternFileError(f"{source}: empty file")
    if format is None:
        format = _sniff(source, data)
    reader: Callable[[str, bytes, str], MeasuredPattern] = {
        "xrdml": _read_xrdml,
        "raw": _read_raw4,
    }.get(format, _read_text)
    return reader(source, data, format)


def _sniff(source: str, data: bytes) -> str:
    if data.startswith(_RAW4_MAGIC):
        return "raw"
    head = data[:_SNIFF_BYTES]
    if data[:4] in _RAW_OLD_MAGICS:
        version = _RAW_OLD_MAGICS[data[:4]]
        raise PatternFileError(f"{source}: Bruker RAW version {version} is not supported (only RAW4.00)")
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        if _XRDML_NAMESPACE.encode() in head or b"www.xrdml.com" in head:
            return "xrdml"
        raise PatternFileError(
            f"{source}: an XML file that is not XRDML (no {_XRDML_NAMESPACE}... namespace)"
        )
    text = _decode(source, data)
    for line in text.splitlines()[:200]:
        if re.match(r"\s*##[^#=]+=", line):
            return "rruff"
    suffix = Path(source).suffix.lower()
    return _TEXT_SUFFIXES.get(suffix, "xy")


def _decode(source: str, data: bytes) -> str:
    """Text of a text file: UTF-16 with a BOM, else UTF-8 (BOM allowed), else Latin-1; binary refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise PatternFileError(f"{source}: not valid UTF-16 text despite its byte-order mark") from None
    nul = data.find(b"\x00")
    if nul >= 0:
        raise PatternFileError(
            f"{source}: a binary file (NUL byte at offset {nul}) of no known format "
            "(readable: text, .xrdml, Bruker RAW4.00)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # old instrument software writes Latin-1 ("°", "Å"); any byte decodes


def _build(source: str, where: Callable[[int], str], **fields: Any) -> MeasuredPattern:
    """MeasuredPattern from raw arrays: reversed when 2θ decreases; errors name the file and place."""
    two_theta = np.asarray(fields["two_theta"], dtype=np.float64)
    arrays = {k: fields[k] for k in ("two_theta", "intensity", "sigma") if fields.get(k) is not None}
    if two_theta.shape[0] < 2:
        raise PatternFileError(f"{source}: {two_theta.shape[0]} data point(s); a pattern needs at least 2")
    for name, array in arrays.items():
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise PatternFileError(f"{source}: {where(int(bad[0]))}: non-finite {name} ({array[bad[0]]})")
    steps = np.diff(two_theta)
    if np.all(steps < 0):  # written from high to low angle
        arrays = {k: np.asarray(v)[::-1] for k, v in arrays.items()}
    elif not np.all(steps > 0):
        bad = steps <= 0 if steps[0] > 0 else steps >= 0
        i = int(np.flatnonzero(bad)[0]) + 1
        raise PatternFileError(
            f"{source}: {where(i)}: 2θ is not monotonic ({two_theta[i]:g} after {two_theta[i - 1]:g})"
        )
    try:
        return MeasuredPattern(**{**fields, **arrays, "source": source})
    except ValueError as exc:
        raise PatternFileError(f"{source}: {exc}") from None


# ---------------------------------------------------------------------------------------------------------
# Text: .xy, .xye, .csv, RRUFF

_NUMBER = r"(?P<value>[0-9]*\.[0-9]+(?:[eE][-+]?[0-9]+)?)(?:\s*(?P<unit>nm|pm)\b)?"
# "Kα1", "K-alpha 1", "CuKa1": a K not inside a word, unless an anode symbol precedes it.
_KALPHA = r"(?:(?<![a-z])|(?<=cu|mo|co|cr|fe|ag))k\s*[-_]?\s*(?:alpha|α|a)\s*[-_]?\s*"
_GAP = r"(?![0-9.])(?P<gap>[^0-9\n]{0,24}?)"
_HEADER_PATTERNS = {
    "wavelength": re.compile(
        rf"(?:{_KALPHA}1|(?:wave\s*length|lambda|λ)(?:\s*[-_]?\s*1)?){_GAP}{_NUMBER}", re.IGNORECASE
    ),
    "wavelength2": re.compile(
        rf"(?:{_KALPHA}2|(?:wave\s*length|lambda|λ)\s*[-_]?\s*2){_GAP}{_NUMBER}", re.IGNORECASE
    ),
    # "ratio 0.5", "ratio Kα2/Kα1 = 0.5": a label may hold digits, so it ends at ":" or "=".
    "ratio": re.compile(rf"ratio(?:[^:=\n]{{0,30}}[:=]|\s)\s*{_NUMBER}", re.IGNORECASE),
}
_NAMED_LINE = re.compile(rf"\b(cu|mo|co|cr|fe|ag)\s*[-_]?\s*{_KALPHA}([12])?(?![0-9a-z])", re.IGNORECASE)
_SPLIT = re.compile(r"\s*[,;]\s*|\s+")
_SPLIT_DECIMAL_COMMA = re.compile(r"\s*;\s*|\s+")
_DECIMAL_COMMA_TOKEN = re.compile(r"-?[0-9]+,[0-9]+")


def _header_radiation(lines: list[str]) -> dict[str, float]:
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
                value *= _UNIT_TO_ANGSTROM.get(unit, 1.0)
                if not _WAVELENGTH_RANGE[0] <= value <= _WAVELENGTH_RANGE[1]:
                    continue
            found[key] = value
        match = _NAMED_LINE.search(line)
        if match is not None and not named:
            named = _named_lines(match.group(1), match.group(2))
    radiation = found if "wavelength" in found else {**named, **found}
    if "wavelength" not in radiation:
        return {}
    if "wavelength2" not in radiation:
        radiation.pop("ratio", None)  # a ratio means nothing without the second line
    return radiation


def _named_lines(anode: str, line: str | None) -> dict[str, float]:
    from ..simulate import KALPHA2_RATIO, WAVELENGTHS  # the one table of line wavelengths (Hölzer et al.)

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


def _numbers(tokens: list[str]) -> list[float] | None:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        return None


def _read_text(source: str, data: bytes, format: str) -> MeasuredPattern:
    text = _decode(source, data)
    header: list[str] = []
    metadata: dict[str, str] = {}
    rows: list[list[float]] = []
    line_numbers: list[int] = []
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
        if line.startswith(_COMMENT_PREFIXES):
            header.append(line)
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
            continue
        if ended_at is not None:
            raise PatternFileError(
                f"{source}: line {ended_at[0]}: not numeric ({ended_at[1][:60]!r}), but data continue at "
                f"line {number}"
            )
        if not rows and len(values) < 2:
            raise PatternFileError(f"{source}: line {number}: one column; need 2θ and intensity")
        if rows and len(values) != len(rows[0]):
            raise PatternFileError(
                f"{source}: line {number}: {len(values)} columns, but the data started with {len(rows[0])} "
                f"(line {line_numbers[0]})"
            )
        rows.append(values)
        line_numbers.append(number)
    if not rows:
        raise PatternFileError(f"{source}: no numeric data lines")

    table = np.array(rows, dtype=np.float64)
    two_theta, intensity = table[:, 0], table[:, 1]
    sigma = None
    extra = table.shape[1] - 2
    if format == "xye":
        if extra < 1:
            raise PatternFileError(f"{source}: an .xye file needs a third column (sigma); the data have 2")
        sigma = table[:, 2]
        negative = np.flatnonzero(sigma < 0)
        if negative.size:
            line = line_numbers[int(negative[0])]
            raise PatternFileError(f"{source}: line {line}: negative sigma {sigma[negative[0]]:g}")
        format = "xye"
    elif extra >= 1 and format != "rruff" and _looks_like_sigma(table[:, 1], table[:, 2]):
        sigma = table[:, 2]
        format = "xye"
    used = 2 if sigma is None else 3
    if table.shape[1] > used:
        metadata["ignored_columns"] = str(table.shape[1] - used)

    radiation: dict[str, float] = {}
    if format == "rruff":
        for key in ("X-RAY WAVELENGTH", "WAVELENGTH"):
            value = next((v for k, v in metadata.items() if k.upper() == key), None)
            wavelength = _positive_float(value)
            if wavelength is not None:
                radiation = {"wavelength": wavelength}
                break
        name = next((v for k, v in metadata.items() if k.upper() in ("NAMES", "NAME")), "")
        if name:
            metadata["sample"] = name
    else:
        radiation = _header_radiation(header)
    if header:
        metadata["header"] = "\n".join(header)

    def where(i: int) -> str:
        return f"line {line_numbers[i]}"

    return _build(
        source,
        where,
        two_theta=two_theta,
        intensity=intensity,
        sigma=sigma,
        format=format,
        metadata=metadata,
        **radiation,
    )


def _positive_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.split()[0]) if value.split() else math.nan
    except ValueError:
        return None
    return number if math.isfinite(number) and number > 0 else None


def _looks_like_sigma(y: npt.NDArray[np.float64], s: npt.NDArray[np.float64]) -> bool:
    """Whether a third column is counting errors: non-negative and of the order of sqrt(y)."""
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        return False
    ratio = float(np.median(s / np.sqrt(np.maximum(np.abs(y), 1.0))))
    return _SIGMA_RATIO_RANGE[0] <= ratio <= _SIGMA_RATIO_RANGE[1]


# ---------------------------------------------------------------------------------------------------------
# PANalytical XRDML


def _floats(source: str, element: ET.Element, what: str) -> npt.NDArray[np.float64]:
    try:
        return np.array([float(t) for t in (element.text or "").split()], dtype=np.float64)
    except ValueError as exc:
        raise PatternFileError(f"{source}: <{what}> holds a non-number ({exc})") from None


def _read_xrdml(source: str, data: bytes, format: str) -> MeasuredPattern:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise PatternFileError(f"{source}: not well-formed XML ({exc})") from None
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    if not namespace.startswith(_XRDML_NAMESPACE):
        raise PatternFileError(
            f"{source}: not an XRDML file (root <{root.tag}>, expected namespace {_XRDML_NAMESPACE}<version>)"
        )

    def q(path: str) -> str:
        return "/".join(f"{{{namespace}}}{part}" for part in path.split("/"))

    def text_of(element: ET.Element | None, path: str) -> str:
        found = None if element is None else element.find(q(path))
        return (found.text or "").strip() if found is not None else ""

    measurement = root.find(q("xrdMeasurement"))
    if measurement is None:
        raise PatternFileError(f"{source}: no <xrdMeasurement>")
    scans = measurement.findall(q("scan"))
    if not scans:
        raise PatternFileError(f"{source}: no <scan> in the <xrdMeasurement>")
    scan = scans[0]
    points = scan.find(q("dataPoints"))
    if points is None:
        raise PatternFileError(f"{source}: the first <scan> has no <dataPoints>")

    values_element = points.find(q("intensities"))
    raw_counts = values_element is None
    if raw_counts:
        values_element = points.find(q("counts"))
    if values_element is None:
        raise PatternFileError(f"{source}: the first <scan> has neither <intensities> nor <counts>")
    intensity = _floats(source, values_element, "intensities" if not raw_counts else "counts")
    n = intensity.shape[0]
    if n < 2:
        raise PatternFileError(f"{source}: {n} data point(s); a pattern needs at least 2")

    positions = next((p for p in points.findall(q("positions")) if p.get("axis") == "2Theta"), None)
    if positions is None:
        raise PatternFileError(f'{source}: no <positions axis="2Theta"> in the first scan')
    start, end = positions.find(q("startPosition")), positions.find(q("endPosition"))
    listed = positions.find(q("listPositions"))
    if listed is not None:
        two_theta = _floats(source, listed, "listPositions")
        if two_theta.shape[0] != n:
            raise PatternFileError(f"{source}: {two_theta.shape[0]} <listPositions> for {n} intensities")
    elif start is not None and end is not None:
        first, last = _floats(source, start, "startPosition"), _floats(source, end, "endPosition")
        if first.shape != (1,) or last.shape != (1,):
            raise PatternFileError(f"{source}: <startPosition>/<endPosition> must hold one number each")
        two_theta = np.linspace(first[0], last[0], n)
    elif positions.find(q("commonPosition")) is not None:
        raise PatternFileError(f"{source}: 2θ is fixed (<commonPosition>) in the first scan: not a 2θ scan")
    else:
        raise PatternFileError(f"{source}: the 2Theta <positions> give no start/end or list")

    if raw_counts:
        factors = points.find(q("beamAttenuationFactors"))
        common = points.find(q("commonBeamAttenuationFactor"))
        if factors is not None:
            factor = _floats(source, factors, "beamAttenuationFactors")
            if factor.shape[0] not in (1, n):
                raise PatternFileError(f"{source}: {factor.shape[0]} beamAttenuationFactors for {n} counts")
            intensity = intensity * factor
        elif common is not None:
            intensity = intensity * _floats(source, common, "commonBeamAttenuationFactor")[:1]

    radiation: dict[str, float] = {}
    used = measurement.find(q("usedWavelength"))
    if used is not None:
        for key, tag in (
            ("wavelength", "kAlpha1"),
            ("wavelength2", "kAlpha2"),
            ("ratio", "ratioKAlpha2KAlpha1"),
        ):
            element = used.find(q(tag))
            if element is None:
                continue
            value = _positive_float(element.text)
            if value is None:
                raise PatternFileError(f"{source}: <{tag}> is not a positive number: {element.text!r}")
            if key != "ratio" and (element.get("unit") or "").lower() in _UNIT_TO_ANGSTROM:
                value *= _UNIT_TO_ANGSTROM[(element.get("unit") or "").lower()]
            radiation[key] = value
        if "wavelength" not in radiation:
            radiation.clear()

    metadata: dict[str, str] = {}
    sample = root.find(q("sample"))
    tube = measurement.find(q("incidentBeamPath/xRayTube"))
    counting = points.find(q("commonCountingTime"))
    entries = [e.text.strip() for e in root.findall(q("comment/entry")) if e.text and e.text.strip()]
    candidates = {
        "sample": text_of(sample, "name") or text_of(sample, "id"),
        "sample_id": text_of(sample, "id"),
        "anode": text_of(tube, "anodeMaterial"),
        "tube_kv": text_of(tube, "tension"),
        "tube_ma": text_of(tube, "current"),
        "date": text_of(scan, "header/startTimeStamp"),
        "scan_axis": scan.get("scanAxis", ""),
        "scan_mode": scan.get("mode", ""),
        "counting_time_s": (counting.text or "").strip() if counting is not None else "",
        "intensity_unit": values_element.get("unit", ""),
        "intended_wavelength": "" if used is None else used.get("intended", ""),
        "comment": "\n".join(entries),
        "scans": str(len(scans)) if len(scans) > 1 else "",
    }
    metadata.update({k: v for k, v in candidates.items() if v})

    def where(i: int) -> str:
        return f"point {i + 1}"

    return _build(
        source,
        where,
        two_theta=two_theta,
        intensity=intensity,
        format="xrdml",
        metadata=metadata,
        **radiation,
    )


# ---------------------------------------------------------------------------------------------------------
# Bruker RAW version 4

_RAW4_FILE_HEADER = 61
_RAW4_RANGE_HEADER = 160
_RAW4_RANGE_TYPES = (0, 160)
_RAW4_VARIABLE, _RAW4_SOURCE = 10, 30
_RAW4_TWO_THETA_SCANS = ("locked coupled", "unlocked coupled", "detector scan")


class _Bytes:
    """Little-endian reads at absolute offsets, with errors that name the file and the offset."""

    def __init__(self, source: str, data: bytes) -> None:
        self.source = source
        self.data = data

    def _unpack(self, fmt: str, offset: int) -> Any:
        size = struct.calcsize(fmt)
        if offset < 0 or offset + size > len(self.data):
            raise PatternFileError(
                f"{self.source}: truncated Bruker RAW4 file: needs {size} bytes at offset {offset}, "
                f"the file has {len(self.data)}"
            )
        return struct.unpack_from(fmt, self.data, offset)[0]

    def u32(self, offset: int) -> int:
        return int(self._unpack("<I", offset))

    def f32(self, offset: int) -> float:
        return float(self._unpack("<f", offset))

    def f64(self, offset: int) -> float:
        return float(self._unpack("<d", offset))

    def text(self, offset: int, size: int) -> str:
        if offset + size > len(self.data):
            raise PatternFileError(f"{self.source}: truncated Bruker RAW4 file at offset {offset}")
        return self.data[offset : offset + size].split(b"\x00", 1)[0].decode("latin-1").strip()


def _is_two_theta_scan(scan_type: str) -> bool:
    name = scan_type.lower()
    return name in _RAW4_TWO_THETA_SCANS or "2theta" in name or "twotheta" in name


def _read_raw4(source: str, data: bytes, format: str) -> MeasuredPattern:
    if not data.startswith(_RAW4_MAGIC):
        raise PatternFileError(f"{source}: not a Bruker RAW4.00 file (starts with {data[:7]!r})")
    raw = _Bytes(source, data)
    metadata = {"date": raw.text(12, 12), "time": raw.text(24, 10)}
    radiation: dict[str, float] = {}

    offset = _RAW4_FILE_HEADER
    while True:  # metadata segments up to the first range
        kind = raw.u32(offset)
        if kind in _RAW4_RANGE_TYPES:
            break
        length = raw.u32(offset + 4)
        if length < 8:
            raise PatternFileError(f"{source}: segment of type {kind} at offset {offset} has length {length}")
        if kind == _RAW4_VARIABLE and length >= 36:
            name = raw.text(offset + 12, 24)
            if name:
                metadata[name] = raw.text(offset + 36, length - 36)
        elif kind == _RAW4_SOURCE and length >= 120:
            ka1, ka2, ratio = raw.f64(offset + 80), raw.f64(offset + 88), raw.f64(offset + 104)
            if ka1 > 0:
                radiation["wavelength"] = ka1
                if ka2 > 0 and not math.isclose(ka1, ka2):
                    radiation["wavelength2"] = ka2
                    if ratio >= 0:
                        radiation["ratio"] = ratio
            metadata["anode"] = raw.text(offset + 116, 4)
        offset += length

    ranges: list[tuple[int, str, int, int]] = []  # (header offset, scan type, steps, data offset)
    while offset < len(data):
        kind = raw.u32(offset)
        if kind not in _RAW4_RANGE_TYPES:
            raise PatternFileError(f"{source}: expected a range header (type 0 or 160) at offset {offset}")
        steps, datum = raw.u32(offset + 88), raw.u32(offset + 136)
        data_offset = offset + _RAW4_RANGE_HEADER + raw.u32(offset + 140)
        if datum != 4:
            raise PatternFileError(
                f"{source}: range at offset {offset}: {datum}-byte data, expected 4 (float32)"
            )
        ranges.append((offset, raw.text(offset + 32, 24), steps, data_offset))
        offset = data_offset + datum * steps
        if offset > len(data):
            raise PatternFileError(
                f"{source}: truncated Bruker RAW4 file: range at offset {ranges[-1][0]} needs {steps} counts "
                f"up to offset {offset}, the file has {len(data)} bytes"
            )
    if not ranges:
        raise PatternFileError(f"{source}: no range (scan) in the Bruker RAW4 file")
    chosen = next((r for r in ranges if _is_two_theta_scan(r[1])), None)
    if chosen is None:
        types = ", ".join(sorted({r[1] or "(unnamed)" for r in ranges}))
        raise PatternFileError(f"{source}: no 2θ scan in the file (scan types: {types})")
    header, scan_type, steps, data_offset = chosen
    start, step = raw.f64(header + 72), raw.f64(header + 80)
    if not (math.isfinite(start) and math.isfinite(step)) or step == 0:
        raise PatternFileError(
            f"{source}: range at offset {header}: start {start} and step {step} are unusable"
        )
    intensity = np.frombuffer(data, dtype="<f4", count=steps, offset=data_offset).astype(np.float64)
    if "wavelength" not in radiation:
        used = raw.f64(header + 112)
        if math.isfinite(used) and used > 0:
            radiation["wavelength"] = used
    metadata.update(
        scan_type=scan_type,
        time_per_step=f"{raw.f32(header + 92):g}",
        tube_kv=f"{raw.f32(header + 100):g}",
        tube_ma=f"{raw.f32(header + 104):g}",
        ranges=str(len(ranges)),
    )
    metadata = {k: v for k, v in metadata.items() if v}

    def where(i: int) -> str:
        return f"step {i + 1} (offset {data_offset + 4 * i})"

    return _build(
        source,
        where,
        two_theta=start + step * np.arange(steps, dtype=np.float64),
        intensity=intensity,
        format="raw",
        metadata=metadata,
        **radiation,
    )
