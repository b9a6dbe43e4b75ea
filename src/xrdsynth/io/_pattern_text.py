"""Text patterns: columns (.xy, .xye, .csv, .txt, .dat), RRUFF, and a start/step header over a list of counts.

The rules (which lines are data, which column is σ, which header line states the wavelength, what the x
axis is) are written in :func:`xrdsynth.io.read_pattern`; the comments here say why.
"""

from __future__ import annotations

import collections
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ._pattern_base import (
    COMPRESSED_SUFFIXES,
    UNIT_TO_ANGSTROM,
    WAVELENGTH_RANGE,
    MeasuredPattern,
    PatternFileError,
    Ranges,
    build,
    header_number,
    positive_float,
    two_theta_from_d,
    two_theta_from_q,
)

COMMENT_PREFIXES = ("#", "!", ";", "//", "/*", "*/", "'")
# A third text column is sigma when its median ratio to sqrt(y) lies in this range (counting errors).
_SIGMA_RATIO_RANGE = (0.2, 5.0)
# ... unless it is an evenly spaced, monotonic column of at least this many points (an axis).
_MIN_AXIS_POINTS = 10
# From this many columns on, rows whose first column is not an even angle axis are a block of counts.
_BLOCK_COLUMNS = 4
# ... or whose first column's largest step exceeds its smallest this many times.
_MAX_STEP_SPREAD = 20.0


# A first line up to this long may hold binary padding (see decode).
_TITLE_BYTES = 256
# Bytes looked at to tell UTF-16 text without its byte-order mark (see decode).
_SNIFF_UTF16 = 512
# Binary files people hand over instead of a pattern: their magic bytes, what they are, what to do instead.
_OTHER_BINARIES = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 file (an old Excel .xls?)", "save it as .xlsx or .csv"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (NeXus?)", "export the 1-D pattern as .xy"),
    (b"\x89PNG", "a PNG image", "give the data the plot was made from"),
    (b"\xff\xd8\xff", "a JPEG image", "give the data the plot was made from"),
    (b"II*\x00", "a TIFF image (a 2-D detector frame?)", "integrate it to a 1-D pattern first"),
    (b"MM\x00*", "a TIFF image (a 2-D detector frame?)", "integrate it to a 1-D pattern first"),
    (b"%PDF", "a PDF document", "give the data the plot was made from"),
)  # fmt: skip


def _utf16_without_bom(head: bytes) -> bool:
    """Whether ``head`` reads as UTF-16 text of ASCII characters (little- or big-endian): at least 8
    characters, every other byte NUL, the others printable or white space."""
    if len(head) < 16:
        return False
    head = head[: len(head) // 2 * 2]
    for text, zeros in ((head[0::2], head[1::2]), (head[1::2], head[0::2])):
        if not zeros.strip(b"\x00") and all(32 <= c < 127 or c in (9, 10, 13) for c in text):
            return True
    return False


def decode(source: str, data: bytes, legacy: tuple[str, ...] = ()) -> str:
    """Text of a text file: UTF-16 with a BOM (or plainly UTF-16), else UTF-8 (BOM allowed), else the first
    of ``legacy`` that decodes it (a vendor's own: Rigaku's Shift-JIS), else Latin-1; binary refused."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise PatternFileError(f"{source}: not valid UTF-16 text despite its byte-order mark") from None
    if _utf16_without_bom(data[:_SNIFF_UTF16]):
        # Text saved as "Unicode" without its byte-order mark: every other byte NUL, the rest text.
        try:
            return data.decode("utf-16-le" if data[1] == 0 else "utf-16-be")
        except UnicodeDecodeError:
            pass  # not text after all: the binary file it looks like below
    nul = data.find(b"\x00")
    title_end = data.find(b"\n")
    if 0 <= nul < title_end <= _TITLE_BYTES and data.find(b"\x00", title_end) < 0:
        # Binary bytes in the first line only: a fixed-width title record padded with whatever was in memory
        # (Fortran writers of GSAS files); the title is kept without them, the rest is text.
        title = bytes(b if 32 <= b < 127 or b == 9 else 32 for b in data[:title_end])
        data = title.rstrip() + data[title_end:]
        nul = -1
    if nul >= 0:
        for magic, what, instead in _OTHER_BINARIES:
            if data.startswith(magic):
                raise PatternFileError(f"{source}: {what}, not a pattern file ({instead})")
        raise PatternFileError(
            f"{source}: a binary file (NUL byte at offset {nul}) of no known format (readable binary "
            "formats: Bruker RAW v1-v4 and .brml, Rigaku .rasx, STOE .raw, Philips .rd/.sd, .xlsx, zip; "
            "text: columns, .xrdml, GSAS, UXD, .ras, .asc, .cpi, .udf, powder CIF)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for encoding in legacy:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
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
# Anodes whose lines a file may name instead of stating a wavelength (the simulator's table has their lines).
_ANODES = ("Cu", "Mo", "Co", "Cr", "Fe", "Ag")
_NAMED_LINE = re.compile(rf"\b({'|'.join(_ANODES)})\s*[-_]?\s*{_KALPHA}([12])?(?![0-9a-z])", re.IGNORECASE)


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
    "energy", "channel", "angle" (a goniometer angle other than 2θ) or "pdf" (r of a G(r), or total
    scattering); ``unit`` is "1/Å"/"1/nm" for Q, "Å"/"nm" for d, "" when unknown; ``said`` quotes the words
    that declared it."""

    kind: str
    unit: str
    said: str


_TOF_WORDS = re.compile(r"time[\s_-]*of[\s_-]*flight|\btof\b", re.IGNORECASE)
# "Energy-dispersive diffraction", not an energy-dispersive detector (a LynxEye XE measures 2θ scans).
_ED_WORDS = re.compile(
    r"energy[\s_-]*dispersive\s+(?:x[\s_-]*ray\s+)?diffraction|\bed-?xrd\b|\bedxd\b", re.IGNORECASE
)
# SPEC's "#L" line labels the columns ("#L r($\AA$)  G($\AA^{-2}$)").
_LABEL_PREFIX = re.compile(r"^(?:#L\s+|[#!;'/*\s]+)?(?:(?:columns?|fields?|data)\s*[:=]\s*)?", re.IGNORECASE)
_FIRST_LABEL = re.compile(r"[\"']?([^\s,;\"'(\[]+)[\"']?(\s*[(\[][^)\]]{0,20}[)\]])?")
# Goniometer angles other than 2θ that a rocking curve, pole figure or texture scan steps (θ alone is left
# out: some exports name a θ-2θ scan by it).
_OTHER_ANGLES = frozenset(
    ("omega", "ω", "phi", "φ", "chi", "χ", "khi", "psi", "ψ", "alpha", "α", "beta", "β")
)  # fmt: skip
# A header line naming the scanned axes ("Scan axis: Phi", '# axis type : "Alpha" "Beta"', "DRIVE = 'CHI'").
_SCAN_AXIS_LINE = re.compile(
    r"[#!;*\s]*(?:scan[\s_]*axis|axis[\s_]*type|scanned[\s_]*axis|drive)\s*[:=]\s*[\"']?([^\s\"',;]+)",
    re.IGNORECASE,
)
# Keys of the header Irena (the APS USAXS software) writes over its Q, I, error columns.
_IRENA_KEY = re.compile(r"[#\s]*(?:QWave_?name|USAXSDataFolder)\s*=", re.IGNORECASE)
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
    q_word = any(w in ("q", "qvec", "qvector") for w in re.split(r"[_.-]", match.group(1).lower())[1:])
    if (token[0] == "q" and (len(token) == 1 or token[1] in "_([-/^")) or q_word:  # "q_A^-1", "DSM_Qvec"
        unit = next((u for key, u in _Q_UNITS if key in token[1:]), "")
        return XAxis("q", unit, said)
    if token == "r" or re.fullmatch(r"r[(\[].*", token):  # "r", "r(Å)", "r($\AA$)": a distance
        return XAxis("pdf", "", said)
    if token[0] == "d" and (len(token) == 1 or token[1] in "_([-" or token.startswith("dspacing")):
        if token.startswith("d_") and not re.match(r"d_(a|å|nm|ang|spacing)", token):
            return None  # "d_min", "d_sample": a label that is not the lattice spacing
        return XAxis("d", "nm" if "nm" in token else "Å", said)
    if match.group(1).lower() in _OTHER_ANGLES:
        return XAxis("angle", "", said)
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
        stated = _SCAN_AXIS_LINE.match(line)
        if stated and stated.group(1).lower() in _OTHER_ANGLES:
            return XAxis("angle", "", line.strip())
        if _IRENA_KEY.match(line):  # Irena's (APS USAXS) exports: Q in 1/Å, the intensity, its error
            return XAxis("q", "1/Å", line.strip())
    for line in header:
        match = _TOF_WORDS.search(line)
        if match:
            return XAxis("tof", "", match.group(0))
        match = _ED_WORDS.search(line)
        if match:
            return XAxis("energy", "", match.group(0))
    return XAxis("2theta", "", "")


# metadata["wavelength_from"] of a pattern whose wavelength the caller gave (its file states none).
GIVEN_WAVELENGTH = "given to the reader (the file states none)"


def _total_scattering(source: str, said: str) -> PatternFileError:
    return PatternFileError(
        f"{source}: {said!r}: a pair distribution function G(r) or a total-scattering structure function "
        "(S(Q), F(Q)), not a powder pattern"
    )


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
    if axis.kind == "pdf":
        raise _total_scattering(source, axis.said)
    if axis.kind == "angle":
        raise PatternFileError(
            f"{source}: the x axis is {axis.said!r}, a goniometer angle other than 2θ (a rocking curve, pole "
            "figure or texture scan), not a powder pattern's 2θ"
        )
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
            "which the file does not state (give it: read_pattern(..., wavelength=...), xrdsynth classify "
            f"--wavelength, or build the pattern with MeasuredPattern.{helper}(..., wavelength=...))"
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
# A number with a decimal comma, also in scientific notation ("10,02", "2,127e+02").
_DECIMAL_COMMA_NUMBER = re.compile(r"[-+]?[0-9]+,[0-9]+(?:[eE][-+]?[0-9]+)?")
_QUOTED_FIELD = re.compile(r'"([^"]*)"')
_QUOTED_ROW = re.compile(r'\s*"[^"]*"(?:\s*[,;\t]?\s*"[^"]*")+\s*[,;]?\s*')
_THOUSANDS = re.compile(r"-?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")


def _quoted_numbers(fields: list[str]) -> list[str]:
    """Quoted fields with their commas read: thousands separators where another field of the row has a
    decimal point ("10.02","1,234": 1234), else decimal commas ("10,02","1234,5")."""
    if any("." in f for f in fields):
        return [f.replace(",", "") if _THOUSANDS.fullmatch(f) else f for f in fields]
    return [f.replace(",", ".") if _DECIMAL_COMMA_NUMBER.fullmatch(f) else f for f in fields]


_SIGMA_LABEL = re.compile(r"^(sigma|σ|esd|e\.?s\.?d|err|error|errors|uncertainty|s\(?i\)?|di|dy|sig)", re.I)
_TEXT_SUFFIXES = {".xye": "xye", ".csv": "csv"}
# PDFgetX/PDFgui/RMCProfile's total-scattering files: G(r), F(Q), S(Q), I(Q).
_PDF_SUFFIXES = (".gr", ".fq", ".sq", ".iq")


# A number in Fortran's double-precision notation ("1.234560D+03"), as old refinement programs write them.
_FORTRAN_D = re.compile(r"([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))[dD]([-+]?[0-9]+)")
# A comment after the numbers of a data line ("10.02  1234  # peak"): '#' or '!' after white space.
_TRAILING_COMMENT = re.compile(r"\s+[#!].*$")


def _numbers(tokens: list[str]) -> list[float] | None:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        pass
    fortran = [_FORTRAN_D.fullmatch(t) for t in tokens]
    if not all(fortran):
        return None
    return [float(f"{m.group(1)}e{m.group(2)}") for m in fortran if m]


# A date or a time of day at the end of a data line (as frame-by-frame exports write each point's time stamp).
_DATE_TIME = re.compile(
    r"\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}(?:T\d{1,2}:\d{2}(?::\d{2}(?:\.\d*)?)?Z?)?"
    r"|\d{1,2}:\d{2}(?::\d{2}(?:\.\d*)?)?|[AaPp]\.?[Mm]\.?"
)


def _numbers_then_time(tokens: list[str]) -> tuple[list[float], int] | None:
    """The numbers of a data line that ends in dates or times, and how many such words follow them; None
    unless at least two numbers come first and every word after them is a date or a time."""
    count = 0
    while count < len(tokens) and is_number(tokens[count]):
        count += 1
    if count < 2 or count == len(tokens) or not all(_DATE_TIME.fullmatch(t) for t in tokens[count:]):
        return None
    return [float(t) for t in tokens[:count]], len(tokens) - count


@dataclass
class _Table:
    header: list[str]
    metadata: dict[str, str]
    rows: list[list[float]]
    line_numbers: list[int]
    label_line: str | None  # the header line right before the first data line (a column header?)
    trailing: int = 0  # date and time words after the numbers of each data line ("07/07/2022 19:15:30")


def _scan(source: str, text: str) -> _Table:
    header: list[str] = []
    metadata: dict[str, str] = {}
    rows: list[list[float]] = []
    line_numbers: list[int] = []
    label_line: str | None = None
    split = _SPLIT
    decimal_comma = False
    ended_at: tuple[int, str] | None = None  # the first non-numeric line after the data (a footer)
    trailing = 0
    in_block = False  # inside a /* ... */ comment (GSAS-II's .xye header)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip().rstrip("\x1a")
        if not line:
            continue
        if in_block or (line.startswith("/*") and "*/" not in line[2:]):
            in_block = "*/" not in (line[2:] if not in_block else line)
            if not rows:
                header.append(line)
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
            commas = [bool(_DECIMAL_COMMA_NUMBER.fullmatch(w)) for w in words]
            # Columns separated by white space whose words are all numbers with a decimal comma or whole
            # numbers ("10,02   212,7"): decimal commas (a European locale's space-separated export), unless
            # every comma could as well separate thousands ("10,000 12,345").
            if (
                not decimal_comma
                and len(words) > 1
                and any(commas)
                and all(c or w.isdigit() for c, w in zip(commas, words, strict=True))
            ):
                if all(_THOUSANDS.fullmatch(w) for w, c in zip(words, commas, strict=True) if c):
                    raise PatternFileError(
                        f"{source}: line {number}: {line[:40]!r} is ambiguous (decimal commas, or commas "
                        "between thousands?); use decimal points, or no thousands separators"
                    )
                decimal_comma, split = True, _SPLIT_DECIMAL_COMMA
        if not rows and line.startswith((",", ";")):
            # An empty first field over the data: the header of a table saved with its row index (pandas'
            # to_csv writes ",4,16.455" when the first data row became the column names).
            header.append(line)
            label_line = line
            continue
        if _QUOTED_ROW.fullmatch(line):
            # Every field in double quotes ("10,02","1234"): split at the quotes, so that a decimal comma
            # inside a field is one, whatever separates the fields.
            tokens = _quoted_numbers([t.strip() for t in _QUOTED_FIELD.findall(line)])
        else:
            body = line.replace(",", ".") if decimal_comma else line
            body = _TRAILING_COMMENT.sub("", body)
            tokens = [t.strip("\"'") for t in split.split(body.rstrip(",; \t")) if t]
        values = _numbers(tokens)
        if values is None and not decimal_comma:
            stamped = _numbers_then_time(tokens)
            if stamped is not None:
                values, words = stamped
                trailing = max(trailing, words)
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
    return _Table(header, metadata, rows, line_numbers, label_line, trailing)


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
    """Whether a third column is counting errors: non-negative, of the order of sqrt(y), and not an evenly
    spaced axis (a second scan's 2θ beside the first)."""
    if not np.all(np.isfinite(s)) or np.any(s < 0):
        return False
    steps = np.diff(s)
    if steps.size >= _MIN_AXIS_POINTS and (np.all(steps > 0) or np.all(steps < 0)):
        middle = float(np.median(steps))
        if np.all(np.abs(steps - middle) <= 0.01 * abs(middle)):
            return False
    ratio = float(np.median(s / np.sqrt(np.maximum(np.abs(y), 1.0))))
    return _SIGMA_RATIO_RANGE[0] <= ratio <= _SIGMA_RATIO_RANGE[1]


def _third_label_is_sigma(label_line: str | None) -> bool:
    if label_line is None:
        return False
    labels = [w for w in re.split(r"[\s,;]+", _LABEL_PREFIX.sub("", label_line.strip())) if w]
    return len(labels) >= 3 and bool(_SIGMA_LABEL.match(labels[2].strip("\"'()[]")))


@dataclass(frozen=True)
class _Steps:
    """A list of counts on an even 2θ grid stated by one line: ``first_count`` is the index in the table's
    rows of the first count line (1 when the stating line is itself a row of numbers, 0 when text follows
    its numbers and it is the header's last line)."""

    start: float
    step: float
    n: int
    wavelength: float | None
    first_count: int
    line: str
    anode: str = ""
    in_header: bool = True  # with first_count 0: the stating line is the header's last line
    note: str = ""  # what the reader left out, for ``metadata["note"]``
    sigma: bool = False  # n standard uncertainties follow the n counts (ILL D1A, PSI DMC)


def _steps_layout(source: str, table: _Table) -> _Steps | None:
    """The layout when the data are a "n step start [λ ...]" line over n counts (MAUD) or a "start step
    stop [title]" line over the (stop - start) / step + 1 counts of the grid (FullProf's free format,
    Rietica, older Rietveld programs).

    The count must match exactly and only one reading may give 2θ within 0-180°, so that the layout is
    certain; anything else is not this layout.
    """
    stop_layout = _start_step_stop(table) or _mdi(table)
    first = table.rows[0]
    rest = table.rows[1:]
    if len(first) < 3 or not rest or first[0] != int(first[0]) or first[0] < 2:
        return stop_layout
    n = int(first[0])
    counts = sum(len(r) for r in rest)
    # MAUD reads the first n counts of its "n step start λ 1" files and ignores the rest; its own example
    # bbm48bis.dat holds one more than it states. Less than a line more is read that way; other counts
    # are not this layout.
    maud = _maud_line(first) == 1 and all(len(r) < len(first) for r in rest)
    surplus = counts - n if maud and 0 < counts - n <= max(len(r) for r in rest) else 0
    if maud and counts - surplus != n:
        raise PatternFileError(
            f"{source}: line {table.line_numbers[0]} states {n} counts (MAUD's 'n step start λ 1'), "
            f"but {counts} follow"
        )
    if any(len(r) > len(first) for r in rest) or counts - surplus != n:
        return stop_layout
    readings = [
        (start, step)
        for step, start in ((first[1], first[2]), (first[2], first[1]))
        if step > 0 and start >= 0 and start + (n - 1) * step <= 180.0
    ]
    if len(readings) > 1 or (readings and stop_layout is not None):
        raise PatternFileError(
            f"{source}: line {table.line_numbers[0]}: {n} counts follow a header "
            f"{' '.join(f'{v:g}' for v in first)} whose start and step cannot be told apart"
        )
    if not readings:
        return stop_layout
    # A 4th number that is not a whole number and in range is the wavelength (Å) ("2660 .05 22 1.540598 1").
    lam = first[3] if len(first) >= 4 and first[3] != int(first[3]) else None
    if lam is not None and not WAVELENGTH_RANGE[0] <= lam <= WAVELENGTH_RANGE[1]:
        lam = None
    line = " ".join(f"{v:g}" for v in first)
    note = f"{counts} counts where line {table.line_numbers[0]} states {n}: the first {n} read"
    return _Steps(readings[0][0], readings[0][1], n, lam, 1, line, note=note if surplus else "")


def _maud_line(row: list[float]) -> int | None:
    """The last number of MAUD's "n step start λ c" line (its .dat "Venezia" layout: n points, the 2θ step
    and start in degrees, the wavelength in Å, then c = 1 where n counts follow and 2 where n rows of 2θ
    and intensity do); None unless the row is such a line."""
    if len(row) != 5:
        return None
    n, step, start, lam, columns = row
    if (
        n != int(n)
        or n < 2
        or not (step > 0 and start >= 0 and start + (n - 1) * step <= 180.0)
        or lam == int(lam)
        or not WAVELENGTH_RANGE[0] <= lam <= WAVELENGTH_RANGE[1]
        or columns not in (1.0, 2.0)
    ):
        return None
    return int(columns)


# The grid of a "start step stop" line must hold a whole number of steps to this share of a step.
_WHOLE_STEPS = 1e-3
# Three decimal numbers and a title that follows the third without a space ("   10.00    0.02   90.00Quartz").
_GLUED_TITLE = re.compile(r"\s*(\d+\.\d{1,4})\s+(\d+\.\d{1,4})\s+(\d+\.\d{1,4})([^\d\s.,;].*)")


def _start_step_stop(table: _Table) -> _Steps | None:
    """The "start step stop" layout: three numbers (the first or second row, or the header's last line with
    words after them), then exactly as many counts as the grid has points, or as many counts and then as
    many standard uncertainties (the neutron files of ILL D1A and PSI DMC, as xylib's ``riet7.cpp`` reads
    them); None when the counts do not match."""
    candidates: list[tuple[list[float], int, str]] = []
    rows = table.rows
    for k in (0, 1):  # the second row only under a first of another width (ILL D1A: "1680 -1 100 1 ...")
        if len(rows) > k + 1 and len(rows[k]) == 3 and (k == 0 or len(rows[0]) != 3):
            candidates.append((rows[k], k + 1, " ".join(f"{v:g}" for v in rows[k])))
    if table.label_line is not None:
        words = table.label_line.split()
        if len(words) > 3 and all(is_number(w) for w in words[:3]) and not is_number(words[3]):
            candidates.append(([float(w) for w in words[:3]], 0, table.label_line.strip()))
        # DBWS writes the line in Fortran's (3F8.2, A48): the title may follow the third number unspaced.
        elif glued := _GLUED_TITLE.fullmatch(table.label_line):
            candidates.append(([float(glued[i]) for i in (1, 2, 3)], 0, table.label_line.strip()))
    for (start, step, stop), first_count, line in candidates:
        # ILL D1A files start below 0° (the detector bank reaches past the beam).
        if not (step > 0 and -180.0 < start < stop <= 180.0):
            continue
        steps = (stop - start) / step
        n = round(steps) + 1
        counts = sum(len(r) for r in table.rows[first_count:])
        if abs(steps - round(steps)) <= _WHOLE_STEPS and counts in (n, 2 * n):
            values = [v for row in table.rows[first_count:] for v in row]
            with_sigma = counts == 2 * n and n >= _MIN_AXIS_POINTS and min(values[n:]) >= 0
            if counts == n or with_sigma:
                return _Steps(start, step, n, None, first_count, line, sigma=with_sigma)
    return None


def _wavelength_line(table: _Table) -> float | None:
    """The wavelength (Å) that DASH's .xye states alone on the first line, above the columns (the line is
    taken out of the table); None unless that line is one number with a fraction, within the wavelengths
    of X-rays and neutrons, and columns follow."""
    first = table.rows[0]
    if len(first) != 1 or len(table.rows) < 3 or any(len(r) < 2 for r in table.rows[1:3]):
        return None
    value = first[0]
    if value == int(value) or not WAVELENGTH_RANGE[0] <= value <= WAVELENGTH_RANGE[1]:
        return None
    del table.rows[0], table.line_numbers[0]
    return value


# Jade's .mdi (Materials Data): a title, then "start step rate anode λ stop n", then the counts and a -1.
_MDI_LINE = re.compile(r"\s*(\S+)\s+(\S+)\s+(\S+)\s+([A-Za-z]{1,2})\s+(\S+)\s+(\S+)\s+(\d+)\s*")


def _mdi(table: _Table) -> _Steps | None:
    """The .mdi layout when the header's last line states the grid (start, step, stop and n agreeing to
    half a step) and exactly n counts follow (a final -1 ends the list and is not a count)."""
    match = None if table.label_line is None else _MDI_LINE.fullmatch(table.label_line)
    if match is None or not all(is_number(match[i]) for i in (1, 2, 3, 5, 6)):
        return None
    start, step, lam, stop, n = (float(match[i]) for i in (1, 2, 5, 6, 7))
    if (
        not (step > 0 and 0.0 <= start < stop <= 180.0 and n >= 2)
        or abs(start + (n - 1) * step - stop) > step / 2
    ):
        return None
    terminated = table.rows[-1][-1] == -1
    if sum(len(r) for r in table.rows) - terminated != n:
        return None
    anode = match[4].capitalize()
    wavelength = lam if WAVELENGTH_RANGE[0] <= lam <= WAVELENGTH_RANGE[1] else None
    if wavelength is None and anode in _ANODES:
        wavelength = named_lines(anode, "1")["wavelength"]
    return _Steps(start, step, int(n), wavelength, 0, table.label_line.strip(), anode)  # type: ignore[union-attr]


def read_text(source: str, data: bytes, format: str, wavelength: float | None = None) -> Ranges:
    """Columns, RRUFF or a start/step list; columns give several ranges where the file holds several scans
    one after the other. ``wavelength`` (Å), where the file states none, converts an x axis of Q or d."""
    if _suffix(source) in _PDF_SUFFIXES:
        raise _total_scattering(source, f"a {_suffix(source)} file")
    text = decode(source, data)
    table = _scan(source, text)
    if not table.rows:
        raise PatternFileError(f"{source}: no numeric data lines")
    if format == "rruff":
        return [_rruff(source, table)]
    steps = _steps_layout(source, table) or _keyed_steps(source, table)
    if steps is not None:
        return [_steps(source, table, steps)]
    _numbers_before_the_columns(table)
    radiation = header_radiation(table.header)
    first_line_wavelength = _wavelength_line(table)
    if first_line_wavelength is not None:
        table.header.append(f"wavelength: {first_line_wavelength:g}")
        radiation = radiation or {"wavelength": first_line_wavelength}
    named = _named_columns(table)
    plain = (0, 1, None, ())  # x, intensity, scan column, further intensities: as without labels
    as_without_labels = named is not None and (named.x, named.intensity, named.scan, named.series) == plain
    if as_without_labels and (named.spacing is None or "wavelength" in radiation):  # type: ignore[union-attr]
        named = None  # the first two columns are x and intensity: read as without labels (σ found as there)
    _refuse_reflection_list(source, table)
    columns = _columns(source, table, refuse_blocks=named is None)
    width = columns.shape[1]
    if named is None:
        _refuse_unreadable_labels(source, table, columns)
    metadata = dict(table.metadata)
    if named is None and _row_numbers_first(columns):
        # A first column counting the rows past 180 (a saved table's index) cannot be 2θ: the table starts
        # after it.
        columns, width = columns[:, 1:], width - 1
        metadata["note"] = "the first column counts the rows (a table's index) and is left out"
    if named is None:
        x_column, y_column = 0, 1
        axis = x_axis(table.header, table.label_line)
        if axis == XAxis("2theta", "", "") and _suffix(source) == ".ddq":
            # MAUD's .ddq: two columns, Q (4π sin θ / λ, λ in Å) and intensity, nothing else in the file.
            axis = XAxis("q", "1/Å", "Q of a MAUD .ddq file")
        per_row = _counts_along_rows(columns) if axis.kind == "2theta" else 0
        if per_row:
            return [_counts_in_rows(source, table, columns, per_row, radiation, metadata)]
        spacing = _spacing_column(columns) if axis.kind == "2theta" else None
        if spacing is not None:
            # 2θ, then d (or Q), then the intensity: the d column is no intensity, and it gives λ.
            y_column = 2
            metadata["spacing_column"] = _spacing_note(*spacing)
            if "wavelength" not in radiation:
                radiation = {"wavelength": spacing[1]}
                metadata["wavelength_from"] = f"the {spacing[0]} column beside 2θ (Bragg's law)"
        sigma_column = None
        if format == "xye" or _third_label_is_sigma(table.label_line):
            sigma_column = y_column + 1 if width > y_column + 1 else None
        elif width > y_column + 1 and _looks_like_sigma(columns[:, y_column], columns[:, y_column + 1]):
            sigma_column = y_column + 1
    else:
        x_column, y_column, sigma_column, axis = named.x, named.intensity, named.sigma, named.axis
        metadata["columns"] = (
            f"2θ/x from {named.labels[named.x]!r}, intensity from {named.labels[named.intensity]!r}"
            + ("" if named.sigma is None else f", σ from {named.labels[named.sigma]!r}")
        )
        if "wavelength" not in radiation and named.spacing is not None:
            radiation = _wavelength_from_spacing(source, columns, named)
            metadata["wavelength_from"] = (
                f"the {named.labels[named.spacing]!r} column beside {named.labels[named.x]!r} (Bragg's law)"
            )
    x, intensity = columns[:, x_column], columns[:, y_column]
    sigma = None if sigma_column is None else columns[:, sigma_column]
    if sigma is not None:
        negative = np.flatnonzero(sigma < 0)
        if negative.size:
            line = table.line_numbers[int(negative[0])]
            raise PatternFileError(f"{source}: line {line}: negative sigma {sigma[negative[0]]:g}")
    if format == "xye" and sigma is None:
        metadata["note"] = "no sigma column (2 columns)"
    format = "xye" if sigma is not None else ("csv" if format == "csv" else "xy")
    used = (2 if sigma is None else 3) + (1 if named is None and y_column == 2 else 0)
    if width > used:
        metadata["ignored_columns"] = str(width - used)

    if "wavelength" not in radiation and wavelength is not None:
        radiation = {"wavelength": float(wavelength)}
        metadata["wavelength_from"] = GIVEN_WAVELENGTH
    two_theta, note = convert_x(source, x, axis, radiation)
    if note:
        metadata["x_axis"] = note
    metadata = _with_header(metadata, table)

    series = [(y_column, intensity)] + ([] if named is None else [(i, columns[:, i]) for i in named.series])
    ranges: Ranges = []
    for column, values in series:
        if len(series) > 1 and named is not None:
            metadata = {**metadata, "column": named.labels[column]}
        for rows in _scans(
            two_theta, None if named is None or named.scan is None else columns[:, named.scan]
        ):

            def where(i: int, rows: slice = rows) -> str:
                return f"line {table.line_numbers[rows.start + i]}"

            ranges.append(
                build(
                    source,
                    where,
                    two_theta=two_theta[rows],
                    intensity=values[rows],
                    sigma=None if sigma is None or column != y_column else sigma[rows],
                    format=format,
                    metadata=metadata,
                    **radiation,
                )
            )
    return ranges


def _counts_along_rows(columns: np.ndarray) -> int:
    """k where each row is an angle and then k >= 3 counts at consecutive steps, the counts continuing from
    row to row (Rigaku's .txt export, ten a row; as GSAS-II's Rigaku .txt importer reads it); 0 otherwise.

    Such rows are told apart from k intensity columns (σ, a background, a series of patterns) by the counts:
    all of one kind (none negative, column medians within a factor of 2); the jump from a row's last count
    to the next row's first no larger than the jumps within rows (neighbours, as they are); the counts read
    in order smoother than each column read alone (in a series of different patterns they jump between
    patterns); and on the pattern's flanks the counts of a row rising or falling with it (in repeated scans
    of one sample every column stands at the row's angle, and the order within a row is noise).
    """
    n, width = columns.shape
    k = width - 1
    if k < 3 or n < _MIN_AXIS_POINTS:
        return 0
    angle, counts = columns[:, 0], columns[:, 1:]
    steps = np.diff(angle)
    if not (steps.min() > 0 and steps.max() - steps.min() <= 0.01 * steps.mean()) or (counts < 0).any():
        return 0
    medians = np.median(counts, axis=0)
    in_order = counts.ravel()
    if medians.min() <= 0 or medians.max() > 2 * medians.min():
        return 0
    within = np.abs(np.diff(counts, axis=1)).mean()
    across = np.abs(counts[1:, 0] - counts[:-1, -1]).mean()
    smoother = np.abs(np.diff(in_order)).mean() < np.abs(np.diff(counts, axis=0)).mean()
    # The flank's direction at a row comes from its neighbours, whose noise is not the row's.
    slope = counts[2:].mean(axis=1) - counts[:-2].mean(axis=1)
    row = counts[1:-1] - counts[1:-1].mean(axis=1, keepdims=True)
    place = np.arange(k) - (k - 1) / 2
    spread = np.sqrt((row**2).sum(axis=1) * (place**2).sum())
    trend = (row @ place) / np.where(spread > 0, spread, np.inf)  # per row: correlation of count and place
    agrees = float((slope * trend).sum() / max(np.abs(slope).sum(), 1e-300))  # |slope|-weighted sign match
    return k if across <= 1.5 * within and smoother and agrees > 0.15 else 0


def _with_header(metadata: dict[str, str], table: _Table) -> dict[str, str]:
    """``metadata`` with the text file's header lines and the probe a header line names, where it has a
    header."""
    if not table.header:
        return metadata
    probe = metadata.get("probe") or _header_probe(table.header)
    return {**metadata, "header": "\n".join(table.header), "probe": probe}


def _counts_in_rows(
    source: str,
    table: _Table,
    columns: np.ndarray,
    k: int,
    radiation: dict[str, float],
    metadata: dict[str, str],
) -> MeasuredPattern:
    """The pattern of rows "angle, then k counts" (:func:`_counts_along_rows`): the counts in order, the
    angle of each the row's angle plus its place in the row times the row step over k."""
    step = float(np.mean(np.diff(columns[:, 0]))) / k
    two_theta = (columns[:, :1] + step * np.arange(k)[None, :]).ravel()
    note = f"each row is an angle and {k} counts in steps of {step:.6g}° (a Rigaku .txt export's layout)"
    metadata = _with_header(metadata, table)

    def where(i: int) -> str:
        return f"line {table.line_numbers[i // k]}"

    return build(
        source,
        where,
        two_theta=two_theta,
        intensity=columns[:, 1:].ravel(),
        format="xy",
        metadata={**metadata, "note": note},
        **radiation,
    )


def _row_numbers_first(columns: np.ndarray) -> bool:
    """Whether the first of at least three columns is 0, 1, 2, ... or 1, 2, 3, ... beyond 180: a row index,
    which a saved table carries and which no 2θ axis in degrees can be."""
    if columns.shape[1] < 3 or columns.shape[0] < 2:
        return False
    first = columns[:, 0]
    start = first[0]
    return bool(
        start in (0.0, 1.0) and first[-1] > 180 and np.array_equal(first, start + np.arange(first.size))
    )


# ---------------------------------------------------------------------------------------------------------
# Columns named by a header line

# Labels of the intensity column, compared without their unit ("Intensity (cps)", "Iobs [cts]").
_INTENSITY_LABELS = {
    "i", "int", "intensity", "intensities", "count", "counts", "cts", "cps", "y", "yobs", "y_obs", "iobs",
    "i_obs", "obs", "observed", "net", "netintensity", "net_intensity", "i_net", "rawintensity",
    "raw_intensity", "counts_per_second", "psd", "det1disc1", "detector", "det",
}  # fmt: skip
# Labels of a column that numbers the scans (frames, images) of a file holding several one after another.
_SCAN_LABEL = re.compile(
    r"(scan|frame|image|img|range|segment)[_\s-]?(num|number|no|nr|index|id|idx)?$|imagenum"
)


@dataclass(frozen=True)
class _Named:
    """Which column is what, from a header line with a label for each column."""

    labels: list[str]
    x: int
    axis: XAxis
    intensity: int
    sigma: int | None
    scan: int | None  # numbers the scans: a new range where it changes
    spacing: int | None  # a d or Q column beside a 2θ one: it gives the wavelength
    series: tuple[int, ...] = ()  # further intensity columns of the same kind: one range each


def _column_labels(line: str | None, count: int) -> list[str] | None:
    """The labels of a column-header line, when it has exactly ``count`` (split on tabs, else on commas or
    semicolons, else on spaces, so that a tab-separated "Pos. [°2Th.]" stays one label; else on runs of two
    or more spaces, as SPEC's "#L Two Theta  Epoch  Detector" separates labels of several words)."""
    if line is None:
        return None
    text = _LABEL_PREFIX.sub("", line.strip())
    quoted = _QUOTED_FIELD.findall(text)
    if quoted and re.fullmatch(r'(?:\s*"[^"]*"\s*[,;\t]?)+\s*', text):
        # Every label in double quotes: the quotes delimit them ("Pos. [°2Th.]" "Iobs [cts]").
        labels = [q.strip() for q in quoted]
        return labels if len(labels) == count and all(labels) else None
    # A leading separator: the first column has no name (a saved table's row index).
    index = ["(row index)"] if text.startswith((",", ";")) else []
    for separator in (r"\t", r"\s*[,;]\s*", r"\s+", _UNIT_AFTER_SPACE, r"\s{2,}"):
        labels = index + [w.strip().strip("\"'").strip() for w in re.split(separator, text.strip(" \t,;"))]
        if len(labels) == count and all(labels):
            return labels
    return None


# Spaces between labels, but not before a unit in brackets: "Intensität (cps) 2θ (°)" is two labels.
_UNIT_AFTER_SPACE = re.compile(r"\s+(?![(\[])")


# A label's unit: from its first bracket on ("Intensity (cps)", "Pos. [°2Th.]").
_LABEL_UNIT = re.compile(r"\s*[(\[].*$")


def _label_base(label: str) -> str:
    """A label without its unit, lower case: "Intensity (cps)" -> "intensity"."""
    return _LABEL_UNIT.sub("", label).strip(" .").lower()


def _column_axis(label: str) -> XAxis | None:
    """What a column's label says it holds, as :func:`_label_axis`; also 2θ for "Angle" (Bruker EVA) and
    for a unit that says 2θ ("Pos. [°2Th.]", HighScore)."""
    axis = _label_axis(label)
    if axis is not None:
        return axis
    found = _LABEL_UNIT.search(label)
    unit = "" if found is None else found.group(0).lower().replace(" ", "")
    if _label_base(label) in ("angle", "winkel", "2θ") or re.search(r"2th|2θ|°2", unit):
        return XAxis("2theta", "", label)
    if re.search(r"(^|[^a-z0-9])(2θ|2-?theta|two[- ]?theta)", label.lower()):  # "θ/2θ, °", "Angle 2-Theta"
        return XAxis("2theta", "", label)
    return None


def _named_columns(table: _Table) -> _Named | None:
    """The columns by their labels, when the line above the data labels every column (the dates and times
    after the numbers included) and names a 2θ, Q or d column and an intensity column; None otherwise, and
    then the first column is x and the second the intensity."""
    width = len(table.rows[0])
    labels = _column_labels(table.label_line, width + table.trailing)
    if labels is None or width < 2:
        return None
    # An intensity column's unit may mention the scan ("Intensity (2θ scan)"): it is never the axis.
    axes = [None if _is_intensity(label) else _column_axis(label) for label in labels[:width]]
    two_theta = [i for i, a in enumerate(axes) if a is not None and a.kind.startswith("2theta")]
    spacing = [i for i, a in enumerate(axes) if a is not None and a.kind in ("q", "d") and a.unit]
    candidates = two_theta or [i for i, a in enumerate(axes) if a is not None and a.kind in ("q", "d")]
    intensity = [i for i, label in enumerate(labels[:width]) if _is_intensity(label)]
    if not candidates or not intensity:
        return None
    x = candidates[0]
    axis = axes[x]
    assert axis is not None
    sigma = next(
        (
            i
            for i in range(width)
            if i not in (x, intensity[0]) and _SIGMA_LABEL.match(_label_base(labels[i]))
        ),
        None,
    )
    scan = next((i for i in range(width) if _SCAN_LABEL.match(_label_base(labels[i]))), None)
    # Several intensity columns of one kind ("Intensity at 30°C", "Intensity at 100°C", ...): a series of
    # patterns on one 2θ axis, each a range. Columns of other kinds beside the first (a calculated pattern,
    # a background) are not patterns.
    series = tuple(i for i in intensity[1:] if _label_kind(labels[i]) == _label_kind(labels[intensity[0]]))
    spacing_column = spacing[0] if two_theta and spacing else None
    return _Named(labels, x, axis, intensity[0], sigma, scan, spacing_column, series)


# Labels of a peak list's columns (positions, heights, widths of fitted or searched peaks), never a scan's;
# "height" and "area" too, where the positions are not the even steps of a scan.
_PEAK_LIST_LABEL = re.compile(r"fwhm|rel\.?\s*int|i\s*%|i/i[0o]|integral\s*breadth")
_PEAK_SIZE_LABEL = re.compile(r"height|area")


# Column labels that name Miller indices ("H K L", "h,k,l", "hkl", "(hkl)"): a list of reflections.
_MILLER_LABELS = re.compile(
    r"(?<![\w.])h[\s,;]+k[\s,;]+(?:i[\s,;]+)?l(?![\w.])|(?<![\w])\(?hkl\)?(?!\w)", re.IGNORECASE
)


def _refuse_reflection_list(source: str, table: _Table) -> None:
    """Refuse a table whose column labels name Miller indices: it lists reflections (RRUFF's .dif files, a
    program's calculated or indexed peak list), not the counts of a scan."""
    if table.label_line is not None and _MILLER_LABELS.search(table.label_line):
        raise PatternFileError(
            f"{source}: line {table.line_numbers[0] - 1}: columns {table.label_line.strip()[:80]!r} list "
            "reflections (Miller indices), a peak list, not a measured scan; export the scan itself (2θ and "
            "the counts at every step)"
        )


def _refuse_unreadable_labels(source: str, table: _Table, columns: np.ndarray) -> None:
    """Refuse a table whose labels (one per column) say that the first two columns are not 2θ and an
    intensity: a peak list, or a second column labelled as an axis (a d, Q or 2θ column), which would
    otherwise be read as the intensity."""
    width = columns.shape[1]
    labels = _column_labels(table.label_line, width + table.trailing)
    # A "key: value" or "key = value" line is a header line, not column labels.
    if labels is None or any(":" in v or "=" in v or _is_intensity(v) for v in labels):
        return
    line = table.line_numbers[0] - 1
    bases = [_label_base(label) for label in labels]
    # A scan's steps are alike (up to the decimals written); peak positions are spread unevenly.
    steps = np.abs(np.diff(columns[:, 0]))
    even = steps.size >= _MIN_AXIS_POINTS and steps.min() > 0 and steps.max() <= 1.5 * steps.min()
    if any(_PEAK_LIST_LABEL.match(b) or (_PEAK_SIZE_LABEL.match(b) and not even) for b in bases):
        raise PatternFileError(
            f"{source}: line {line}: columns {', '.join(repr(v) for v in labels[:width])}: a peak list, not "
            "a measured scan; export the scan itself (2θ and the counts at every step)"
        )
    second = _column_axis(labels[1]) if width >= 2 else None
    if second is not None and second.kind.startswith(("2theta", "q", "d")):
        raise PatternFileError(
            f"{source}: line {line}: the second column is {labels[1]!r}, an axis, and no column is labelled "
            "as an intensity; name the intensity column (e.g. 'Intensity') or put it second"
        )


def _is_intensity(label: str) -> bool:
    base = _label_base(label)
    # "intens" also for Intensität, intensité, intensidad, intensità.
    return base in _INTENSITY_LABELS or base.startswith(("intens", "counts ", "cps "))


def _label_kind(label: str) -> str:
    """A label without its numbers and signs: "Intensity at 30°C" and "Intensity at 100°C" are one kind;
    "Iobs" and "Icalc", or "Intensity" and "Intensity (background)", two."""
    return re.sub(r"[^a-z]+", " ", label.lower()).strip()


# The wavelengths that the rows of a 2θ column and a d or Q column give must agree to this relative spread.
_SPACING_AGREEMENT = 1e-3
# ... and the written numbers must fix each row's wavelength to this relative precision (median of the rows).
_SPACING_PRECISION = 1e-2


def _rounding(values: np.ndarray) -> np.ndarray:
    """Half a unit of the last decimal each value was written with (as far as 8 decimals): how far the
    written number may be from the one computed."""
    decimals = np.full(values.shape, 8)
    for k in range(7, -1, -1):
        exact = np.abs(np.round(values, k) - values) <= 1e-9 * np.maximum(1.0, np.abs(values))
        decimals[exact] = k
    return 0.5 * 10.0 ** -decimals.astype(np.float64)


def _bragg_wavelength(two_theta: np.ndarray, value: np.ndarray, kind: str) -> float | None:
    """The wavelength (Å) that a 2θ column (degrees) and a d (Å) or Q (1/Å) column of the same rows give,
    when every row gives it within what rounding the written numbers allows (and at least within
    ``_SPACING_AGREEMENT / 2`` of it); None when they do not agree, or it is no X-ray wavelength."""
    sine = np.sin(np.radians(two_theta) / 2.0)
    usable = (sine > 1e-3) & (value > 0)
    if not np.any(usable):
        return None
    sine, value, two_theta = sine[usable], value[usable], two_theta[usable]
    # How far a row's λ may be off: the written d (or Q) and 2θ each off by half their last decimal.
    d_sine = np.cos(np.radians(two_theta) / 2.0) * np.radians(_rounding(two_theta)) / 2.0
    if kind == "d":
        lam = 2.0 * value * sine
        slack = 2.0 * (_rounding(value) * sine + value * d_sine)
    else:
        lam = 4.0 * math.pi * sine / value
        slack = lam * (_rounding(value) / value + d_sine / sine)
    if np.ptp(value) == 0 or float(np.median(slack / lam)) > _SPACING_PRECISION:
        # A constant column (a counting time of 1 s), or one written too coarsely to test Bragg's law
        # (whole numbers: any wavelength fits within half a unit), says nothing about a d or Q axis.
        return None
    middle = float(np.median(lam))
    allowed = np.maximum(2.0 * slack, 0.5 * _SPACING_AGREEMENT * middle)
    if not WAVELENGTH_RANGE[0] <= middle <= WAVELENGTH_RANGE[1] or np.any(np.abs(lam - middle) > allowed):
        return None
    return round(middle, 6)


def _spacing_column(columns: np.ndarray) -> tuple[str, float] | None:
    """("d", λ) or ("Q", λ) when the second of at least three unlabelled columns is the d spacing (or Q) of
    the first, 2θ in degrees, at one wavelength λ (Å) for every row, so that it is not the intensity."""
    if columns.shape[1] < 3 or columns.shape[0] < _MIN_AXIS_POINTS:
        return None
    if not np.all(np.isfinite(columns[:, :2])) or np.any(columns[:, 1] <= 0):
        return None  # non-finite values are refused where the pattern is built
    for kind in ("d", "Q"):
        lam = _bragg_wavelength(columns[:, 0], columns[:, 1], kind)
        if lam is not None:
            return kind, lam
    return None


def _spacing_note(kind: str, wavelength: float) -> str:
    return f"the second column is {kind} (λ = {wavelength:g} Å with the first by Bragg's law), not intensity"


def _wavelength_from_spacing(source: str, columns: np.ndarray, named: _Named) -> dict[str, float]:
    """{"wavelength": λ} from a 2θ column and a d (λ = 2d sinθ) or Q (λ = 4π sinθ / Q) column of the same
    rows; refused unless every row gives the same λ."""
    axis = _label_axis(named.labels[named.spacing])  # type: ignore[index]
    assert axis is not None and named.spacing is not None
    two_theta, _ = convert_x(source, columns[:, named.x], named.axis, {})
    value = columns[:, named.spacing]
    if axis.kind == "d":
        value = value * (10.0 if axis.unit == "nm" else 1.0)
    else:
        value = value * (0.1 if axis.unit == "1/nm" else 1.0)
    said = named.labels[named.spacing]  # type: ignore[index]
    if not np.any(value > 0):
        raise PatternFileError(f"{source}: the {said!r} column gives no wavelength (no positive values)")
    lam = _bragg_wavelength(two_theta, value, axis.kind)
    if lam is None:
        sine = np.sin(np.radians(two_theta) / 2.0)
        each = (2.0 * value * sine if axis.kind == "d" else 4.0 * math.pi * sine / value)[value > 0]
        raise PatternFileError(
            f"{source}: the wavelength is not stated, and the {said!r} column does not give one: its rows "
            f"give {float(each.min()):.5g}-{float(each.max()):.5g} Å with {named.labels[named.x]!r}"
        )
    return {"wavelength": lam}


# A column file restarts its x for a new scan when x jumps back by at least this share of the scan before,
# or by at least this many of its steps, and every scan has at least _MIN_SCAN_POINTS points; a smaller step
# back is a fault, refused by the builder.
_RESTART_SHARE = 0.5
_RESTART_STEPS = 10
_MIN_SCAN_POINTS = 3


def _scans(two_theta: npt.NDArray[np.float64], scan: npt.NDArray[np.float64] | None) -> list[slice]:
    """The rows of each scan of a column file: runs of one value of the scan-number column, or, without
    one, runs between the points where x jumps back to restart (a file of scans one after another). A
    single scan, however its x runs, is one slice (errors are the builder's)."""
    if scan is not None:
        breaks = np.flatnonzero(np.diff(scan) != 0) + 1
    elif not np.isfinite(two_theta).all():
        return [slice(0, two_theta.size)]  # refused by the builder, which names the line
    else:
        steps = np.diff(two_theta)
        forward = np.sign(np.median(steps)) if steps.size else 0.0
        breaks = np.flatnonzero(steps * forward < 0) + 1 if forward != 0 else np.array([], dtype=np.int64)
        pieces = np.split(np.arange(two_theta.size), breaks)

        def restarts(before: npt.NDArray[np.int64], after: npt.NDArray[np.int64]) -> bool:
            span = abs(two_theta[before[-1]] - two_theta[before[0]])
            back = abs(two_theta[after[0]] - two_theta[before[-1]])
            step = float(np.median(np.abs(np.diff(two_theta[before]))))
            # Back by half the scan, or by many of its steps (ranges that overlap); a step or two back is no
            # restart.
            return back >= _RESTART_SHARE * span or back >= _RESTART_STEPS * step

        if (
            breaks.size == 0
            or any(p.size < _MIN_SCAN_POINTS or np.any(np.diff(two_theta[p]) * forward <= 0) for p in pieces)
            or not all(restarts(a, b) for a, b in itertools.pairwise(pieces))
        ):
            return [slice(0, two_theta.size)]
    bounds = [0, *breaks.tolist(), two_theta.size]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


# Rows of numbers before the columns are header lines when at least this many rows of another width follow.
_MIN_ROWS_AFTER_NUMBERS = 10


def _numbers_before_the_columns(table: _Table) -> None:
    """Move a first row of numbers whose count differs from that of every row after it (a "start stop step"
    or "λ points" line over two-column data) into the header, where it belongs; a row holding the number of
    points alone is left to :func:`_columns` (Fit2D .chi)."""
    rows = table.rows
    if len(rows) <= _MIN_ROWS_AFTER_NUMBERS or len(rows[0]) in (1, len(rows[1])) or len(rows[1]) < 2:
        return
    if all(len(row) == len(rows[1]) for row in rows[2:]):
        number = table.line_numbers[0]
        table.header.append(" ".join(f"{v:g}" for v in rows[0]))
        table.metadata["note"] = f"line {number} (numbers, not as many as the columns hold) read as a header"
        if _maud_line(rows[0]) == 2 and int(rows[0][0]) == len(rows) - 1 and len(rows[1]) == 2:
            # MAUD's "n step start λ 2" over n rows of 2θ and intensity: the line gives the wavelength.
            table.header.append(f"wavelength: {rows[0][3]!r}")
            table.metadata["note"] = f"line {number} (MAUD's 'n step start λ 2') read as a header"
        del rows[0], table.line_numbers[0]


def _columns(source: str, table: _Table, refuse_blocks: bool = True) -> np.ndarray:
    """(N, K) the data table of a column file, K >= 2 columns in every row. A first line holding the
    number of points (Fit2D .chi) goes to the header; blocks of counts are refused (unless a header line
    names the columns)."""
    if len(table.rows[0]) == 1 and table.rows[0][0] == len(table.rows) - 1 and len(table.rows) > 2:
        # A line with the number of points before the data (Fit2D .chi): not a data row.
        table.header.append(f"points: {int(table.rows[0][0])}")
        del table.rows[0], table.line_numbers[0]
    if refuse_blocks:
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
    spacing = _spacing_column(columns)
    y_column = 1 if spacing is None else 2  # a d (or Q) column beside 2θ is no intensity
    if spacing is not None:
        metadata["spacing_column"] = _spacing_note(*spacing)
        radiation = radiation or {"wavelength": spacing[1]}
    if width > y_column + 1:
        metadata["ignored_columns"] = str(width - y_column - 1)
    if table.header:
        metadata["header"] = "\n".join(table.header)

    def where(i: int) -> str:
        return f"line {table.line_numbers[i]}"

    return build(
        source,
        where,
        two_theta=columns[:, 0],
        intensity=columns[:, y_column],
        format="rruff",
        metadata=metadata,
        **radiation,
    )


# Header keys (lower case, letters and digits only, any unit in brackets left out) that state the 2θ grid of a
# list of counts: "Start angle: 10", "STEP=0.02", "2Theta end (deg) = 80", "Number of points: 3501".
_GRID_KEYS = {
    "start": {
        "start", "startangle", "start2theta", "2thetastart", "twothetastart", "startposition", "anglestart",
        "scanstart", "2θstart", "start2θ", "startdeg",
    },
    "step": {
        "step", "stepsize", "stepwidth", "increment", "2thetastep", "step2theta", "twothetastep", "stepangle",
        "anglestep", "scanstep", "2θstep", "step2θ", "stepdeg", "samplingwidth", "samplingstep",
    },
    "stop": {
        "stop", "end", "endangle", "stopangle", "2thetaend", "2thetastop", "end2theta", "twothetaend",
        "angleend", "scanend", "2θend", "end2θ", "endposition", "stopposition", "enddeg", "stopdeg",
    },
    "points": {"points", "npoints", "numberofpoints", "datapoints", "nofpoints", "pointcount", "numpoints"},
}  # fmt: skip
_KEY_VALUE = re.compile(r"^[#!;*'\s]*([^:=\t]{1,40}?)\s*(?:[:=\t])\s*(\S.*)$")


_PROBE_KEY = re.compile(r"(?:diffrn[_ ])?(?:radiation[_ ])?(?:probe|type)|radiation")


def _header_probe(header: Sequence[str]) -> str:
    """The probe a "probe: neutron" (or "radiation: neutrons", "radiation probe = electron") header line
    names, as ``metadata["probe"]`` holds it ("neutron", "electron", "x-ray"); "" where none does."""
    for line in header:
        keyed = _KEY_VALUE.match(line)
        if keyed and _PROBE_KEY.fullmatch(keyed[1].lower()):
            word = re.match(r"neutron|electron|x-?ray", keyed[2].strip().lower())
            if word:
                return word.group(0).replace("xray", "x-ray")
    return ""


def _keyed_steps(source: str, table: _Table) -> _Steps | None:
    """The layout when the data are counts alone (one per line, or in rows whose total is the stated number
    of points) on a grid that "key: value" (or "key = value") header lines state: a start and a step, and
    optionally an end and a number of points, which must then agree with the counts."""
    stated: dict[str, float] = {}
    for line in table.header:
        found = _KEY_VALUE.match(line)
        if found is None:
            continue
        key = re.sub(r"[^a-z0-9θ]", "", _LABEL_UNIT.sub("", found.group(1)).lower())
        value = header_number(found.group(2))
        name = next((n for n, keys in _GRID_KEYS.items() if key in keys), None)
        if name is not None and value is not None:
            if name in stated and stated[name] != value:
                return None  # two different starts (several ranges?): not one grid
            stated[name] = value
    if "start" not in stated or "step" not in stated:
        return None
    start, step = stated["start"], stated["step"]
    total = sum(len(row) for row in table.rows)
    expected = [int(stated["points"])] if "points" in stated else []
    if "stop" in stated and step > 0:
        steps = (stated["stop"] - start) / step
        if abs(steps - round(steps)) <= _WHOLE_STEPS:
            expected.append(round(steps) + 1)
    if any(len(row) > 1 for row in table.rows) and total not in expected:
        return None  # columns (a 2θ, intensity table under such a header), not a list of counts
    line = ", ".join(f"{k} {v:g}" for k, v in stated.items())
    if step <= 0 or start < 0 or start + (total - 1) * step > 180.0:
        raise PatternFileError(f"{source}: {total} counts on the grid the header states ({line}): not 2θ")
    if any(n != total for n in expected):
        raise PatternFileError(
            f"{source}: the header states {line}, which is {' or '.join(str(n) for n in expected)} points; "
            f"the file holds {total} counts"
        )
    wavelength = header_radiation(table.header).get("wavelength")
    return _Steps(start, step, total, wavelength, 0, line, in_header=False)


def _steps(source: str, table: _Table, layout: _Steps) -> MeasuredPattern:
    """Counts on the even grid of a "n step start [λ ...]" or a "start step stop" line."""
    count_rows = table.rows[layout.first_count :]
    count_lines = table.line_numbers[layout.first_count :]
    values = np.array([v for row in count_rows for v in row], dtype=np.float64)
    counts = values[: layout.n]  # no end marker
    sigma = values[layout.n : 2 * layout.n] if layout.sigma else None
    header = table.header[:-1] if layout.first_count == 0 and layout.in_header else table.header
    metadata = {"header": "\n".join(header), "steps_line": layout.line, "anode": layout.anode}
    if layout.note:
        metadata["note"] = layout.note
    if header and layout.in_header:  # the title line over a stating line
        metadata["sample"] = header[0][:200]
    elif header:  # key: value lines: a "Sample: ..." one
        keyed = (_KEY_VALUE.match(line) for line in header)
        names = [m.group(2).strip() for m in keyed if m and m.group(1).strip().lower().startswith("sample")]
        metadata["sample"] = names[0][:200] if names else ""
    offsets = np.cumsum([0] + [len(r) for r in count_rows])
    two_theta = layout.start + layout.step * np.arange(layout.n, dtype=np.float64)
    # A detector bank that reaches across the beam (ILL D1A from -10°) counts at 2θ <= 0, where no pattern is.
    first = int(np.searchsorted(two_theta, 1e-9 * layout.step))
    if first:
        notes = [metadata.get("note", ""), f"the {first} points at 2θ <= 0° (across the beam) left out"]
        metadata["note"] = "; ".join(n for n in notes if n)
    stated = layout.wavelength
    radiation = header_radiation(header) if stated is None else {"wavelength": stated}

    def where(i: int) -> str:
        row = int(np.searchsorted(offsets, i + first, side="right")) - 1
        return f"line {count_lines[row]}"

    return build(
        source,
        where,
        two_theta=two_theta[first:],
        intensity=counts[first:],
        sigma=None if sigma is None else sigma[first:],
        format="steps",
        metadata=metadata,
        **radiation,
    )


def text_format(source: str, text: str) -> str:
    """The plain-text reader: "rruff" (``##KEY=value`` headers), else by suffix ("xye", "csv"), else "xy"."""
    for line in text.splitlines()[:200]:
        if re.match(r"\s*##[^#=]+=", line):
            return "rruff"
    return _TEXT_SUFFIXES.get(_suffix(source), "xy")


def _suffix(source: str) -> str:
    """The file's suffix in lower case; of data.xye.gz the one before the compression's (".xye")."""
    path = Path(source)
    suffix = path.suffix.lower()
    return Path(path.stem).suffix.lower() if suffix in COMPRESSED_SUFFIXES else suffix


def is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
