"""Conversions between :class:`~xrdsynth.Crystal` and pymatgen / ase (imported only when called)."""

from __future__ import annotations

import dataclasses
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from .._base import SAME_POSITION_TOLERANCE
from .._elements import element_symbol

if TYPE_CHECKING:
    import ase
    import pymatgen.core

    from ._crystal import Crystal

__all__ = ["from_ase", "from_pymatgen", "to_ase", "to_pymatgen"]


def to_pymatgen(self: Crystal) -> pymatgen.core.Structure:
    """See :meth:`Crystal.to_pymatgen`."""
    try:
        from pymatgen.core import Lattice, Species, Structure
    except ImportError as exc:
        raise ImportError("Crystal.to_pymatgen needs pymatgen: pip install pymatgen") from exc
    with_charges = bool(np.any(self.charges != 0))
    groups = _position_groups(self)
    species, coords, b_values = [], [], []
    capped = False
    for members in groups:
        content: dict[Any, float] = {}
        for i in members:
            symbol = element_symbol(int(self.numbers[i]))
            key = Species(symbol, float(self.charges[i])) if with_charges else symbol
            content[key] = content.get(key, 0.0) + float(self.occupancies[i])
        total = sum(content.values())
        if total > 1.0:
            capped = True
            content = {key: value / total for key, value in content.items()}
        species.append(content)
        coords.append(self.frac_coords[members[0]])
        b_values.append(self.b_iso[members])
    if capped:
        warnings.warn(
            "to_pymatgen: occupancies above 1 were capped at 1 (pymatgen sites cannot hold more)",
            stacklevel=3,
        )
    properties = {}
    if all(np.all(b == b[0]) for b in b_values):
        properties["b_iso"] = [float(b[0]) for b in b_values]
    return Structure(
        Lattice(self.lattice),
        species,
        coords,
        site_properties=properties or None,
        properties={"space_group": self.space_group},
    )


def _position_groups(self: Crystal) -> list[list[int]]:
    """Atoms grouped by position (within 3e-3 Å) so that each group's occupancies sum to at most 1;
    a group that would overfill is split (pymatgen rejects sites with more than full occupancy)."""
    from ._crystal import _neighbours  # here: _crystal imports this module

    near = _neighbours(self.frac_coords, self.frac_coords, self.lattice, SAME_POSITION_TOLERANCE)
    assigned = np.zeros(self.num_atoms, dtype=bool)
    groups: list[list[int]] = []
    for i in range(self.num_atoms):
        if assigned[i]:
            continue
        group, total = [], 0.0
        for j in near[i][~assigned[near[i]]]:
            if total + self.occupancies[j] <= 1.0 + 1e-9 or not group:
                group.append(int(j))
                total += float(self.occupancies[j])
                assigned[j] = True
        groups.append(group)
    return groups


def from_pymatgen(
    cls: type[Crystal], structure: pymatgen.core.Structure, space_group: int | None = None
) -> Crystal:
    """See :meth:`Crystal.from_pymatgen`."""
    lattice = np.array(structure.lattice.matrix, dtype=np.float64)
    frac, numbers, occupancies, charges, b_iso = [], [], [], [], []
    site_b = structure.site_properties.get("b_iso")
    for index, site in enumerate(structure):
        for specie, occupancy in site.species.items():
            if not hasattr(specie, "Z") or getattr(specie, "Z", 0) < 1:
                raise ValueError(f"site {index} holds {specie!s}, which is not a chemical element")
            frac.append(site.frac_coords)
            numbers.append(int(specie.Z))
            occupancies.append(float(occupancy))
            charges.append(float(getattr(specie, "oxi_state", 0.0) or 0.0))
            b_iso.append(0.0 if site_b is None or site_b[index] is None else float(site_b[index]))
    frac_array = np.array(frac, dtype=np.float64).reshape(-1, 3)
    if np.linalg.det(lattice) < 0:
        lattice, frac_array = -lattice, -frac_array
    if space_group is None:
        space_group = getattr(structure, "properties", {}).get("space_group")
    crystal = cls(
        lattice,
        frac_array,
        np.array(numbers),
        np.array(occupancies),
        np.array(b_iso),
        np.array(charges),
        1 if space_group is None else space_group,
    )
    if space_group is None:
        crystal = dataclasses.replace(crystal, space_group=crystal.detect_space_group())
    return crystal


def to_ase(self: Crystal) -> ase.Atoms:
    """See :meth:`Crystal.to_ase`."""
    try:
        from ase import Atoms
    except ImportError as exc:
        raise ImportError("Crystal.to_ase needs ase: pip install ase") from exc
    atoms = Atoms(
        numbers=self.numbers,
        scaled_positions=self.frac_coords,
        cell=self.lattice,
        pbc=True,
        charges=self.charges,
    )
    atoms.set_array("occupancies", np.array(self.occupancies))
    atoms.set_array("b_iso", np.array(self.b_iso))
    atoms.info["space_group"] = self.space_group
    return atoms


def from_ase(cls: type[Crystal], atoms: ase.Atoms, space_group: int | None = None) -> Crystal:
    """See :meth:`Crystal.from_ase`."""
    lattice = np.array(atoms.cell.array, dtype=np.float64)
    if lattice.shape != (3, 3) or abs(np.linalg.det(lattice)) < 1e-12:
        raise ValueError("ase Atoms need a full 3D cell to become a Crystal")
    frac = np.array(atoms.get_scaled_positions(wrap=True), dtype=np.float64)
    if np.linalg.det(lattice) < 0:
        lattice, frac = -lattice, -frac
    occupancies = atoms.arrays.get("occupancies")
    b_iso = atoms.arrays.get("b_iso")
    charges = atoms.get_initial_charges()
    if space_group is None:
        info = atoms.info.get("space_group", atoms.info.get("spacegroup"))
        number = getattr(info, "no", info)
        space_group = int(number) if number is not None else None
    crystal = cls(
        lattice,
        frac,
        atoms.numbers,
        occupancies,
        b_iso,
        charges,
        1 if space_group is None else space_group,
    )
    if space_group is None:
        crystal = dataclasses.replace(crystal, space_group=crystal.detect_space_group())
    return crystal
