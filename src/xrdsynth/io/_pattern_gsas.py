"""GSAS powder data files (constant wavelength; time of flight is refused)."""

from __future__ import annotations

import re

import numpy as np

from ._pattern_base import (
    WAVELENGTH_RANGE,
    MeasuredPattern,
    PatternFileError,
    Ranges,
    build,
    parse_floats,
)
from ._pattern_text import header_radiation

# ---------------------------------------------------------------------------------------------------------
# GSAS standard powder data file

_GSAS_CONSTANT_WAVELENGTH = ("CONS", "CONST")
_GSAS_TIME_OF_FLIGHT = ("RALF", "SLOG", "TIME_MAP", "TIMEMAP")
_GSAS_TYPES = ("STD", "ESD", "FXY", "FXYE", "ALT")
# A wavelength the title writes with its unit and no keyword ("PbSO4 1.909A neutron data"), taken where the
# title names the radiation (a length in Å may be something else: "2.5A pores").
_TITLE_WAVELENGTH = re.compile(r"(?<![\w.])(\d+\.\d+) ?(?:A|Å|Ang)(?!\w)")
_RADIATION_WORDS = re.compile(r"neutron|x-?ray|synchrotron|radiation", re.IGNORECASE)
_NEUTRON = re.compile(r"\bneutrons?\b", re.IGNORECASE)


def is_gsas(lines: list[str]) -> bool:
    """A title line, then (after an optional instrument-parameter line and # comments) a BANK line."""
    for number, line in enumerate(lines[1:60], start=2):
        if line.startswith("BANK") and len(line.split()) >= 3:
            return True
        if number == 2 and line.lower().startswith("inst"):
            continue
        if line.strip() and not line.startswith(("#", "TIME_MAP", "Monitor")):
            return False
    return False


def read_gsas(source: str, text: str) -> Ranges:
    lines = text.splitlines()
    title = lines[0].strip() if lines else ""
    comments = [title] + [line[1:].strip() for line in lines if line.startswith("#")]
    banks = [i for i, line in enumerate(lines) if line.startswith("BANK")]
    if not banks:
        raise PatternFileError(f"{source}: a GSAS file without a BANK line")
    ranges: Ranges = []
    for k, start in enumerate(banks):
        end = banks[k + 1] if k + 1 < len(banks) else len(lines)
        body = [
            (n + 1, line)
            for n, line in enumerate(lines[start + 1 : end], start=start + 1)
            if line.strip() and not line.startswith("#")
        ]
        try:
            ranges.append(_gsas_bank(source, lines[start], start + 1, body, title, comments))
        except PatternFileError as error:
            ranges.append(error)
    return ranges


def _gsas_bank(
    source: str, bank: str, line_number: int, body: list[tuple[int, str]], title: str, comments: list[str]
) -> MeasuredPattern:
    words = bank.split()
    where_bank = f"line {line_number} ({' '.join(words[:2])})"
    kind = words[4].upper() if len(words) > 4 else ""
    data_type = next((w.upper() for w in reversed(words[5:]) if w.upper() in _GSAS_TYPES), "STD")
    if kind in _GSAS_TIME_OF_FLIGHT or kind.startswith("TIME_MAP"):
        raise PatternFileError(
            f"{source}: {where_bank}: a time-of-flight (neutron) bank ({kind}); its x is time, not 2θ"
        )
    if kind == "EDS" or "EDS" in (w.upper() for w in words[4:]):
        raise PatternFileError(
            f"{source}: {where_bank}: an energy-dispersive bank (EDS); its x is energy, not 2θ"
        )
    if kind not in _GSAS_CONSTANT_WAVELENGTH:
        raise PatternFileError(
            f"{source}: {where_bank}: bin type {kind or '(none)'!r} is not a constant-wavelength 2θ bank "
            "(CONS or CONST)"
        )
    try:
        n_channels = int(words[2])
        coefficients = [float(w) for w in words[5:7]]
    except (IndexError, ValueError):
        raise PatternFileError(
            f"{source}: {where_bank}: unreadable BANK line {bank.strip()[:80]!r}"
        ) from None
    if n_channels < 2:
        raise PatternFileError(f"{source}: {where_bank}: {n_channels} channel(s)")
    sigma = None
    numbers: list[int] = []  # the line of each point, for messages
    if data_type in ("FXY", "FXYE"):
        rows = []
        for number, line in body:
            values = parse_floats(source, number, line.split())
            if len(values) < (3 if data_type == "FXYE" else 2):
                raise PatternFileError(f"{source}: line {number}: {len(values)} values in a {data_type} bank")
            rows.append(values[:3])
            numbers.append(number)
        if not rows:
            raise PatternFileError(f"{source}: {where_bank}: no data")
        table = np.array([r[:3] if data_type == "FXYE" else r[:2] for r in rows], dtype=np.float64)
        two_theta = table[:, 0] / 100.0  # constant wavelength: x in centidegrees
        intensity = table[:, 1]
        if data_type == "FXYE":
            sigma = np.abs(table[:, 2])
    elif data_type in ("STD", "ESD"):
        if len(coefficients) < 2:
            raise PatternFileError(f"{source}: {where_bank}: no start and step on the BANK line")
        start, step = coefficients[0] / 100.0, coefficients[1] / 100.0  # centidegrees
        width = 8
        values: list[float] = []
        for number, line in body:
            fields = [line[i : i + width] for i in range(0, len(line.rstrip("\r\n")), width)]
            for field in fields:
                if not field.strip():
                    continue
                # STD: I2 (number of counters, blank = 1) then F6 counts; ESD: pairs F8 count, F8 esd.
                text = field[2:] if data_type == "STD" else field
                parsed = parse_floats(source, number, [text])
                values.append(parsed[0])
                numbers.append(number)
        if data_type == "ESD":
            if len(values) % 2:
                raise PatternFileError(f"{source}: {where_bank}: an odd number of values in an ESD bank")
            intensity = np.array(values[0::2], dtype=np.float64)
            sigma = np.abs(np.array(values[1::2], dtype=np.float64))
            numbers = numbers[0::2]
        else:
            intensity = np.array(values, dtype=np.float64)
        two_theta = start + step * np.arange(intensity.shape[0], dtype=np.float64)
    else:
        raise PatternFileError(
            f"{source}: {where_bank}: {data_type} banks are not supported (STD, ESD, FXY, FXYE)"
        )
    note = ""
    if intensity.shape[0] < n_channels:
        # GSAS-II reads the points a bank holds, whatever its BANK line says (its PrSrMnO.gda tutorial file
        # holds 2395 of the 2415 it states); they stand where they belong, and the note says what is missing.
        note = f"the BANK line states {n_channels} points; the bank holds {intensity.shape[0]}, all read"
    # Some writers pad the last STD line; the BANK line says how many channels are real.
    two_theta, intensity = two_theta[:n_channels], intensity[:n_channels]
    sigma = None if sigma is None else sigma[:n_channels]
    metadata = {
        "sample": title,
        "bank": " ".join(words[:2]),
        "gsas_type": data_type,
        "x_axis": "2θ in centidegrees",
        "probe": "neutron" if any(_NEUTRON.search(line) for line in comments) else "",
        "note": note,
    }
    stated = header_radiation(comments)
    in_title = _TITLE_WAVELENGTH.search(title)
    if (
        not stated
        and in_title
        and _RADIATION_WORDS.search(title)
        and WAVELENGTH_RANGE[0] <= float(in_title.group(1)) <= WAVELENGTH_RANGE[1]
    ):
        stated = {"wavelength": float(in_title.group(1))}

    def where(i: int) -> str:
        return f"line {numbers[min(i, len(numbers) - 1)]}" if numbers else where_bank

    return build(
        source,
        where,
        two_theta=two_theta,
        intensity=intensity,
        sigma=sigma,
        format="gsas",
        metadata=metadata,
        **stated,
    )
