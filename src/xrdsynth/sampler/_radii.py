"""Covalent radii (Cordero et al. 2008) and the atomic volumes derived from them.

The table ``covalent_radii.csv`` ships next to this module; its header cites the source. The sampler uses
the radii twice: the cell volume is the sum of atomic volumes (4/3) pi r^3 divided by a packing fraction,
and two atoms i, j may not come closer than ``min_distance_scale * (r_i + r_j)``.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import numpy.typing as npt

__all__ = ["RADII_FILE", "atomic_volumes", "covalent_radii"]

RADII_FILE = "covalent_radii.csv"


@functools.cache
def covalent_radii() -> npt.NDArray[np.float64]:
    """(119,) float64 covalent radius in Å indexed by atomic number (index 0, padding, is 0)."""
    text = resources.files(__package__).joinpath(RADII_FILE).read_text(encoding="utf-8")
    rows = [line.split(",") for line in text.splitlines() if line and not line.startswith(("#", "Z,"))]
    radii = np.zeros(119, dtype=np.float64)
    for z, _, r in rows:
        radii[int(z)] = float(r)
    if not np.all(radii[1:] > 0):
        raise RuntimeError(f"{RADII_FILE} lacks radii for some elements 1..118")
    radii.setflags(write=False)
    return radii


@functools.cache
def atomic_volumes() -> npt.NDArray[np.float64]:
    """(119,) float64 volume (4/3) pi r^3 in Å³ of each element's covalent sphere (index 0 is 0)."""
    volumes = 4.0 / 3.0 * np.pi * covalent_radii() ** 3
    volumes.setflags(write=False)
    return volumes
