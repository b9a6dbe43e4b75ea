"""Space groups in spglib's default setting: number, symbols, systems and symmetry operations."""

from __future__ import annotations

import difflib
import functools
from typing import NamedTuple

import numpy as np
import spglib

from .._base import NUM_SPACE_GROUPS, TABLES_DENOMINATOR, is_space_group_number
from .._spglib import quiet

__all__ = [
    "CRYSTAL_SYSTEMS",
    "CRYSTAL_SYSTEM_OF_GROUP",
    "LATTICE_SYSTEMS",
    "Operations",
    "SpaceGroup",
    "crystal_system",
    "lattice_system",
    "space_group_number",
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


def space_group_number(number: object) -> int:
    """``number`` as an int in 1..230, or a ValueError that says what is wrong.

    A string is a number ("62") or a Hermann–Mauguin symbol of the default setting ("Pnma", "P2_1/c",
    "P 1 21/c 1").
    """
    if isinstance(number, str):
        text = number.strip()
        return space_group_number(int(text)) if text.isdigit() else _number_of_symbol(text)
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
        raise ValueError(
            f"space group must be an integer in 1..{NUM_SPACE_GROUPS} or a Hermann–Mauguin symbol, "
            f"got {number!r}"
        )
    if not is_space_group_number(number):
        raise ValueError(f"space-group number must be in 1..{NUM_SPACE_GROUPS}, got {int(number)}")
    return int(number)


# The name the sampler imports (xrdsynth/sampler/_sampler.py); the public one is space_group_number.
_check_number = space_group_number


def _symbol_key(symbol: str) -> str:
    """A symbol without spaces and underscores, in lower case: "P 1 2_1/c 1" -> "p121/c1"."""
    return "".join(symbol.split()).replace("_", "").lower()


def _symbol_names(info: spglib.SpaceGroupType) -> set[str]:
    """Every spelling of the Hermann–Mauguin symbol spglib gives for one Hall number."""
    names = {info.international_short, info.international_full}
    names |= {part.strip() for part in info.international.split("=")}
    tokens = info.international_full.split()
    if len(tokens) == 4 and tokens[1:].count("1") == 2:
        # A monoclinic full symbol without its 1s is its setting's short symbol: "P 1 2_1/n 1" -> "P2_1/n".
        names.add(tokens[0] + "".join(t for t in tokens[1:] if t != "1"))
    return names


def _operation_keys(rotations: np.ndarray, translations: np.ndarray) -> frozenset[bytes]:
    """The operations as a set, translations modulo 1 on the 1/24 grid of the Tables."""
    grid = float(TABLES_DENOMINATOR)
    steps = np.mod(np.round(np.asarray(translations, dtype=np.float64) * grid), grid).astype(np.int64)
    rot = np.asarray(rotations, dtype=np.int64)
    return frozenset(r.tobytes() + t.tobytes() for r, t in zip(rot, steps, strict=True))


@functools.cache
def _symbol_table() -> tuple[dict[str, int], dict[str, dict[int, str]], dict[int, str]]:
    """Hermann–Mauguin symbols by :func:`_symbol_key`, from spglib's 530 settings and gemmi's table (which
    adds older spellings such as "Cmca" for "Cmce" and "Abm2" for "Aem2").

    Returns:
        {key: number} of the symbols of each default setting (see :class:`SpaceGroup`): short and full,
        e.g. "P2_1/c" and "P 1 2_1/c 1", and the other origin choices and axes that are spelled the same
        ("Fd-3m" for both origins, "R-3c" for both axes); {key: {number: full symbol}} of the symbols of
        other settings ("Pbnm", "P 1 2_1/n 1"; a few name settings of two groups); {number: short symbol}
        of the default settings.
    """
    import gemmi  # the symmetry package itself needs only spglib

    halls = _default_hall_numbers()
    with quiet():
        types = {hall: spglib.get_spacegroup_type(hall) for hall in range(1, 531)}
    accepted: dict[str, int] = {}
    others: list[tuple[int, str, set[str]]] = []
    short: dict[int, str] = {}
    for number in range(1, 231):
        info = types[halls[number - 1]]
        short[number] = info.international_short
        for name in _symbol_names(info):
            accepted.setdefault(_symbol_key(name), number)
    for hall, info in types.items():
        if hall != halls[info.number - 1]:
            others.append((info.number, info.international_full, _symbol_names(info)))
    den = gemmi.Op.DEN
    for entry in gemmi.spacegroup_table():
        ops = list(entry.operations())
        rotations = np.array([op.rot for op in ops], dtype=np.int64) // den
        translations = np.array([op.tran for op in ops], dtype=np.float64) / den
        default = _operations(halls[entry.number - 1])
        names = {entry.hm, entry.xhm(), entry.short_name()}
        if _operation_keys(rotations, translations) == _operation_keys(*default):
            for name in names:
                accepted.setdefault(_symbol_key(name), entry.number)
        else:
            others.append((entry.number, entry.xhm(), names))
    settings: dict[str, dict[int, str]] = {}
    for number, full, names in others:
        for name in names:
            key = _symbol_key(name)
            if key not in accepted:
                settings.setdefault(key, {}).setdefault(number, full)
    return accepted, settings, short


def _number_of_symbol(symbol: str) -> int:
    """The number of a Hermann–Mauguin symbol of a default setting, short or full, with or without spaces
    and underscores, in any case: "Pnma", "P 21/n 21/m 21/a", "P2_1/c", "P21/c", "P 1 21/c 1".

    Raises:
        ValueError: a symbol of another setting ("Pbnm", "P21/n"), naming its number and the default
            setting's symbol; or an unknown symbol, with the closest known ones.
    """
    accepted, settings, short = _symbol_table()
    key = _symbol_key(symbol)
    if key in accepted:
        return accepted[key]
    if key in settings:
        found = settings[key]
        if len(found) > 1:
            raise ValueError(
                f"{symbol!r} names non-default settings of space groups "
                + " and ".join(f"{n} ({full})" for n, full in sorted(found.items()))
                + "; give the number or the symbol of the default setting"
            )
        ((number, full),) = found.items()
        raise ValueError(
            f"{symbol!r} is space group {number} in another setting ({full}); xrdsynth's space groups are "
            f"in their default setting, {short[number]}: give {number} or {short[number]!r} (with the "
            "axes transformed to that setting)"
        )
    numbers: list[int] = []
    for close in difflib.get_close_matches(key, list(accepted), n=10, cutoff=0.6):
        if accepted[close] not in numbers:
            numbers.append(accepted[close])
    hint = ", ".join(f"{short[n]} ({n})" for n in numbers[:3])
    raise ValueError(
        f"unknown space-group symbol {symbol!r}" + (f"; did you mean {hint}?" if hint else "")
        + " (give a number 1..230 or a Hermann–Mauguin symbol such as 'Pnma' or 'P2_1/c')"
    )


def crystal_system(number: int | str) -> str:
    """Crystal system ("triclinic" ... "cubic") of space group ``number`` (1..230, or a symbol as
    :class:`SpaceGroup` takes)."""
    number = space_group_number(number)
    for system, last in zip(CRYSTAL_SYSTEMS, _LAST_NUMBER_OF_SYSTEM, strict=True):
        if number <= last:
            return system
    raise AssertionError("unreachable: number was checked to be in 1..230")


#: Index into :data:`CRYSTAL_SYSTEMS` of the crystal system of each space group 1..230 (at 0..229): the
#: table behind crystal-system labels and summed crystal-system probabilities.
CRYSTAL_SYSTEM_OF_GROUP: tuple[int, ...] = tuple(
    CRYSTAL_SYSTEMS.index(crystal_system(n)) for n in range(1, 231)
)


def lattice_system(number: int | str) -> str:
    """Lattice system of space group ``number``: like the crystal system, except that trigonal groups
    are "rhombohedral" (R-centred) or "hexagonal" (primitive hexagonal lattice)."""
    number = space_group_number(number)
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
        number: International Tables number, 1..230, or a Hermann–Mauguin symbol of the default setting,
            short or full, with or without spaces and underscores, in any case: ``"Pnma"``,
            ``"P 21/n 21/m 21/a"``, ``"P2_1/c"``, ``"P21/c"``, ``"P 1 21/c 1"``; older spellings of the
            e-glide groups (``"Cmca"`` for ``"Cmce"``) too. A symbol of another setting (``"Pbnm"``,
            ``"P21/n"``) raises a ValueError naming its group and the default setting's symbol (the
            operations would be those of the default setting, in other axes); an unknown symbol raises with
            the closest known ones.

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

    def __init__(self, number: int | str) -> None:
        self.number = space_group_number(number)
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
    grid = float(TABLES_DENOMINATOR)
    translations = np.mod(np.round(np.asarray(data["translations"], dtype=np.float64) * grid) / grid, 1.0)
    rotations.setflags(write=False)
    translations.setflags(write=False)
    return Operations(rotations, translations)
