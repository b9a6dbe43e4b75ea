"""Reading CIF crystal structures (writing: :mod:`._cif_write`).

gemmi parses the CIF syntax; everything crystallographic (numbers with uncertainties, elements, displacement
parameters, symmetry operations, the expansion to the full unit cell) is done here with numpy, so that the
rules are ours, documented, and testable.

Reading rules (one data block):

- Cell: the six ``_cell_length_*``/``_cell_angle_*`` values, uncertainties such as ``5.4307(2)`` allowed.
- Atom sites: ``_atom_site_fract_x/y/z`` (DDL1 ``_atom_site_fract_x`` or DDLm ``_atom_site.fract_x``
  spellings). The element comes from ``_atom_site_type_symbol`` (with its formal charge, "Fe3+"), else
  from the label ("Fe1A"). One known conversion error is corrected: a site labelled "Wat..." (water) with
  type symbol "W" is oxygen, not tungsten. Occupancy defaults to 1; sites with occupancy 0 and dummy sites
  (``_atom_site_calc_flag dum``) scatter nothing and are left out.
- Displacement: ``_atom_site_B_iso_or_equiv`` is used as is; else ``_atom_site_U_iso_or_equiv`` as
  B = 8π²U; else the anisotropic tensor (``_atom_site_aniso_U_ij`` or ``_B_ij``) as B = 8π²U_eq with the full
  U_eq = tr(M N U N Mᵀ)/3 of the cell; else 0.
- Operations: ``_space_group_symop_operation_xyz`` or ``_symmetry_equiv_pos_as_xyz``; when a file lists none,
  they are generated from the Hall symbol, else the H-M symbol (``_space_group_name_H-M_alt``,
  ``_symmetry_space_group_name_H-M``, else the dictionary's ``_ref`` and ``_full`` forms; cell angles pick
  rhombohedral or hexagonal axes; a cell-choice qualifier such as "C2:b1" is understood), else the IT number
  (standard setting); with none of these the file is read as P1, with a warning. The operations must form a
  group modulo lattice translations.
- Space-group number, in this order: ``_space_group_IT_number`` / ``_symmetry_Int_Tables_number``; else the
  group formed by the operations (gemmi's table, then spglib for any other setting); else the Hall/H-M symbol.
  A number that contradicts non-trivial operations is an error. A file whose only operation is the identity
  but which names another group (as :meth:`Crystal.to_cif` writes: every atom listed, group kept as a
  label) keeps that number.
- Setting: when the operations form a group other than the default setting of its number (spglib's, see
  :class:`xrdsynth.symmetry.SpaceGroup`), e.g. Pbnm for Pnma or origin choice 2 of Fd-3m, the atoms stay in
  the file's axes and ``setting`` names the file's setting (gemmi's extended H-M symbol, "P b n m"; for
  settings gemmi does not tabulate, the file's symbol with "(other origin or axes)"); None for the default
  setting, and for files that list only the identity (their number is a label).
- Several data blocks with atoms: the first is read unless a block is named, with a warning that names the
  others (``Crystal.read_all`` reads them all).
- Expansion: each site is mapped by every operation and wrapped into [0, 1). Images of one site closer than
  ``SAME_POSITION_TOLERANCE`` (3e-3 Å) are one atom (a special position). Images closer than
  ``SPECIAL_POSITION_TOLERANCE`` (0.05 Å) are also one atom when their summed occupancy would exceed 1 — they
  cannot all be occupied, so the coordinates were rounded (e.g. 0.333 for 1/3); otherwise they are kept as a
  split site. A merged atom sits at the mean of its images, i.e. on the special position. Different sites
  (labels) are never merged: a mixed site stays one atom per element with its own occupancy.
"""

from __future__ import annotations

import gzip
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import gemmi
import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .._base import SAME_POSITION_TOLERANCE, TABLES_DENOMINATOR
from .._elements import element_from_label, parse_type_symbol
from .._errors import CIFError, warn_at_caller
from .._lattice import lattice_from_parameters, parameters_from_lattice, u_equivalent
from .._math import periodic_distances, wrap_fractional
from ..symmetry import SpaceGroup
from ._symop import (
    check_group,
    identify_space_group,
    operations_from_symbol,
    parse_operation,
    unique_operations,
)

__all__ = [
    "SAME_POSITION_TOLERANCE",
    "SPECIAL_POSITION_TOLERANCE",
    "ParsedStructure",
    "parse_cif_text",
    "read_cif_text",
]

SPECIAL_POSITION_TOLERANCE = 0.05
"""Å: images of one site closer than this are merged when their occupancies could not all be real."""
_OVERFULL = 1.01  # summed occupancy above which images that close cannot all be occupied
_EIGHT_PI_SQUARED = 8.0 * np.pi**2
_TUNGSTEN, _OXYGEN = 74, 8

_CELL_TAGS = ("length_a", "length_b", "length_c", "angle_alpha", "angle_beta", "angle_gamma")
_OPERATION_TAGS = (
    "_space_group_symop_operation_xyz",
    "_space_group_symop.operation_xyz",
    "_symmetry_equiv_pos_as_xyz",
    "_symmetry_equiv.pos_as_xyz",
)
_NUMBER_TAGS = (
    "_space_group_IT_number",
    "_space_group.IT_number",
    "_symmetry_Int_Tables_number",
    "_symmetry.Int_Tables_number",
)
_HM_TAGS = (
    "_space_group_name_H-M_alt",
    "_space_group.name_H-M_alt",
    "_symmetry_space_group_name_H-M",
    "_symmetry.space_group_name_H-M",
    # The dictionary's reference and full forms ("F m -3 m", "P 21/n 21/m 21/a"), which some writers give
    # alone (COD's reference files, diffpy's tests).
    "_space_group_name_H-M_ref",
    "_space_group.name_H-M_ref",
    "_space_group_name_H-M_full",
    "_space_group.name_H-M_full",
)
_HALL_TAGS = (
    "_space_group_name_Hall",
    "_space_group.name_Hall",
    "_symmetry_space_group_name_Hall",
    "_symmetry.space_group_name_Hall",
)
_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_UNCERTAINTY = re.compile(r"\(\d+\)$")
# Control characters other than tab, newline, vertical tab, form feed and carriage return mark binary data.
_BINARY = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class ParsedStructure:
    """One data block read into arrays, ready to become a :class:`xrdsynth.Crystal`.

    Attributes:
        block_name: the CIF data block's name.
        lattice: (3, 3) float64 Å, rows a, b, c.
        frac_coords: (N, 3) float64 fractional coordinates of every atom of the unit cell.
        numbers: (N,) int64 atomic numbers.
        occupancies: (N,) float64.
        b_iso: (N,) float64 isotropic displacement parameters B in Å².
        charges: (N,) float64 formal charges.
        space_group: international number 1..230.
        setting: the file's setting when it is not the default one of its number (e.g. "P b n m"), else None.
    """

    block_name: str
    lattice: npt.NDArray[np.float64]
    frac_coords: npt.NDArray[np.float64]
    numbers: npt.NDArray[np.int64]
    occupancies: npt.NDArray[np.float64]
    b_iso: npt.NDArray[np.float64]
    charges: npt.NDArray[np.float64]
    space_group: int
    setting: str | None = None


class _BlockError(Exception):
    """A problem in one block; turned into a CIFError that names the source and the block."""


# ---------------------------------------------------------------------------------------------------------
# Text and values


def read_cif_text(path: str | os.PathLike[str]) -> str:
    """The text of a CIF file (``.gz`` is decompressed), checked to be text.

    Raises:
        OSError: the file cannot be opened (a missing file is not a CIF problem).
        CIFError: empty, compressed wrongly, or binary content.
    """
    source = os.fspath(path)
    data = Path(path).read_bytes()
    if source.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise CIFError(f"{source}: cannot decompress ({exc})") from None
    if b"\x00" in data:
        raise CIFError(f"{source}: binary file (NUL bytes), not a CIF")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # CIF 1.1 is ASCII but old files carry Latin-1 comments ("Å"); Latin-1 decodes any byte.
        return data.decode("latin-1")


def _parse_document(text: str, source: str) -> gemmi.cif.Document:
    text = text.rstrip("\x1a")  # a DOS end-of-file mark is not content
    if not text.strip():
        raise CIFError(f"{source}: empty file")
    bad = _BINARY.search(text)
    if bad is not None:
        raise CIFError(
            f"{source}: binary or control character {bad.group()!r} at offset {bad.start()}, not a CIF"
        )
    try:
        doc = gemmi.cif.read_string(text)
    except (RuntimeError, ValueError) as exc:
        message = str(exc).replace("string:", "line ", 1)
        first = next((line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"), "")
        if "expected block header" not in message or not first.startswith(("_", "loop_")):
            raise CIFError(f"{source}: not a valid CIF: {message}") from None
        # Tags without a "data_" line (a fragment, as some programs write them): one block, and a warning.
        message = f"{source}: no 'data_' line before the first tag; read as one data block"
        warnings.warn(message, UserWarning, stacklevel=4)
        return _parse_document("data_unnamed\n" + text, source)
    if len(doc) == 0:
        raise CIFError(f"{source}: no data block (no 'data_' line)")
    return doc


def _number(raw: str | None, what: str) -> float | None:
    """Float of a CIF numeric value ("0.1234(5)" -> 0.1234); None for missing ('?', '.' or absent)."""
    if raw is None or gemmi.cif.is_null(raw):
        return None
    text = _UNCERTAINTY.sub("", gemmi.cif.as_string(raw).strip())
    if not _NUMERIC.fullmatch(text):
        raise _BlockError(f"{what} is not a number: {gemmi.cif.as_string(raw)!r}")
    value = float(text)
    if not np.isfinite(value):
        raise _BlockError(f"{what} is not finite: {raw!r}")
    return value


def _first_value(block: gemmi.cif.Block, tags: tuple[str, ...]) -> tuple[str, str] | None:
    for tag in tags:
        raw = block.find_value(tag)
        if raw is not None:
            return tag, raw
    return None


# ---------------------------------------------------------------------------------------------------------
# Parts of a block


def _cell(block: gemmi.cif.Block) -> npt.NDArray[np.float64]:
    values = []
    for name in _CELL_TAGS:
        found = _first_value(block, (f"_cell_{name}", f"_cell.{name}"))
        if found is None:
            raise _BlockError(f"missing _cell_{name}")
        value = _number(found[1], found[0])
        if value is None:
            raise _BlockError(f"{found[0]} has no value ({found[1]!r})")
        values.append(value)
    try:
        return lattice_from_parameters(*values)
    except ValueError as exc:
        raise _BlockError(f"invalid cell: {exc}") from None


def _find_table(block: gemmi.cif.Block, prefixes: tuple[str, ...], tags: list[str]) -> gemmi.cif.Table | None:
    for prefix in prefixes:
        table = block.find(prefix, tags)
        if len(table) > 0:
            return table
    return None


def _column(table: gemmi.cif.Table, index: int) -> list[str] | None:
    return list(table.column(index)) if table.has_column(index) else None


def _atom_types(block: gemmi.cif.Block) -> dict[str, float]:
    """Oxidation numbers from the ``_atom_type`` loop, by type symbol (for symbols written without charge)."""
    table = _find_table(block, ("_atom_type_", "_atom_type."), ["symbol", "oxidation_number"])
    if table is None:
        return {}
    charges = {}
    for symbol, raw in zip(table.column(0), table.column(1), strict=True):
        try:
            value = _number(raw, "_atom_type_oxidation_number")
        except _BlockError:
            continue  # a malformed optional annotation; the type symbol still gives the element
        if value is not None:
            charges[gemmi.cif.as_string(symbol).strip()] = value
    return charges


def _aniso_u(block: gemmi.cif.Block, lattice: npt.NDArray[np.float64]) -> dict[str, float]:
    """U_eq in Å² by site label from the anisotropic loop (U_ij or B_ij)."""
    result: dict[str, float] = {}
    for kind, scale in (("U", 1.0), ("B", 1.0 / _EIGHT_PI_SQUARED)):
        names = [f"{kind}_11", f"{kind}_22", f"{kind}_33", f"?{kind}_12", f"?{kind}_13", f"?{kind}_23"]
        table = _find_table(block, ("_atom_site_aniso_", "_atom_site_aniso."), ["label", *names])
        if table is None:
            continue
        for i, label in enumerate(table.column(0)):
            values = []
            for j in range(1, 7):
                raw = table[i][j] if table.has_column(j) else "0"
                values.append(_number(raw, f"_atom_site_aniso_{names[j - 1].lstrip('?')}"))
            if any(v is None for v in values[:3]):
                continue
            tensor = np.array([0.0 if v is None else v for v in values]) * scale
            result[gemmi.cif.as_string(label).strip()] = float(u_equivalent(lattice, tensor))
    return result


@dataclass(frozen=True)
class _Sites:
    labels: list[str]
    coords: npt.NDArray[np.float64]  # (m, 3)
    numbers: npt.NDArray[np.int64]
    occupancies: npt.NDArray[np.float64]
    b_iso: npt.NDArray[np.float64]
    charges: npt.NDArray[np.float64]


def _sites(block: gemmi.cif.Block, lattice: npt.NDArray[np.float64]) -> _Sites:
    names = ["fract_x", "fract_y", "fract_z", "?label", "?type_symbol", "?occupancy"]
    names += ["?B_iso_or_equiv", "?U_iso_or_equiv", "?calc_flag"]
    table = _find_table(block, ("_atom_site_", "_atom_site."), names)
    if table is None:
        for axis in ("x", "y", "z"):
            if not any(len(block.find_values(f"{p}fract_{axis}")) for p in ("_atom_site_", "_atom_site.")):
                raise _BlockError(f"missing _atom_site_fract_{axis}")
        raise _BlockError("the _atom_site_fract_x/y/z columns are not in one loop")
    columns = [_column(table, i) for i in range(len(names))]
    labels_raw, types_raw, occ_raw, b_raw, u_raw, flag_raw = columns[3:]
    oxidation = _atom_types(block)
    aniso = _aniso_u(block, lattice)

    labels, coords, numbers, occupancies, b_values, charges = [], [], [], [], [], []
    for i in range(len(table)):
        label = gemmi.cif.as_string(labels_raw[i]).strip() if labels_raw else f"site {i + 1}"
        where = f"site {label!r}"
        if flag_raw and gemmi.cif.as_string(flag_raw[i]).strip().lower() == "dum":
            continue
        xyz = []
        for axis, column in zip("xyz", columns[:3], strict=True):
            value = _number(column[i], f"{where}: _atom_site_fract_{axis}")
            if value is None:
                raise _BlockError(f"{where}: _atom_site_fract_{axis} has no value ({column[i]!r})")
            xyz.append(value)
        occupancy = _number(occ_raw[i], f"{where}: _atom_site_occupancy") if occ_raw else None
        occupancy = 1.0 if occupancy is None else occupancy
        if occupancy < 0:
            raise _BlockError(f"{where}: negative occupancy {occupancy}")
        if occupancy == 0:
            continue
        z, charge = _element(
            types_raw[i] if types_raw else None, label if labels_raw else None, where, oxidation
        )
        b_value = _number(b_raw[i], f"{where}: _atom_site_B_iso_or_equiv") if b_raw else None
        if b_value is None:
            u_value = _number(u_raw[i], f"{where}: _atom_site_U_iso_or_equiv") if u_raw else None
            if u_value is None:
                u_value = aniso.get(label)
            b_value = 0.0 if u_value is None else _EIGHT_PI_SQUARED * u_value
        labels.append(label)
        coords.append(xyz)
        numbers.append(z)
        occupancies.append(occupancy)
        b_values.append(b_value)
        charges.append(charge)
    if not labels:
        raise _BlockError("no atom sites with non-zero occupancy")
    return _Sites(
        labels,
        np.array(coords, dtype=np.float64),
        np.array(numbers, dtype=np.int64),
        np.array(occupancies, dtype=np.float64),
        np.array(b_values, dtype=np.float64),
        np.array(charges, dtype=np.float64),
    )


def _element(
    type_raw: str | None, label: str | None, where: str, oxidation: dict[str, float]
) -> tuple[int, float]:
    symbol = None
    if type_raw is not None and not gemmi.cif.is_null(type_raw):
        symbol = gemmi.cif.as_string(type_raw).strip()
    if symbol:
        try:
            z, charge = parse_type_symbol(symbol)
        except ValueError:
            pass  # e.g. "H2O" or "Si,Al": fall back to the label
        else:
            if z == _TUNGSTEN and label is not None and label.upper().startswith("WAT"):
                # Water sites labelled "Wat" were typed "W" by some converters (about 2% of the AMCSD files
                # packed by larixite); tungsten there would add 66 electrons per water molecule.
                z = _OXYGEN
            if charge == 0.0:
                charge = oxidation.get(symbol, 0.0)
            return z, charge
    if label:
        try:
            return element_from_label(label), 0.0
        except ValueError:
            pass
    if symbol:
        raise _BlockError(f"{where}: unknown element in type symbol {symbol!r}")
    raise _BlockError(f"{where}: unknown element (no type symbol; the label names no element)")


def _operation_set(rot: npt.NDArray[np.int64], tra: npt.NDArray[np.float64]) -> frozenset[bytes]:
    """Operations as a set, translations modulo 1 rounded to the 1/24 grid of the Tables."""
    grid = float(TABLES_DENOMINATOR)
    steps = np.mod(np.round(np.asarray(tra, dtype=np.float64) * grid), grid).astype(np.int64)
    return frozenset(r.tobytes() + t.tobytes() for r, t in zip(rot.astype(np.int64), steps, strict=True))


def _setting(
    rot: npt.NDArray[np.int64], tra: npt.NDArray[np.float64], number: int, symbol: str | None
) -> str | None:
    """The setting of a full group of operations: None for the default setting of ``number``, else its
    name (see the module doc)."""
    if len(rot) == 1:
        return None  # only the identity: the atoms are all listed, the number is a label
    default = SpaceGroup(number).operations
    if _operation_set(rot, tra) == _operation_set(default.rotations, default.translations):
        return None
    scaled = np.asarray(tra) * gemmi.Op.DEN
    if np.all(np.abs(scaled - np.round(scaled)) < 1e-6):
        ops = []
        for r, t in zip(rot, np.round(scaled).astype(np.int64), strict=True):
            op = gemmi.Op()
            op.rot = (r * gemmi.Op.DEN).tolist()
            op.tran = t.tolist()
            ops.append(op)
        found = gemmi.find_spacegroup_by_ops(gemmi.GroupOps(ops))
        if found is not None and found.number == number:
            return found.xhm()
    return f"{symbol or SpaceGroup(number).symbol} (other origin or axes)"


def _symmetry(
    block: gemmi.cif.Block, lattice: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], int]:
    """Operations (without repeats) and the space-group number, following the precedence in the module doc."""
    number = None
    found = _first_value(block, _NUMBER_TAGS)
    if found is not None and not gemmi.cif.is_null(found[1]):
        text = gemmi.cif.as_string(found[1]).strip()
        if not text.isdigit() or not 1 <= int(text) <= 230:
            raise _BlockError(f"{found[0]} must be an integer in 1..230, got {text!r}")
        number = int(text)
    hall = _first_value(block, _HALL_TAGS)
    hm = _first_value(block, _HM_TAGS)
    hall_symbol = None if hall is None or gemmi.cif.is_null(hall[1]) else gemmi.cif.as_string(hall[1]).strip()
    hm_symbol = None if hm is None or gemmi.cif.is_null(hm[1]) else gemmi.cif.as_string(hm[1]).strip()

    op_strings: list[str] = []
    for tag in _OPERATION_TAGS:
        values = block.find_values(tag)
        if len(values):
            op_strings = [gemmi.cif.as_string(v) for v in values]
            break

    _, _, _, alpha, _, gamma = parameters_from_lattice(lattice)
    if op_strings:
        parsed = []
        for text in op_strings:
            try:
                parsed.append(parse_operation(text))
            except ValueError as exc:
                raise _BlockError(f"bad symmetry operation: {exc}") from None
        rot, tra = unique_operations(np.array([p[0] for p in parsed]), np.array([p[1] for p in parsed]))
        try:
            check_group(rot, tra)
        except ValueError as exc:
            raise _BlockError(str(exc)) from None
        if len(rot) == 1:
            # Only the identity: the file lists every atom; a number or symbol is a label of the full cell.
            if number is None and (hall_symbol or hm_symbol):
                try:
                    number = operations_from_symbol(hall_symbol, hm_symbol, None, alpha, gamma)[2]
                except ValueError:
                    number = None  # an unknown symbol is only a label here; the operations are complete
            return rot, tra, 1 if number is None else number
        from_ops = identify_space_group(rot, tra, lattice)
        if number is not None:
            if from_ops is not None and from_ops != number:
                raise _BlockError(
                    f"space-group number {number} contradicts the symmetry operations, "
                    f"which form group {from_ops}"
                )
            return rot, tra, number
        if from_ops is None:
            raise _BlockError("cannot identify the space group of the symmetry operations")
        return rot, tra, from_ops

    if hall_symbol or hm_symbol or number is not None:
        try:
            rot, tra, from_symbol = operations_from_symbol(hall_symbol, hm_symbol, number, alpha, gamma)
        except ValueError as exc:
            raise _BlockError(f"no symmetry operations and {exc}") from None
        if number is not None and from_symbol != number:
            raise _BlockError(f"space-group number {number} contradicts the symbol (group {from_symbol})")
        return rot, tra, from_symbol
    # No symmetry information at all: the atoms are all there is (P1). Said, since a file that names its
    # group in a tag this reader does not know would otherwise lose its symmetry without a word.
    others = sorted({t for t in _block_tags(block) if re.search(r"space_group|symmetry", t, re.IGNORECASE)})
    warn_at_caller(
        f"data block {block.name!r}: no symmetry operations, Hall or H-M symbol or space-group number; read "
        "as P1 with the listed atoms only"
        + (f" (tags not used for symmetry: {', '.join(others[:5])})" if others else ""),
        UserWarning,
    )
    return np.eye(3, dtype=np.int64)[None], np.zeros((1, 3)), 1


def _block_tags(block: gemmi.cif.Block) -> list[str]:
    """Every tag of a block, of pairs and of loops."""
    tags: list[str] = []
    for item in block:
        if item.pair is not None:
            tags.append(item.pair[0])
        elif item.loop is not None:
            tags.extend(item.loop.tags)
    return tags


# ---------------------------------------------------------------------------------------------------------
# Expansion


def _clusters(distance: npt.NDArray[np.float64], tolerance: float) -> npt.NDArray[np.int64]:
    count, labels = connected_components(csr_matrix(distance < tolerance), directed=False)
    del count
    return labels.astype(np.int64)


def _mean_position(images: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # Unwrap around the first image so that 0.999 and 0.001 average to 0, not 0.5.
    delta = images - images[0]
    delta -= np.round(delta)
    return wrap_fractional(images[0] + delta.mean(axis=0))


def _expand_site(
    frac: npt.NDArray[np.float64],
    occupancy: float,
    rot: npt.NDArray[np.int64],
    tra: npt.NDArray[np.float64],
    lattice: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """(k, 3) distinct positions of one site in the unit cell (see the merging rules in the module doc)."""
    images = wrap_fractional(np.einsum("nij,j->ni", rot, frac) + tra)
    same = _clusters(periodic_distances(images, images, lattice), SAME_POSITION_TOLERANCE)
    positions = np.array([_mean_position(images[same == c]) for c in range(same.max() + 1)])
    if len(positions) == 1:
        return positions
    near = _clusters(periodic_distances(positions, positions, lattice), SPECIAL_POSITION_TOLERANCE)
    result = []
    for c in range(near.max() + 1):
        members = positions[near == c]
        if len(members) > 1 and len(members) * occupancy > _OVERFULL:
            result.append(_mean_position(members))
        else:
            result.extend(members)
    return np.array(result)


def _parse_block(block: gemmi.cif.Block) -> ParsedStructure:
    lattice = _cell(block)
    sites = _sites(block, lattice)
    rot, tra, space_group = _symmetry(block, lattice)
    found = _first_value(block, _HM_TAGS)
    symbol = None if found is None or gemmi.cif.is_null(found[1]) else gemmi.cif.as_string(found[1]).strip()
    setting = _setting(rot, tra, space_group, symbol)
    counts = []
    positions = []
    for coords, occupancy in zip(sites.coords, sites.occupancies, strict=True):
        expanded = _expand_site(coords, float(occupancy), rot, tra, lattice)
        counts.append(len(expanded))
        positions.append(expanded)
    repeat = np.array(counts)
    return ParsedStructure(
        block_name=block.name,
        lattice=lattice,
        frac_coords=np.concatenate(positions),
        numbers=np.repeat(sites.numbers, repeat),
        occupancies=np.repeat(sites.occupancies, repeat),
        b_iso=np.repeat(sites.b_iso, repeat),
        charges=np.repeat(sites.charges, repeat),
        space_group=space_group,
        setting=setting,
    )


def _has_sites(block: gemmi.cif.Block) -> bool:
    return any(len(block.find_values(tag)) for tag in ("_atom_site_fract_x", "_atom_site.fract_x"))


def parse_cif_text(
    text: str, source: str, *, first_only: bool, block: str | None = None
) -> list[ParsedStructure]:
    """Structures of the data blocks that hold atom sites, in file order.

    Args:
        text: CIF content.
        source: file name or description, used in every error message.
        first_only: stop after the first structure (with a warning naming the other blocks with atoms when
            ``block`` is None and there are any).
        block: read only the data block of this name.

    Raises:
        CIFError: for any problem, naming ``source`` (and the data block).
    """
    doc = _parse_document(text, source)
    blocks = list(doc)
    if block is not None:
        blocks = [b for b in blocks if b.name == block]
        if not blocks:
            names = ", ".join(repr(b.name) for b in doc)
            raise CIFError(f"{source}: no data block named {block!r} (blocks: {names})")
    structures = []
    for candidate in blocks:
        if not _has_sites(candidate):
            continue
        try:
            structures.append(_parse_block(candidate))
        except _BlockError as exc:
            raise CIFError(f"{source}: data block {candidate.name!r}: {exc}") from None
        if first_only:
            others = [b.name for b in blocks if b.name != candidate.name and _has_sites(b)]
            if others and block is None:
                names = ", ".join(repr(name) for name in others)
                warnings.warn(
                    f"{source} holds {len(others) + 1} structures; read the first, data block "
                    f"{candidate.name!r} (the others: {names}); pass block=NAME to choose one, or read "
                    "them all with Crystal.read_all (xrdsynth simulate: --block NAME)",
                    UserWarning,
                    stacklevel=3,
                )
            break
    if not structures:
        cartesian = any(len(b.find_values("_atom_site_Cartn_x")) for b in blocks)
        reason = "only Cartesian atom coordinates, which are not supported" if cartesian else "no atom sites"
        where = f"data block {block!r}" if block is not None else "any data block"
        pattern = any(
            len(b.find_values(tag))
            for b in blocks
            for tag in ("_pd_meas_counts_total", "_pd_meas_intensity_total", "_pd_proc_intensity_total")
        )
        hint = ""
        if pattern:
            hint = "; it holds a measured powder pattern: read it with xrdsynth.io.read_pattern"
        raise CIFError(f"{source}: {reason} (no _atom_site_fract_x) in {where}{hint}")
    return structures
