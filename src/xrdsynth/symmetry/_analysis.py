"""Which Wyckoff positions the atoms of a given structure occupy (through spglib)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._spglib import symmetry_dataset
from ._spacegroup import SpaceGroup
from ._wyckoff import WyckoffPosition

__all__ = ["WyckoffSite", "find_wyckoff_sites"]


@dataclass(frozen=True)
class WyckoffSite:
    """One set of symmetry-equivalent atoms of a structure and the Wyckoff position it occupies.

    Attributes:
        position: the occupied position, in the default setting of the structure's space group.
        atoms: indices of the structure's atoms in this set (as many as the multiplicity for a
            conventional cell; fewer for a primitive cell of a centred lattice).
    """

    position: WyckoffPosition
    atoms: tuple[int, ...]


def find_wyckoff_sites(
    lattice: np.ndarray, frac_coords: np.ndarray, types: np.ndarray, symprec: float = 1e-3
) -> tuple[WyckoffSite, ...]:
    """Find the space group of a structure and the Wyckoff position of each set of equivalent atoms.

    spglib finds the symmetry and the Wyckoff letters, which refer to the default setting of the group
    whatever the setting of the input; the positions returned are this package's derived ones.

    Args:
        lattice: (3, 3) float, Å, rows are the cell vectors a, b, c.
        frac_coords: (N, 3) float, fractional coordinates of every atom.
        types: (N,) int, species labels; atoms with different labels are never equivalent (give
            partially occupied or mixed sites labels of their own).
        symprec: distance tolerance in Å.

    Returns:
        One :class:`WyckoffSite` per set of equivalent atoms, ordered by the first atom of each set.

    Raises:
        ValueError: when the arrays have the wrong shapes or spglib cannot analyse the structure
            (for example two atoms closer than ``symprec``).
    """
    lattice = np.asarray(lattice, dtype=np.float64)
    frac_coords = np.asarray(frac_coords, dtype=np.float64)
    types = np.asarray(types)
    if lattice.shape != (3, 3) or frac_coords.ndim != 2 or frac_coords.shape[1] != 3:
        raise ValueError(f"lattice must be (3, 3) and frac_coords (N, 3), got {lattice.shape} and "
                         f"{frac_coords.shape}")
    if types.shape != (len(frac_coords),) or len(types) == 0:
        raise ValueError(f"types must be (N,) with N = {len(frac_coords)} > 0, got {types.shape}")
    data = symmetry_dataset(lattice, frac_coords, types, symprec=symprec)
    if data is None:
        raise ValueError(f"spglib could not analyse the structure at symprec={symprec} Å "
                         "(overlapping atoms or a degenerate cell?)")
    group = SpaceGroup(int(data.number))
    sites = []
    for representative in dict.fromkeys(int(i) for i in data.equivalent_atoms):
        atoms = tuple(int(i) for i in np.nonzero(data.equivalent_atoms == representative)[0])
        sites.append(WyckoffSite(group.wyckoff(str(data.wyckoffs[representative])), atoms))
    return tuple(sites)
