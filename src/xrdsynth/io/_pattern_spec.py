"""SPEC data files (certif.com's SPEC, which drives synchrotron beamlines and laboratory diffractometers).

Layout, as SPEC's manual describes its standard data file: a file header (``#F`` file name, ``#E`` epoch,
``#D`` date, ``#C`` comments, ``#O`` motor names), then scans one after the other, each starting with a
``#S n command`` line, followed by its own header (``#D``, ``#T`` or ``#M`` counting time or monitor,
``#P`` motor positions, ``#N`` number of columns), a ``#L`` line that labels the columns (two spaces apart,
since labels may hold one: "Two Theta") and its rows of numbers. The first column is the scanned motor, the
last one the main counter by SPEC's convention. Multichannel spectra (``@A`` lines, continued by a trailing
backslash) may follow every row, and ``#C`` comments may interrupt the rows (an aborted scan).

Each scan is one range. A scan with a 2θ column is read from it and from its detector column (labelled as
a counter, else the last column). A scan whose x is Q, d, r or another axis a text file may have, or whose
labels do not fit its columns, is read as text columns (:func:`~._pattern_text.read_text`, which converts
or refuses it with its reason); any other scan (of θ, a sample stage, time) is refused, saying what it
scans.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ._pattern_base import MeasuredPattern, PatternFileError, Ranges, annotated, build, parse_floats
from ._pattern_text import _column_axis, _is_intensity, decode, header_radiation, read_text

__all__ = ["is_spec", "read_spec"]

_SCAN_LINE = re.compile(r"^#S\s+(\d+)\s*(.*)$")
_HAS_SCAN = re.compile(r"^#S\s+\d+", re.MULTILINE)
_HAS_LABELS = re.compile(r"^#L\s", re.MULTILINE)
# Columns that are never the diffracted intensity: counting time, time stamps, the beam monitor, hkl.
_NOT_INTENSITY = re.compile(r"(seconds?|sec|time|epoch|monitor|mon|ion_?m?\d*|i0|h|k|l)", re.IGNORECASE)
# A line number in a message ("line 12: ...").
_LINE = re.compile(r"\bline (\d+)")
# "#T 1  (Seconds)": the counting time per point of a scan counted against time.
_COUNTING_TIME = re.compile(r"^#T\s+([0-9.eE+-]+)\s*\(?\s*sec", re.IGNORECASE)


def is_spec(text: str) -> bool:
    """A SPEC data file: a ``#S n`` scan line and a ``#L`` label line, and the first line that is not blank
    a ``#`` line."""
    return text.lstrip()[:1] == "#" and bool(_HAS_SCAN.search(text)) and bool(_HAS_LABELS.search(text))


def read_spec(source: str, data: bytes, format: str, wavelength: float | None = None) -> Ranges:
    """Every scan of a SPEC file, in file order: one entry each, the pattern or why it is none.
    ``wavelength`` (Å) reaches the scans read as text columns (an x of Q or d)."""
    del format
    lines = decode(source, data).splitlines()
    starts = [i for i, line in enumerate(lines) if _SCAN_LINE.match(line.strip())]
    if not starts:
        raise PatternFileError(f"{source}: a SPEC file without a scan (no #S line)")
    file_header = [i for i in range(starts[0]) if lines[i].strip().startswith("#")]
    ranges: Ranges = []
    for k, begin in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        try:
            ranges += _scan(source, lines, begin, end, file_header, wavelength)
        except PatternFileError as error:
            ranges.append(error)
    return ranges


def _scan(
    source: str,
    lines: Sequence[str],
    begin: int,
    end: int,
    file_header: list[int],
    wavelength: float | None,
) -> Ranges:
    """The range(s) of the scan on ``lines[begin:end]`` (its ``#S`` line first); ``file_header`` are the
    indices of the file header's lines."""
    match = _SCAN_LINE.match(lines[begin].strip())
    assert match is not None
    number, command = match.group(1), " ".join(match.group(2).split())
    here = f"scan {number} (line {begin + 1}{': ' + command if command else ''})"
    header: list[str] = []
    label_line: str | None = None
    rows: list[list[float]] = []
    row_lines: list[int] = []  # 1-based line numbers of the rows, for messages
    kept: list[int] = []  # the scan's lines without its spectra (0-based)
    continued = False  # inside an @A spectrum continued by a trailing backslash
    for i in range(begin, end):
        line = lines[i].strip()
        if continued or line.startswith("@"):
            continued = line.endswith("\\")
            continue
        kept.append(i)
        if not line:
            continue
        if line.startswith("#"):
            if not rows:
                header.append(line)
            if line.startswith("#L"):
                label_line = line[2:].strip()
            continue
        rows.append(parse_floats(source, i + 1, line.split()))
        row_lines.append(i + 1)
    if not rows:
        raise PatternFileError(f"{source}: {here}: no data rows (an aborted scan, or a single count)")
    width = len(rows[0])
    for values, line_number in zip(rows, row_lines, strict=True):
        if len(values) != width:
            raise PatternFileError(
                f"{source}: line {line_number}: {len(values)} numbers in a row of {here}, {width} before"
            )
    labels = _labels(label_line, width)
    axes = [] if labels is None else [None if _is_intensity(a) else _column_axis(a) for a in labels]
    two_theta = next((j for j, a in enumerate(axes) if a is not None and a.kind == "2theta"), None)
    if labels is None or (two_theta is None and axes[0] is not None):
        # Labels that do not fit the columns, or an x of Q, d, r, time of flight, another goniometer
        # angle: the text reader's rules read, convert or refuse it.
        found = _as_text_columns(source, lines, begin, kept, file_header, wavelength)
        return annotated(found, {"scan_number": number, "scan_command": command}, format="spec")
    if two_theta is None:
        raise PatternFileError(
            f"{source}: {here}: scans {labels[0]!r} and has no 2θ column ({', '.join(labels)}): not a 2θ scan"
        )
    columns = np.array(rows, dtype=np.float64)
    x = columns[:, two_theta]
    if np.ptp(x) == 0:
        raise PatternFileError(
            f"{source}: {here}: 2θ stays at {x[0]:g}° while {labels[0]!r} moves: not a 2θ scan"
        )
    counters = [j for j, label in enumerate(labels) if j != two_theta and _is_intensity(label)]
    if counters:
        y = counters[0]
    elif two_theta != width - 1 and not _NOT_INTENSITY.fullmatch(labels[-1]):
        y = width - 1  # SPEC writes its main counter last
    else:
        raise PatternFileError(f"{source}: {here}: no column holds a detector's counts ({', '.join(labels)})")
    timed = next((m.group(1) for m in map(_COUNTING_TIME.match, header) if m), "")
    metadata = {
        "scan_number": number,
        "scan_command": command,
        "columns": f"2θ/x from {labels[two_theta]!r}, intensity from {labels[y]!r}",
        "ignored_columns": str(width - 2),
        "header": "\n".join([*(lines[i].strip() for i in file_header), *header]),
        "date": next((h[2:].strip() for h in header if h.startswith("#D")), ""),
        "counting_time_s": timed,
    }
    radiation = header_radiation([*(lines[i] for i in file_header), *header])

    def where(i: int) -> str:
        return f"line {row_lines[min(i, len(row_lines) - 1)]}"

    pattern: MeasuredPattern = build(
        source, where, two_theta=x, intensity=columns[:, y], format="spec", metadata=metadata, **radiation
    )
    return [pattern]


def _labels(line: str | None, width: int) -> list[str] | None:
    """The labels of a ``#L`` line: two or more spaces apart (SPEC's layout, "Two Theta  Detector"), else
    one or more when that gives one per column; None when neither does."""
    if line is None:
        return None
    for separator in (r"\s{2,}", r"\s+"):
        labels = re.split(separator, line)
        if len(labels) == width:
            return labels
    return None


def _as_text_columns(
    source: str,
    lines: Sequence[str],
    begin: int,
    kept: list[int],
    file_header: list[int],
    wavelength: float | None,
) -> Ranges:
    """One scan read by :func:`~._pattern_text.read_text`: the file header (for a wavelength it states),
    then the scan's lines ``kept`` (its spectra blank); the line numbers of its messages are the file's."""
    heading = [lines[i] for i in file_header]
    scan = [""] * (kept[-1] + 1 - begin)
    for i in kept:
        scan[i - begin] = lines[i]
    text = "\n".join([*heading, *scan])

    def in_file(match: re.Match[str]) -> str:
        line = int(match.group(1))
        return f"line {file_header[line - 1] + 1 if line <= len(heading) else begin + line - len(heading)}"

    try:
        found = read_text(source, text.encode("utf-8"), "xy", wavelength)
    except PatternFileError as error:
        raise PatternFileError(_LINE.sub(in_file, str(error))) from None
    return [
        PatternFileError(_LINE.sub(in_file, str(r))) if isinstance(r, PatternFileError) else r for r in found
    ]
