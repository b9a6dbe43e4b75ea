"""Wyckoff tables of all 230 space groups for the sampler, and which positions certify the space group.

The sampler needs, for every group, every Wyckoff position's first site (``representative + params @ basis``)
and coset representatives (the operations generating the orbit) as flat arrays it can index on any device.
Deriving them (:func:`xrdsynth.symmetry.wyckoff_positions`) takes about 12 s for the 230 groups, so they are
shipped precomputed in ``_wyckoff_tables.npz`` next to this module, written by
``scripts/build_sampler_tables.py`` and compared with the derivation by the tests.

Labels (why the "faithful" tables exist)
----------------------------------------
A crystal built on the Wyckoff positions of G always has at least the symmetry G; the question is whether
it has more. Its symmetry group is the intersection, over its elements, of the symmetry groups of each
element's atoms (an isometry of the crystal maps every element onto itself). With random, continuous free
coordinates and a random lattice of G's lattice system, the symmetry of a set of orbits depends only on the
combinatorial choice (which positions, which elements), except on a set of measure zero (near-special
coordinates, which the sampler's minimum-distance check rejects anyway). Hence two sufficient conditions for
"exactly G", each checked here once per position with spglib on random instances:

- ``faithful[q]``: one generic orbit of position q, all atoms of one element, has exactly group G. An
  element that occupies only that orbit then pins the crystal's group to G. Not every position qualifies:
  a 2-site orbit is always centrosymmetric (inversion through its midpoint), the orbits of polar groups such
  as P4 lie in one plane (an extra mirror), and some special orbits have extra lattice translations (8c of
  Fm-3m is a primitive cubic lattice of half the edge). The general position of P1 (one atom) is not
  faithful either.
- ``pair_faithful[g, l, l']``: two elements, each on one generic orbit (positions l and l' of group g, with
  independent free coordinates), have exactly G together. This covers groups such as P1, where no single
  orbit is faithful (two different atoms in a P1 cell have no symmetry beyond the lattice). Pairs in which
  either position is faithful on its own are True without a check.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
import spglib

from .._lattice import lattice_for_system
from .._spglib import symmetry_dataset
from ..symmetry import SpaceGroup, WyckoffPosition, generic_parameters, wyckoff_positions

__all__ = [
    "MAX_POSITIONS",
    "TABLES_FILE",
    "WyckoffTables",
    "derive_tables",
    "faithful_flags",
    "load_tables",
    "save_tables",
    "write_wyckoff_tables",
]

TABLES_FILE = "_wyckoff_tables.npz"
MAX_POSITIONS = 27  # group 47 (Pmmm) has the most Wyckoff positions, a..z and A
CHECK_SYMPREC = 1e-3  # Å, the tolerance at which labels are promised
CHECK_TRIALS = 3  # random instances per position (or pair); all must give exactly the group


@dataclass(frozen=True, eq=False)
class WyckoffTables:
    """Wyckoff positions of the 230 groups as flat numpy arrays (Q = 1731 positions, T operations).

    Positions of group g are rows ``group_start[g - 1] : group_start[g]`` in the Tables' order (letter a
    first, general position last).

    Attributes:
        group_start: (231,) int64 offsets into the position rows.
        letter: (Q,) str Wyckoff letters.
        multiplicity: (Q,) int64 sites per conventional cell.
        dof: (Q,) int64 number of free parameters.
        representative: (Q, 3) float64 fractional first site at params 0.
        basis: (Q, 3, 3) int64, rows 0..dof-1 span the free directions, other rows zero.
        op_start: (Q,) int64, the orbit's coset representatives are operations
            ``op_start[q] : op_start[q] + multiplicity[q]``.
        rotations: (T, 3, 3) int64 rotation parts.
        translations: (T, 3) float64 translation parts.
        faithful: (Q,) bool, one orbit of one element has exactly the group (see module docstring).
        pair_faithful: (230, 27, 27) bool, two single-orbit elements on local positions l, l' of group g
            (index g - 1) have exactly the group; padding False.
    """

    group_start: npt.NDArray[np.int64]
    letter: npt.NDArray[np.str_]
    multiplicity: npt.NDArray[np.int64]
    dof: npt.NDArray[np.int64]
    representative: npt.NDArray[np.float64]
    basis: npt.NDArray[np.int64]
    op_start: npt.NDArray[np.int64]
    rotations: npt.NDArray[np.int64]
    translations: npt.NDArray[np.float64]
    faithful: npt.NDArray[np.bool_]
    pair_faithful: npt.NDArray[np.bool_]

    def positions_of(self, number: int) -> range:
        """Row indices of the Wyckoff positions of group ``number``."""
        return range(int(self.group_start[number - 1]), int(self.group_start[number]))


def random_cell(system: str, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """A random cell (3, 3) Å of a lattice system with no accidental extra metric symmetry.

    Lengths 4-9 Å (kept clearly different where the system allows), angles well away from 90° and 120°
    where free: an accidental equality would add lattice symmetry and spoil the check.
    """
    a, b, c = rng.permutation([4.0, 6.0, 8.0]) + rng.uniform(0.0, 1.0, 3)
    alpha, beta, gamma = rng.uniform(95.0, 110.0, 3) + np.array([0.0, 3.0, 6.0])
    if system == "monoclinic":
        beta = rng.uniform(95.0, 115.0)
    return lattice_for_system(system, a, b, c, alpha, beta, gamma)


def _orbit(position: WyckoffPosition, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """One orbit (multiplicity, 3) of the position at random generic free parameters."""
    return position.orbit(generic_parameters(rng, position.dof))


def _has_exactly(number: int, lattice: np.ndarray, orbits: list[np.ndarray]) -> bool:
    """True when spglib finds exactly group ``number`` for these orbits, one species per orbit."""
    positions = np.concatenate(orbits)
    types = np.repeat(np.arange(1, len(orbits) + 1), [len(o) for o in orbits])
    data = symmetry_dataset(lattice, positions, types, symprec=CHECK_SYMPREC)
    return data is not None and int(data.number) == number


def faithful_flags(
    number: int, rng: np.random.Generator, trials: int = CHECK_TRIALS
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Which positions of group ``number`` certify it alone, and which pairs certify it together.

    Each claim is checked on ``trials`` random instances (random generic free parameters, random cell of the
    lattice system) and must hold on all of them; a claim is False when any instance fails.

    Returns:
        faithful: (P,) bool for the group's P positions; pair: (P, P) bool, symmetric. A pair of the same
        position with no free parameter is False (the two orbits would coincide).
    """
    group = SpaceGroup(number)
    positions = wyckoff_positions(number)
    n = len(positions)
    faithful = np.zeros(n, dtype=bool)
    for i, w in enumerate(positions):
        faithful[i] = all(
            _has_exactly(number, random_cell(group.lattice_system, rng), [_orbit(w, rng)])
            for _ in range(trials)
        )
    pair = np.zeros((n, n), dtype=bool)
    for i in range(n):
        for j in range(i, n):
            if i == j and positions[i].dof == 0:
                continue
            if faithful[i] or faithful[j]:
                # Sym(A and B) = Sym(A) ∩ Sym(B), which is G when either factor is G.
                pair[i, j] = True
            else:
                pair[i, j] = all(
                    _has_exactly(
                        number,
                        random_cell(group.lattice_system, rng),
                        [_orbit(positions[i], rng), _orbit(positions[j], rng)],
                    )
                    for _ in range(trials)
                )
            pair[j, i] = pair[i, j]
    return faithful, pair


def derive_tables(rng: np.random.Generator | None = None, groups: range | None = None) -> WyckoffTables:
    """Build the tables from :func:`xrdsynth.symmetry.wyckoff_positions` and spglib checks.

    Args:
        rng: random generator for the faithfulness checks (default: seeded with 0).
        groups: which groups to fill (default all 230; others get no positions). Used by tests on subsets.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    groups = range(1, 231) if groups is None else groups
    group_start = [0]
    rows: dict[str, list[Any]] = {
        k: [] for k in ("letter", "mult", "dof", "x0", "basis", "op_start", "faith")
    }
    rotations: list[np.ndarray] = []
    translations: list[np.ndarray] = []
    pair_faithful = np.zeros((230, MAX_POSITIONS, MAX_POSITIONS), dtype=bool)
    n_ops = 0
    for number in range(1, 231):
        if number in groups:
            positions = wyckoff_positions(number)
            faithful, pair = faithful_flags(number, rng)
            pair_faithful[number - 1, : len(positions), : len(positions)] = pair
            for w, flag in zip(positions, faithful, strict=True):
                basis = np.zeros((3, 3), dtype=np.int64)
                basis[: w.dof] = w.basis
                rows["letter"].append(w.letter)
                rows["mult"].append(w.multiplicity)
                rows["dof"].append(w.dof)
                rows["x0"].append(np.asarray(w.representative, dtype=np.float64))
                rows["basis"].append(basis)
                rows["op_start"].append(n_ops)
                rows["faith"].append(bool(flag))
                rotations.append(np.asarray(w.rotations, dtype=np.int64))
                translations.append(np.asarray(w.translations, dtype=np.float64))
                n_ops += w.multiplicity
        group_start.append(len(rows["letter"]))
    return WyckoffTables(
        group_start=np.array(group_start, dtype=np.int64),
        letter=np.array(rows["letter"], dtype="<U1"),
        multiplicity=np.array(rows["mult"], dtype=np.int64),
        dof=np.array(rows["dof"], dtype=np.int64),
        representative=np.array(rows["x0"], dtype=np.float64).reshape(-1, 3),
        basis=np.array(rows["basis"], dtype=np.int64).reshape(-1, 3, 3),
        op_start=np.array(rows["op_start"], dtype=np.int64),
        rotations=np.concatenate(rotations).astype(np.int64) if rotations else np.zeros((0, 3, 3), np.int64),
        translations=np.concatenate(translations) if translations else np.zeros((0, 3)),
        faithful=np.array(rows["faith"], dtype=bool),
        pair_faithful=pair_faithful,
    )


def save_tables(tables: WyckoffTables, path: str) -> None:
    """Write the tables to a compressed npz (plain arrays, no pickles); records the spglib version."""
    fields = {name: getattr(tables, name) for name in WyckoffTables.__dataclass_fields__}
    fields["rotations"] = fields["rotations"].astype(np.int8)  # entries are -1, 0, 1
    np.savez_compressed(path, spglib_version=np.array(spglib.__version__), **fields)


def write_wyckoff_tables(path: str | os.PathLike[str], seed: int = 0) -> str:
    """Derive the sampler's Wyckoff tables for all 230 groups and write them to ``path`` (npz).

    For maintainers: the package ships this file as ``xrdsynth/sampler/_wyckoff_tables.npz``; rebuild it
    (``scripts/build_sampler_tables.py``) after a change of spglib or of the Wyckoff derivation. The result
    is deterministic for a given ``seed``, spglib version and derivation code (the certifying flags come from
    spglib on random instances, so a few borderline pairs of positions can flip when the instances change:
    a rebuild on 2026-12-02 differed from the shipped file in 16 of its 167,670 pair flags). Takes a few
    minutes.

    Returns:
        One line that says what was written (positions, operations, faithful positions, groups with one).
    """
    tables = derive_tables(np.random.default_rng(seed))
    save_tables(tables, os.fspath(path))
    with_one = sum(bool(tables.faithful[tables.positions_of(g)].any()) for g in range(1, 231))
    return (
        f"{len(tables.letter)} positions, {len(tables.rotations)} operations, {int(tables.faithful.sum())} "
        f"faithful positions; {with_one}/230 groups have one"
    )


@functools.cache
def load_tables() -> WyckoffTables:
    """The shipped tables (read once per process)."""
    with resources.files(__package__).joinpath(TABLES_FILE).open("rb") as handle:
        data = np.load(handle, allow_pickle=False)
        fields = {name: np.array(data[name]) for name in WyckoffTables.__dataclass_fields__}
    fields["rotations"] = fields["rotations"].astype(np.int64)
    for value in fields.values():
        value.setflags(write=False)
    return WyckoffTables(**fields)
