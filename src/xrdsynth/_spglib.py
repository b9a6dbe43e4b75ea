"""Thin wrappers around the spglib calls xrdsynth makes, with one failure convention.

spglib 2.x warns (DeprecationWarning) on every call while its old error handling is the default, and
reports failure either by returning None or by raising ``SpglibError`` depending on that setting. These
wrappers return None on failure in both modes and keep the warning out of users' logs, without changing
spglib's global setting.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import spglib

__all__ = ["quiet", "space_group_type_from_symmetry", "symmetry_dataset"]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence spglib's DeprecationWarning about its error handling inside the block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="spglib")
        yield


def symmetry_dataset(
    lattice: npt.ArrayLike,
    positions: npt.ArrayLike,
    types: npt.ArrayLike,
    symprec: float,
    angle_tolerance: float = -1.0,
    hall_number: int = 0,
) -> Any:
    """spglib's symmetry dataset of a cell (rows of ``lattice`` are a, b, c in Å), or None on failure.

    ``hall_number`` > 0 asks spglib to describe the result in that setting (Wyckoff letters included).
    """
    cell = (
        np.asarray(lattice, dtype=np.float64),
        np.asarray(positions, dtype=np.float64),
        np.asarray(types, dtype=np.intc),
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="spglib")
        try:
            return spglib.get_symmetry_dataset(
                cell, symprec=symprec, angle_tolerance=angle_tolerance, hall_number=hall_number
            )
        except spglib.SpglibError:
            return None


def space_group_type_from_symmetry(
    rotations: npt.ArrayLike, translations: npt.ArrayLike, lattice: npt.ArrayLike | None, symprec: float
) -> Any:
    """spglib's space-group type of a set of operations in any setting, or None when not identified."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="spglib")
        try:
            return spglib.get_spacegroup_type_from_symmetry(
                np.ascontiguousarray(rotations, dtype=np.intc),
                np.ascontiguousarray(translations, dtype=np.float64),
                lattice=None if lattice is None else np.asarray(lattice, dtype=np.float64),
                symprec=symprec,
            )
        except spglib.SpglibError:
            return None
