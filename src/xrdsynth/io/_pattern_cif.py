"""Powder CIF (pdCIF, the IUCr powder dictionary): measured patterns in CIF data blocks, as journals, the COD,
GSAS-II, TOPAS and FullProf write them.

A block holds a pattern when a loop has a measured intensity column (``_pd_meas_counts_total``,
``_pd_meas_intensity_total``, ``_pd_proc_intensity_total`` or ``_pd_proc_intensity_net``, the first of these
present). Its 2θ is a column of the same loop (``_pd_proc_2theta_corrected``, ``_pd_meas_2theta_scan``, ...)
or a stated range (``_pd_proc_2theta_range_min/max/inc``, else
``_pd_meas_2theta_range_...``) with exactly as many points as the loop. Each such block is one range of the
file; blocks without one (the phases of a refinement) are skipped. Values carry standard uncertainties in
parentheses, "1234(35)", or in a column of their own (``..._su``); the intensities' ones become ``sigma``
when every point has one.
"""

from __future__ import annotations

import math
import re

import gemmi
import numpy as np

from ._pattern_base import MeasuredPattern, PatternFileError, Ranges, build, radiation, two_theta_from_d

#: Measured intensity columns, in order of preference (observed counts before processed intensities).
INTENSITY_TAGS = (
    "_pd_meas_counts_total",
    "_pd_meas_intensity_total",
    "_pd_proc_intensity_total",
    "_pd_proc_intensity_net",
)
#: 2θ columns in degrees, in order of preference: corrected angles (a refined zero shift applied) first;
#: ``_pd_meas_2theta_corrected`` is not in the dictionary but written by some programs.
TWO_THETA_TAGS = (
    "_pd_proc_2theta_corrected",
    "_pd_meas_2theta_corrected",
    "_pd_meas_2theta_scan",
    "_pd_meas_angle_2theta",
)
#: x columns that are not 2θ: refused (time of flight, energy, detector position) or converted (d).
_OTHER_X = {
    "_pd_meas_time_of_flight": "time of flight (a neutron TOF pattern)",
    "_pd_proc_energy_incident": "energy (an energy-dispersive pattern)",
    "_pd_meas_position": "a detector position in mm",
}
_D_TAG = "_pd_proc_d_spacing"
_NUMBER = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?:\((\d+)\))?$")


def is_pdcif(lines: list[str]) -> bool:
    """A CIF (a ``data_`` line among the first lines) that uses the powder dictionary's ``_pd_`` tags."""
    return any(line.lower().startswith("data_") for line in lines) and any(
        line.lstrip().lower().startswith("_pd_") for line in lines
    )


def is_structure_cif(lines: list[str]) -> bool:
    """A CIF of a crystal structure (cell or atom sites) without powder data in its first lines."""
    return any(line.lower().startswith("data_") for line in lines) and any(
        line.lstrip().lower().startswith(("_cell_length_", "_atom_site_", "_symmetry_", "_space_group_"))
        for line in lines
    )


def read_pdcif(source: str, text: str) -> Ranges:
    try:
        document = gemmi.cif.read_string(text)
    except (RuntimeError, ValueError) as exc:  # gemmi reports syntax errors with the line
        raise PatternFileError(f"{source}: not a readable CIF ({exc})") from None
    ranges: Ranges = []
    for block in document:
        tag = next((t for t in INTENSITY_TAGS if block.find_loop(t)), None)
        if tag is None:
            continue
        try:
            ranges.append(_block_pattern(source, document, block, tag))
        except PatternFileError as error:
            ranges.append(error)
    if not ranges:
        calculated = any(block.find_loop("_pd_calc_intensity_total") for block in document)
        raise PatternFileError(
            f"{source}: a CIF without measured powder data (no loop of {', '.join(INTENSITY_TAGS)})"
            + ("; it holds calculated intensities only" if calculated else "")
            + ": a crystal structure is read with xrdsynth.Crystal.from_cif"
        )
    return ranges


def _block_pattern(
    source: str, document: gemmi.cif.Document, block: gemmi.cif.Block, tag: str
) -> MeasuredPattern:
    """The pattern of ``block``, whose intensities are the loop column ``tag``."""
    name = f"data_{block.name}"
    raw_intensity = list(block.find_loop(tag))
    intensity, sigma = _numbers_with_su(source, name, tag, raw_intensity)
    su_column = list(block.find_loop(f"{tag}_su"))  # DDLm style: the uncertainties in a column of their own
    if len(su_column) == len(raw_intensity):
        su = _numbers_with_su(source, name, f"{tag}_su", su_column)[0]
        sigma = np.abs(su) if np.isfinite(su[np.isfinite(intensity)]).all() else None
    wavelengths = _wavelengths(document, block)
    ka1 = wavelengths.get("wavelength")
    metadata = {
        "block": name,
        "intensity_column": tag,
        "sample": _text(block, "_pd_spec_description") or _text(block, "_pd_block_id") or block.name,
        "probe": _text(block, "_diffrn_radiation_probe"),
        "radiation": _text(block, "_diffrn_radiation_type"),
        "date": _text(block, "_pd_meas_datetime_initiated"),
    }
    two_theta = _two_theta(source, name, block, tag, len(raw_intensity), ka1, metadata)
    # Points whose x or intensity is unknown ('?' or '.') are left out, and counted.
    known = np.isfinite(two_theta) & np.isfinite(intensity)
    if not known.all():
        metadata["points_without_value"] = str(int((~known).sum()))
    rows = np.flatnonzero(known)

    def where(i: int) -> str:
        return f"{name}, point {int(rows[min(i, len(rows) - 1)]) + 1}" if len(rows) else name

    return build(
        source,
        where,
        two_theta=two_theta[known],
        intensity=intensity[known],
        sigma=None if sigma is None else sigma[known],
        format="cif",
        metadata=metadata,
        **wavelengths,
    )


def _two_theta(
    source: str,
    name: str,
    block: gemmi.cif.Block,
    intensity_tag: str,
    count: int,
    wavelength: float | None,
    metadata: dict[str, str],
) -> np.ndarray:
    """(count,) 2θ in degrees of the intensity loop's points: a 2θ column of the same loop, a d column
    converted with the stated wavelength, or a stated range of exactly ``count`` points."""
    loop_tags = {t.lower() for t in block.find_loop_item(intensity_tag).loop.tags}
    for tag in TWO_THETA_TAGS:
        if tag in loop_tags:
            return _numbers_with_su(source, name, tag, list(block.find_loop(tag)))[0]
    if _D_TAG in loop_tags:
        if wavelength is None:
            raise PatternFileError(
                f"{source}: {name}: its x is d ({_D_TAG}) and the block states no wavelength, so 2θ is "
                "unknown"
            )
        d = _numbers_with_su(source, name, _D_TAG, list(block.find_loop(_D_TAG)))[0]
        metadata["x_axis"] = "d in Å"
        try:
            return two_theta_from_d(d, wavelength)
        except ValueError as exc:
            raise PatternFileError(f"{source}: {name}: {exc}") from None
    stated = []
    for kind in ("proc", "meas"):
        limits = [_number(block, f"_pd_{kind}_2theta_range_{end}") for end in ("min", "max", "inc")]
        if any(v is None for v in limits):
            continue
        low, high, step = limits
        if step > 0 and high > low and round((high - low) / step) + 1 == count:
            return low + step * np.arange(count, dtype=np.float64)
        points = round((high - low) / step) + 1 if step > 0 and high > low else 0
        stated.append(
            f"_pd_{kind}_2theta_range_min/max/inc ({low:g} to {high:g} by {step:g}: {points} points)"
        )
    if stated:
        raise PatternFileError(
            f"{source}: {name}: {intensity_tag} has {count} points, but {' and '.join(stated)}"
        )
    for tag, meaning in _OTHER_X.items():
        if tag in loop_tags:
            raise PatternFileError(f"{source}: {name}: its x is {meaning} ({tag}), not 2θ")
    raise PatternFileError(
        f"{source}: {name}: {intensity_tag} without 2θ (no {', '.join(TWO_THETA_TAGS)} column in its loop "
        "and no _pd_proc_2theta_range_min/max/inc or _pd_meas_2theta_range_min/max/inc)"
    )


def _numbers_with_su(
    source: str, name: str, tag: str, values: list[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """(n,) float64 values of a column ('?' and '.' are NaN) and (n,) their standard uncertainties from the
    parentheses, or None unless every known value has one. Anything else that is not a number is refused."""
    numbers = np.full(len(values), math.nan)
    su = np.full(len(values), math.nan)
    for i, raw in enumerate(values):
        if raw in ("?", "."):
            continue
        match = _NUMBER.match(raw)
        if match is None:
            raise PatternFileError(f"{source}: {name}: {tag} point {i + 1} is not a number ({raw[:30]!r})")
        mantissa, digits = match.groups()
        numbers[i] = float(mantissa)
        if digits is not None:
            # "12.34(5)": the uncertainty in units of the last digit written.
            significand, _, exponent = mantissa.lower().partition("e")
            decimals = len(significand.partition(".")[2])
            su[i] = int(digits) * 10.0 ** (int(exponent or 0) - decimals)
    known = np.isfinite(numbers)
    with_su = np.isfinite(su[known]).all() and known.any()
    return numbers, (np.where(known, su, 0.0) if with_su else None)


def _wavelengths(document: gemmi.cif.Document, block: gemmi.cif.Block) -> dict[str, float]:
    """Kα1 (and Kα2, ratio) from ``_diffrn_radiation_wavelength`` of the block, or of the file when exactly
    one block states it; a looped pair with weights ``_diffrn_radiation_wavelength_wt`` is a doublet."""
    stating = [b for b in document if b.find_values("_diffrn_radiation_wavelength")]
    distinct = {tuple(b.find_values("_diffrn_radiation_wavelength")) for b in stating}
    own = any(b.name == block.name for b in stating)
    where = block if own else (stating[0] if len(distinct) == 1 else None)
    if where is not None:
        values = [gemmi.cif.as_number(v) for v in where.find_values("_diffrn_radiation_wavelength")]
        weights = [gemmi.cif.as_number(v) for v in where.find_values("_diffrn_radiation_wavelength_wt")]
        if len(values) == 1:
            return radiation(values[0])
        ratio = weights[1] / weights[0] if len(weights) >= 2 and weights[0] > 0 else None
        return radiation(values[0], values[1], ratio)
    single = _number(block, "_pd_proc_wavelength")
    return radiation(single) if single is not None else {}


def _number(block: gemmi.cif.Block, tag: str) -> float | None:
    value = block.find_value(tag)
    if value is None:
        return None
    number = gemmi.cif.as_number(value)
    return number if math.isfinite(number) else None


def _text(block: gemmi.cif.Block, tag: str) -> str:
    value = block.find_value(tag)
    return "" if value is None or value in ("?", ".") else gemmi.cif.as_string(value).strip()
