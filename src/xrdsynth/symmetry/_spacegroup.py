"""Space groups in spglib's default setting: number, symbols, systems and symmetry operations."""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import spglib

from .._spglib import quiet

__all__ = [
    "CRYSTAL_SYSTEMS",
    "LATTICE_SYSTEMS",
    "Operations",
    "SpaceGroup",
    "crystal_system",
    "lattice_system",
]

#: The seven crystal systems, in the order of increasing symmetry used by the International Tables.
CRYSTAL_SYSTEMS: tuple[str, ...] = (
    "triclinic",
    "monoclinic",
    "orthorhombic",
    "tetragonal",
    "trigonal",
    "hexagonal",
    "cubic",
)

#: The seven lattice systems; trigonal groups fall into "hexagonal" (P) or "rhombohedral" (R).
LATTICE_SYSTEMS: tuple[str, ...] = (
    "triclinic",
    "monoclinic",
    "orthorhombic",
    "tetragonal",
    "rhombohedral",
    "hexagonal",
    "cubic",
)

# Last space-group number of each crystal system (International Tables, Vol. A, Table 2.1.2.1).
_LAST_NUMBER_OF_SYSTEM = (2, 15, 74, 142, 167, 194, 230)
_RHOMBOHEDRAL_GROUPS = frozenset({146, 148, 155, 160, 161, 166, 167})


class Operations(NamedTuple):
    """Symmetry operations x' = R x + t of a space group in its conventional cell, centring included.

    Attributes:
        rotations: (n, 3, 3) int64, rotation parts acting on fractional coordinates.
        translations: (n, 3) float64, fractional translation parts in [0, 1).
    """

    rotations: np.ndarray
    translations: np.ndarray


def _check_number(number: object) -> int:
    """Return ``number`` as an int in 1..230 or raise a ValueError that says what is wrong."""
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
        raise ValueError(f"space-group number must be an integer in 1..230, got {number!r}")
    if not 1 <= int(number) <= 230:
        raise ValueError(f"space-group number must be in 1..230, got {int(number)}")
    return int(number)


def crystal_system(number: int) -> str:
    """Crystal system ("triclinic" ... "cubic") of space group ``number`` (1..230)."""
    number = _check_number(number)
    for system, last in zip(CRYSTAL_SYSTEMS, _LAST_NUMBER_OF_SYSTEM, strict=True):
        if number <= last:
            return system
    raise AssertionError("unreachable: number was checked to be in 1..230")


def lattice_system(number: int) -> str:
    """Lattice system of space group ``number``: like the crystal system, except that trigonal groups
    are "rhombohedral" (R-centred) or "hexagonal" (primitive hexagonal lattice)."""
    system = crystal_system(number)
    if system == "trigonal":
        return "rhombohedral" if number in _RHOMBOHEDRAL_GROUPS else "hexagonal"
    return system


@functools.cache
def _default_hall_numbers() -> tuple[int, ...]:
    """First Hall number of every space-group type, spglib's default setting (index = number - 1)."""
    first: dict[int, int] = {}
    with quiet():
        for hall in range(1, 531):
            first.setdefault(spglib.get_spacegroup_type(hall).number, hall)
    return tuple(first[n] for n in range(1, 231))


class SpaceGroup:
    """One of the 230 space-group types, in the setting spglib uses by default for its number.

    That setting is the first Hall number of the type: the standard setting of the International Tables,
    origin choice 1 where the Tables give two, and hexagonal axes for the rhombohedral groups. Everything
    here (operations, Wyckoff positions) refers to the conventional cell of that setting.

    Args:
        number: International Tables number, 1..230.

    Attributes:
        number: International Tables number.
        hall_number: spglib's serial number of the Hall symbol (1..530) of this setting.
        symbol: Hermann–Mauguin short symbol, e.g. ``"Pnma"``.
        full_symbol: Hermann–Mauguin full symbol, e.g. ``"P 2_1/n 2_1/m 2_1/a"``.
        hall_symbol: Hall symbol, e.g. ``"-P 2ac 2n"``.
        crystal_system: one of :data:`CRYSTAL_SYSTEMS`.
        lattice_system: one of :data:`LATTICE_SYSTEMS`.
        point_group: Hermann–Mauguin symbol of the point group, e.g. ``"mmm"``.
        centring: lattice centring letter of the conventional cell ("P", "A", "B", "C", "I", "F", "R").
    """

    def __init__(self, number: int) -> None:
        self.number = _check_number(number)
        self.hall_number = _default_hall_numbers()[self.number - 1]
        with quiet():
            info = spglib.get_spacegroup_type(self.hall_number)
        self.symbol: str = info.international_short
        self.full_symbol: str = info.international_full
        self.hall_symbol: str = info.hall_symbol
        self.point_group: str = info.pointgroup_international
        self.crystal_system: str = crystal_system(self.number)
        self.lattice_system: str = lattice_system(self.number)
        self.centring: str = self.symbol[0]

    def __repr__(self) -> str:
        return f"SpaceGroup({self.number})  # {self.symbol}, {self.crystal_system}, Hall {self.hall_number}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpaceGroup) and other.number == self.number

    def __hash__(self) -> int:
        return hash(("SpaceGroup", self.number))

    def __reduce__(self) -> tuple[type, tuple[int]]:
        # Pickle by number: everything else is derived and cached.
        return (SpaceGroup, (self.number,))

    @property
    def operations(self) -> Operations:
        """All symmetry operations of the conventional cell, centring translations included.

        Returns:
            :class:`Operations` with ``rotations`` (n, 3, 3) int64 and ``translations`` (n, 3) float64.
            The identity comes first. Arrays are read-only copies shared between calls.
        """
        return _operations(self.hall_number)

    @property
    def order(self) -> int:
        """Number of operations per conventional cell (the multiplicity of the general position)."""
        return len(self.operations.rotations)

    @property
    def is_centrosymmetric(self) -> bool:
        """True when the inversion -1 (with some translation) is among the operations."""
        return bool(np.any(np.all(self.operations.rotations == -np.eye(3, dtype=np.int64), axis=(1, 2))))

    @property
    def wyckoff_positions(self) -> tuple:
        """Wyckoff positions of this group, letter ``a`` first and the general position last.

        Derived from :attr:`operations` (see :mod:`xrdsynth.symmetry` for how); a tuple of
        :class:`~xrdsynth.symmetry.WyckoffPosition`. Computed once per group and cached.
        """
        from ._wyckoff import wyckoff_positions

        return wyckoff_positions(self.number)

    def wyckoff(self, letter: str):
        """The Wyckoff position with the given letter (``"a"`` ... ``"z"``, ``"A"`` for group 47's 27th)."""
        for position in self.wyckoff_positions:
            if position.letter == letter:
                return position
        letters = "".join(w.letter for w in self.wyckoff_positions)
        raise ValueError(f"space group {self.number} ({self.symbol}) has no Wyckoff letter {letter!r}; "
                         f"it has {letters}")


@functools.cache
def _operations(hall_number: int) -> Operations:
    with quiet():
        data = spglib.get_symmetry_from_database(hall_number)
    rotations = np.ascontiguousarray(data["rotations"], dtype=np.int64)
    # spglib stores translations as floats of exact fractions with denominators 2, 3, 4, 6 (and 12 after
    # sums); round them to multiples of 1/24 so that later integer arithmetic on a 1/24 grid is exact.
    translations = np.mod(np.round(np.asarray(data["translations"], dtype=np.float64) * 24.0) / 24.0, 1.0)
    rotations.setflags(write=False)
    translations.setflags(write=False)
    return Operations(rotations, translations)
