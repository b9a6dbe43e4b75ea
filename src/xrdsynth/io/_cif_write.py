"""Writing CIF text: every atom of the unit cell listed, the identity as the only operation."""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from .._elements import element_symbol
from .._lattice import parameters_from_lattice
from ..symmetry import format_operation

__all__ = ["format_cif"]


def _float(value: float) -> str:
    # Shortest text that reads back to the same float, without exponents (some readers reject them).
    return np.format_float_positional(float(value), unique=True, trim="-")


def _type_symbol(z: int, charge: float) -> str:
    symbol = element_symbol(z)
    if charge == 0:
        return symbol
    magnitude = _float(abs(charge))
    return f"{symbol}{magnitude}{'+' if charge > 0 else '-'}"


def format_cif(
    lattice: npt.NDArray[np.float64],
    frac_coords: npt.NDArray[np.float64],
    numbers: npt.NDArray[np.int64],
    occupancies: npt.NDArray[np.float64],
    b_iso: npt.NDArray[np.float64],
    charges: npt.NDArray[np.float64],
    space_group: int,
    name: str,
    formula: str,
) -> str:
    """CIF text listing every atom with the identity as the only operation (see ``Crystal.to_cif``)."""
    a, b, c, alpha, beta, gamma = parameters_from_lattice(lattice)
    block = re.sub(r"\s+", "_", name.strip()) or "crystal"
    lines = [
        "# Written by xrdsynth. Every atom of the unit cell is listed and the only operation is the",
        "# identity; _space_group_IT_number records the space group of the crystal.",
        f"data_{block}",
        f"_chemical_formula_sum '{formula}'",
        f"_cell_length_a {_float(a)}",
        f"_cell_length_b {_float(b)}",
        f"_cell_length_c {_float(c)}",
        f"_cell_angle_alpha {_float(alpha)}",
        f"_cell_angle_beta {_float(beta)}",
        f"_cell_angle_gamma {_float(gamma)}",
        f"_space_group_IT_number {int(space_group)}",
        "loop_",
        "_space_group_symop_operation_xyz",
        f"'{format_operation(np.eye(3, dtype=np.int64), np.zeros(3))}'",
        "loop_",
        "_atom_site_label",
        "_atom_site_type_symbol",
        "_atom_site_fract_x",
        "_atom_site_fract_y",
        "_atom_site_fract_z",
        "_atom_site_occupancy",
        "_atom_site_adp_type",
        "_atom_site_B_iso_or_equiv",
    ]
    counter: dict[int, int] = {}
    for xyz, z, occ, b_value, charge in zip(frac_coords, numbers, occupancies, b_iso, charges, strict=True):
        counter[int(z)] = counter.get(int(z), 0) + 1
        label = f"{element_symbol(int(z))}{counter[int(z)]}"
        fields = [label, _type_symbol(int(z), float(charge)), *(_float(v) for v in xyz)]
        fields += [_float(occ), "Biso", _float(b_value)]
        lines.append(" ".join(fields))
    return "\n".join(lines) + "\n"
