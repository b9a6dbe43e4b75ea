"""Space-group operations as numpy arrays: parsing of CIF xyz strings, the group check, identification.

An operation maps fractional coordinates x -> R x + t, with R a (3, 3) integer matrix and t a (3,) vector.
A list of operations is a pair of arrays ``rotations`` (n, 3, 3) int64 and ``translations`` (n, 3) float64.
"""

from __future__ import annotations

import re

import gemmi
import numpy as np
import numpy.typing as npt

from .._base import TABLES_DENOMINATOR
from .._spglib import space_group_type_from_symmetry
from ..symmetry import format_operation

__all__ = [
    "check_group",
    "format_operation",
    "identify_space_group",
    "operations_from_symbol",
    "parse_operation",
    "unique_operations",
]

# Every translation in the International Tables is a multiple of 1/TABLES_DENOMINATOR (1/24); files often
# round them ("0.3333").
# A translation this close (in fractional units) to a multiple of 1/24 is taken to be that multiple.
_SNAP_TOLERANCE = 2e-3
# Two translations that differ by less than this modulo 1 are the same (after snapping they are exact).
_SAME_TRANSLATION = 1e-3

_TERM = re.compile(r"[+-]?[^+-]+")
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")


def _parse_constant(text: str) -> float:
    if "/" in text:
        num, _, den = text.partition("/")
        if not (_NUMBER.fullmatch(num) and _NUMBER.fullmatch(den)) or float(den) == 0:
            raise ValueError(f"bad fraction {text!r}")
        return float(num) / float(den)
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"bad term {text!r}")
    return float(text)


def _parse_component(text: str) -> tuple[list[int], float]:
    """One of the three comma-separated parts, e.g. ``"-x+y+1/2"`` -> ([-1, 1, 0], 0.5)."""
    if not text:
        raise ValueError("empty component")
    terms = _TERM.findall(text)
    if "".join(terms) != text:
        raise ValueError(f"cannot read {text!r}")
    row = [0, 0, 0]
    shift = 0.0
    for term in terms:
        sign = -1.0 if term[0] == "-" else 1.0
        body = term.lstrip("+-")
        if body and body[-1] in "xyz":
            axis = "xyz".index(body[-1])
            coefficient = body[:-1].rstrip("*")
            value = sign * (_parse_constant(coefficient) if coefficient else 1.0)
            if value != round(value):
                # A fractional coefficient cannot belong to an operation of a lattice.
                raise ValueError(f"non-integer coefficient in {text!r}")
            row[axis] += round(value)
        else:
            shift += sign * _parse_constant(body)
    return row, shift


def _snap(translation: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    scaled = translation * TABLES_DENOMINATOR
    nearest = np.round(scaled)
    close = np.abs(scaled - nearest) < _SNAP_TOLERANCE * TABLES_DENOMINATOR
    return np.where(close, nearest / TABLES_DENOMINATOR, translation)


def parse_operation(text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Rotation (3, 3) int64 and translation (3,) float64 of an xyz operation string.

    Accepts the forms found in CIFs: ``"x,y,z"``, ``"-y, x-y, z+1/3"``, ``"1/2+X,-Y,Z"``, ``"x+0.5,y,z"``,
    ``"2*x,..."``. Translations within 2e-3 of a multiple of 1/24 are snapped to it (files round 1/3 to
    0.3333), others are kept as given.

    Raises:
        ValueError: not three components, an unreadable term, a non-integer coefficient, or a rotation whose
            determinant is not ±1.
    """
    cleaned = re.sub(r"\s+", "", text).lower().strip("'\"")
    parts = cleaned.split(",")
    if len(parts) != 3:
        raise ValueError(f"operation {text!r} does not have three components")
    rows, shifts = [], []
    try:
        for part in parts:
            row, shift = _parse_component(part)
            rows.append(row)
            shifts.append(shift)
    except ValueError as exc:
        raise ValueError(f"cannot read operation {text!r}: {exc}") from None
    rotation = np.array(rows, dtype=np.int64)
    det = round(np.linalg.det(rotation))
    if det not in (1, -1):
        raise ValueError(f"operation {text!r} has a rotation part with determinant {det}, not ±1")
    return rotation, _snap(np.array(shifts, dtype=np.float64))


def _wrapped(translations: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    wrapped = translations - np.floor(translations)
    # Values a hair below 1 are 0 modulo 1; fold them so that equal translations compare equal.
    wrapped[wrapped > 1.0 - _SAME_TRANSLATION] -= 1.0
    return wrapped


def _rotation_keys(rotations: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    # Entries of crystallographic rotations are small integers; encode the 9 entries in base 2**7 around 64.
    flat = rotations.reshape(-1, 9).astype(np.int64) + 64
    return flat @ (128 ** np.arange(9, dtype=np.int64))


def unique_operations(
    rotations: npt.NDArray[np.int64], translations: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The operations without repeats modulo lattice translations, in first-seen order.

    Translations are returned wrapped into [0, 1).
    """
    rot = np.asarray(rotations, dtype=np.int64).reshape(-1, 3, 3)
    tra = _wrapped(np.asarray(translations, dtype=np.float64).reshape(-1, 3))
    keys = _rotation_keys(rot)
    keep: list[int] = []
    for i in range(len(rot)):
        duplicate = False
        for j in keep:
            if keys[j] == keys[i]:
                diff = tra[i] - tra[j]
                if np.all(np.abs(diff - np.round(diff)) < _SAME_TRANSLATION):
                    duplicate = True
                    break
        if not duplicate:
            keep.append(i)
    index = np.array(keep, dtype=np.int64)
    return rot[index], tra[index]


def check_group(rotations: npt.NDArray[np.int64], translations: npt.NDArray[np.float64]) -> None:
    """Raise ValueError unless the operations (without repeats) are closed under composition modulo lattice
    translations, i.e. form a space group. A closed finite set also holds the identity and all inverses.
    """
    rot = np.asarray(rotations, dtype=np.int64)
    tra = np.asarray(translations, dtype=np.float64)
    n = len(rot)
    # (R1, t1) ∘ (R2, t2) = (R1 R2, R1 t2 + t1), for all n² pairs at once.
    prod_rot = np.einsum("aij,bjk->abik", rot, rot).reshape(n * n, 3, 3)
    prod_tra = (np.einsum("aij,bj->abi", rot, tra) + tra[:, None, :]).reshape(n * n, 3)
    keys = _rotation_keys(rot)
    prod_keys = _rotation_keys(prod_rot)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    lo = np.searchsorted(sorted_keys, prod_keys, side="left")
    hi = np.searchsorted(sorted_keys, prod_keys, side="right")
    missing_rotation = lo == hi
    if np.any(missing_rotation):
        k = int(np.argmax(missing_rotation))
        raise ValueError(
            "operations do not form a group: "
            f"{format_operation(rot[k // n], tra[k // n])} followed by "
            f"{format_operation(rot[k % n], tra[k % n])} is not in the list"
        )
    # Few operations share a rotation (at most the number of centring vectors); compare those translations.
    width = int((hi - lo).max())
    found = np.zeros(n * n, dtype=bool)
    for offset in range(width):
        idx = np.minimum(lo + offset, n - 1)
        valid = lo + offset < hi
        diff = prod_tra - tra[order[idx]]
        close = np.all(np.abs(diff - np.round(diff)) < _SAME_TRANSLATION, axis=1)
        found |= valid & close
    if not np.all(found):
        k = int(np.argmin(found))
        raise ValueError(
            "operations do not form a group: "
            f"{format_operation(rot[k // n], tra[k // n])} followed by "
            f"{format_operation(rot[k % n], tra[k % n])} is not in the list"
        )


def _from_gemmi(ops: gemmi.GroupOps) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    all_ops = list(ops)
    den = gemmi.Op.DEN
    rot = np.array([op.rot for op in all_ops], dtype=np.int64) // den
    tra = np.array([op.tran for op in all_ops], dtype=np.float64) / den
    return rot, tra


def operations_from_symbol(
    hall: str | None = None,
    hm: str | None = None,
    number: int | None = None,
    alpha: float = 90.0,
    gamma: float = 90.0,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], int]:
    """Operations and space-group number from a Hall symbol, else an H-M symbol, else an IT number.

    A Hall symbol fixes the setting exactly. An H-M symbol is looked up in gemmi's table; for rhombohedral
    groups the cell angles choose between hexagonal and rhombohedral axes. A bare number gives the standard
    setting of the International Tables.

    Raises:
        ValueError: the symbol or number names no space group.
    """
    if hall:
        try:
            ops = gemmi.symops_from_hall(hall)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"unknown Hall symbol {hall!r} ({exc})") from None
        sg = gemmi.find_spacegroup_by_ops(ops)
        rot, tra = _from_gemmi(ops)
        found = sg.number if sg is not None else None
        if found is None:
            found = identify_space_group(rot, tra)
        if found is None:
            raise ValueError(f"Hall symbol {hall!r} gives no space group")
        return rot, tra, found
    if hm:
        sg = gemmi.find_spacegroup_by_name(hm, alpha, gamma) or _with_qualifier(hm)
        if sg is None:
            raise ValueError(f"unknown H-M symbol {hm!r}")
        rot, tra = _from_gemmi(sg.operations())
        return rot, tra, sg.number
    if number is not None:
        if not 1 <= number <= 230:
            raise ValueError(f"space-group number must be in 1..230, got {number}")
        sg = gemmi.find_spacegroup_by_number(number)
        rot, tra = _from_gemmi(sg.operations())
        return rot, tra, sg.number
    raise ValueError("no symbol or number given")


def _with_qualifier(hm: str) -> gemmi.SpaceGroup | None:
    """The setting of a short symbol with a cell-choice qualifier ("C2:b1", "P21/n:b2": unique axis b, cell
    choice 1 or 2), which gemmi's name lookup does not parse; None unless exactly one setting matches."""
    base, colon, qualifier = hm.partition(":")
    if not colon:
        return None
    squeezed = base.replace(" ", "").replace("_", "")
    qualifier = qualifier.strip()
    matches = [
        sg
        for sg in gemmi.spacegroup_table()
        if sg.qualifier == qualifier and squeezed in (sg.short_name(), sg.hm.replace(" ", ""))
    ]
    return matches[0] if len(matches) == 1 else None


def identify_space_group(
    rotations: npt.NDArray[np.int64],
    translations: npt.NDArray[np.float64],
    lattice: npt.ArrayLike | None = None,
) -> int | None:
    """Space-group number (1..230) of a group of operations in any setting, or None when not identified.

    gemmi's table is tried first (exact for the ~550 tabulated settings); spglib then identifies any other
    setting (origin shifts, unusual axes) from the operations.
    """
    rot = np.asarray(rotations, dtype=np.int64)
    tra = np.asarray(translations, dtype=np.float64)
    scaled = tra * gemmi.Op.DEN
    if np.all(np.abs(scaled - np.round(scaled)) < 1e-6):
        ops = []
        for r, t in zip(rot, np.round(scaled).astype(np.int64), strict=True):
            op = gemmi.Op()
            op.rot = (r * gemmi.Op.DEN).tolist()
            op.tran = t.tolist()
            ops.append(op)
        sg = gemmi.find_spacegroup_by_ops(gemmi.GroupOps(ops))
        if sg is not None:
            return int(sg.number)
    found = space_group_type_from_symmetry(rot, tra, lattice, symprec=1e-3)
    return None if found is None else int(found.number)
