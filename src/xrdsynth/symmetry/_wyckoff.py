"""Wyckoff positions derived from a space group's operations.

How the positions are found (for one group, in its conventional cell):

1. Every point of the grid (Z/24)^3 in [0, 1)^3 (24 = ``TABLES_DENOMINATOR``) is mapped by every operation
   (R, t). Special positions of the 230 groups in spglib's default settings have coordinates with
   denominators dividing 24 (1/8 and 1/12 are the finest), and every line or plane of special positions
   passes through such grid points, so the grid meets every Wyckoff position. The arithmetic is on integers
   (grid units), hence exact.
2. The site-symmetry group of a point is the set of operations, each with its lattice shift n, that fix it:
   R x + t = x + n. Points with the same set of (operation, n) lie on the same affine subspace, the fixed
   space of that site-symmetry group; its dimension is the number of free parameters (dof).
3. Two points belong to the same Wyckoff position when their site-symmetry groups are conjugate in the
   space group (translations included). That is the same as: they lie on the same fixed subspace modulo a
   lattice translation, or one is the image of the other under an operation. A union-find over the fixed
   subspaces with exactly these two links gives the Wyckoff positions.
4. Each position gets a representative "first coordinate triplet" x0 + params @ basis, with an integer
   basis of the lattice vectors in the subspace (so params uniform in [0, 1) cover the subspace once
   modulo the lattice) and x0 zero at the free coordinates, and a set of coset representatives of the
   site-symmetry group, so that its orbit is R x + t over those representatives only.

Only the names come from the International Tables through spglib: the Wyckoff letter and the oriented
site-symmetry symbol of each derived position are read off spglib's dataset for a test structure made of
the position's orbit plus atoms on the general position. The derivation itself checks what it can: the
letters must be distinct and consecutive with the general position last, spglib must find exactly the
group, and the orbit must have exactly ``multiplicity`` distinct sites.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import string
from dataclasses import dataclass, field
from math import gcd
from typing import Any, overload

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .._base import TABLES_DENOMINATOR
from .._lattice import lattice_for_system
from .._math import wrap_fractional
from .._spglib import symmetry_dataset
from ._notation import format_operation
from ._spacegroup import SpaceGroup, space_group_number

__all__ = ["WyckoffPosition", "generic_lattice", "generic_parameters", "wyckoff_positions"]

# Group 47 (Pmmm) has 27 Wyckoff positions: the Tables continue with a capital A after z.
_LETTERS = string.ascii_lowercase + "A"
# Generic free parameters used to pick coset representatives: irrational-looking, far from special values.
_GENERIC_PARAMS = np.array([0.1370923, 0.2954371, 0.4186527])


@dataclass(frozen=True, eq=False)
class WyckoffPosition:
    """A Wyckoff position of a space group in spglib's default setting.

    Attributes:
        space_group: International Tables number of the group (1..230).
        letter: Wyckoff letter, ``"a"`` for the highest site symmetry; the general position has the last.
        multiplicity: number of equivalent sites per conventional cell.
        site_symmetry: oriented site-symmetry symbol as the Tables and spglib write it, e.g. ``".m."``.
        dof: number of free parameters (0 for a fixed point, 3 for the general position).
        representative: (3,) float64, fractional coordinates x0 of the first site when all params are 0.
        basis: (dof, 3) int64, lattice vectors spanning the site's free directions; the first site is
            ``representative + params @ basis``. Params uniform in [0, 1) cover the position once.
        rotations: (multiplicity, 3, 3) int64, coset representatives (rotation parts) generating the orbit.
        translations: (multiplicity, 3) float64, their translation parts (fractional).
        coordinates: the first site as the Tables write it, e.g. ``"x,1/4,z"``.
    """

    space_group: int
    letter: str
    multiplicity: int
    site_symmetry: str
    dof: int
    representative: np.ndarray = field(repr=False)
    basis: np.ndarray = field(repr=False)
    rotations: np.ndarray = field(repr=False)
    translations: np.ndarray = field(repr=False)
    coordinates: str = ""

    def __repr__(self) -> str:
        return (
            f"WyckoffPosition({self.space_group}, {self.multiplicity}{self.letter}, "
            f"site_symmetry={self.site_symmetry!r}, {self.coordinates})"
        )

    @property
    def label(self) -> str:
        """Multiplicity and letter, e.g. ``"4c"``."""
        return f"{self.multiplicity}{self.letter}"

    @overload
    def orbit(self, params: torch.Tensor | None = None) -> torch.Tensor: ...
    @overload
    def orbit(self, params: np.ndarray | list[float] | tuple[float, ...] | None = None) -> np.ndarray: ...

    def orbit(self, params: Any = None) -> Any:
        """All sites equivalent to the first site with free parameters ``params``.

        Args:
            params: (..., dof) free parameters (fractional, any real value; the result is wrapped), as a
                numpy array, list or torch tensor. ``None`` or an empty array when ``dof == 0``.

        Returns:
            (..., multiplicity, 3) fractional coordinates in [0, 1), site 0 being the first site. A numpy
            float64 array for numpy/list input; for a torch tensor, a tensor of its device and dtype.
        """
        if isinstance(params, torch.Tensor):
            return self._orbit_torch(params)
        p = np.zeros((0,), dtype=np.float64) if params is None else np.asarray(params, dtype=np.float64)
        p = self._check_params_shape(p)
        if not np.all(np.isfinite(p)):
            raise ValueError("Wyckoff parameters must be finite numbers")
        site = self.representative + p @ self.basis  # (..., 3)
        sites = np.einsum("kij,...j->...ki", self.rotations, site) + self.translations
        return wrap_fractional(sites)

    def _check_params_shape(self, p: Any) -> Any:
        if p.ndim == 0 or p.shape[-1] != self.dof:
            if self.dof == 0 and p.size == 0:
                return p.reshape(*p.shape[:-1], 0) if p.ndim else p.reshape(0)
            raise ValueError(
                f"Wyckoff position {self.label} of space group {self.space_group} has {self.dof} free "
                f"parameter(s); params must have shape (..., {self.dof}), got {tuple(p.shape)}"
            )
        return p

    def _orbit_torch(self, params: torch.Tensor) -> torch.Tensor:
        dtype = params.dtype if params.is_floating_point() else torch.get_default_dtype()
        p = self._check_params_shape(params.to(dtype))
        device = p.device
        # torch.tensor copies: the numpy arrays are read-only, which torch.as_tensor warns about.
        basis = torch.tensor(self.basis, dtype=dtype, device=device)
        x0 = torch.tensor(self.representative, dtype=dtype, device=device)
        rot = torch.tensor(self.rotations, dtype=dtype, device=device)
        trans = torch.tensor(self.translations, dtype=dtype, device=device)
        site = x0 + p @ basis
        sites = torch.einsum("kij,...j->...ki", rot, site) + trans
        return wrap_fractional(sites)


def wyckoff_positions(number: int) -> tuple[WyckoffPosition, ...]:
    """Wyckoff positions of space group ``number`` (1..230), letter ``a`` first, general position last."""
    return _wyckoff_positions(space_group_number(number))


@dataclass
class _Subspace:
    """A fixed subspace found on the grid (one site-symmetry group with its lattice shifts)."""

    point: np.ndarray  # (3,) grid coordinates of one point whose site symmetry is exactly this group
    order: int  # order of the site-symmetry group
    basis: np.ndarray  # (dof, 3) int64 lattice basis of the free directions
    pivots: tuple[int, ...]  # coordinates that carry the free parameters


@functools.cache
def _wyckoff_positions(number: int) -> tuple[WyckoffPosition, ...]:
    group = SpaceGroup(number)
    rotations, translations = group.operations
    n_ops = len(rotations)
    shifts = np.round(translations * TABLES_DENOMINATOR).astype(np.int64)  # (n, 3) in grid units

    # 1. Images of every grid point under every operation (exact integers). Points first, so that each
    # point's row of step 2 is contiguous; int16 holds every value (|images| < 4 * 24) at a quarter of the
    # memory traffic of int64, which is what this step costs.
    axis = np.arange(TABLES_DENOMINATOR, dtype=np.int16)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)  # (M, 3)
    r16 = rotations.astype(np.int16)
    images = shifts.astype(np.int16)[None] + grid[:, None, None, 0] * r16[None, :, :, 0]  # (M, n, 3)
    for j in (1, 2):
        images += grid[:, None, None, j] * r16[None, :, :, j]
    lattice_shift, remainder = np.divmod(images - grid[:, None, :], np.int16(TABLES_DENOMINATOR))
    fixed = np.all(remainder == 0, axis=-1)  # (M, n): operation o fixes point m
    image_index = _index(np.mod(images, np.int16(TABLES_DENOMINATOR)).astype(np.int64))  # (M, n)
    order = fixed.sum(axis=1)
    grid = grid.astype(np.int64)

    # 2. Group points by their exact site-symmetry group (operations with their lattice shifts).
    key = np.empty((len(grid), n_ops, 4), dtype=np.int8)
    key[..., 0] = fixed
    key[..., 1:] = lattice_shift * fixed[..., None]
    # Subspaces numbered in the order of their first points.
    same_as = _first_with_same(key.reshape(len(grid), -1))
    first_point = np.unique(same_as).astype(np.int64)
    subspace_of_point = np.searchsorted(first_point, same_as)
    n_sub = len(first_point)

    subspaces: list[_Subspace] = []
    canonical = np.zeros((n_sub, 10), dtype=np.int64)  # (direction basis padded to 3x3, smallest index)
    for s in range(n_sub):
        m = int(first_point[s])
        ops = np.nonzero(fixed[m])[0]
        basis, pivots = _free_directions(rotations[ops] - np.eye(3, dtype=np.int64))
        subspaces.append(_Subspace(grid[m], int(order[m]), basis, pivots))
        # The same subspace shifted by a lattice vector shows up under another key: name each subspace by
        # its direction and the smallest grid index on it modulo the lattice, so translates share the name.
        canonical[s, : basis.size] = basis.reshape(-1)
        canonical[s, 9] = _index(_points_on_subspace(grid[m], basis)).min()

    # 3. Union-find: same subspace modulo the lattice, or images under the group.
    rows = [np.repeat(np.arange(n_sub), n_ops), np.arange(n_sub)]
    cols = [subspace_of_point[image_index[first_point].reshape(-1)], _first_with_same(canonical)]
    graph = coo_matrix(
        (np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_sub, n_sub),
    )
    n_classes, class_of_subspace = connected_components(graph, directed=False)

    # 4. One representative subspace and first site per class.
    positions = []
    for c in range(n_classes):
        members = [subspaces[s] for s in np.nonzero(class_of_subspace == c)[0]]
        orders = {sub.order for sub in members}
        if len(orders) != 1:
            raise RuntimeError(f"space group {number}: site-symmetry orders {orders} within one position")
        # Simplest directions first (x,0,1/3 before x,x,0; x,x,x before x,-x,x), then the simplest first
        # site (smallest fixed coordinates), then x before y before z (x,0,0 before 0,0,z).
        candidates = [(_direction_key(sub), *_first_site(sub), sub) for sub in members]
        _, _, x0_grid, sub = min(candidates, key=lambda c: (c[0], c[1]))
        positions.append(_make_position(group, x0_grid, sub))
    return _name_positions(group, positions)


def _index(points: np.ndarray) -> np.ndarray:
    """Flat index of grid points (..., 3) with coordinates in [0, TABLES_DENOMINATOR)."""
    return (points[..., 0] * TABLES_DENOMINATOR + points[..., 1]) * TABLES_DENOMINATOR + points[..., 2]


def _first_with_same(values: np.ndarray) -> np.ndarray:
    """For each row of the integer matrix ``values`` (m, k), the index of the first row with the same
    values. Rows are compared as opaque bytes: exact for integers, and much faster than
    ``np.unique(axis=0)`` on wide rows."""
    values = np.ascontiguousarray(values)
    rows = values.view(np.dtype((np.void, values.dtype.itemsize * values.shape[1])))[:, 0]
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    return first[inverse.reshape(-1)]


def _points_on_subspace(point: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """All grid points (k, 3) of the subspace through ``point`` with lattice basis ``basis``, mod 1."""
    dof = len(basis)
    if dof == 0:
        return point[None]
    return np.mod(point[None] + _grid_steps(dof) @ basis, TABLES_DENOMINATOR)


@functools.cache
def _grid_steps(dof: int) -> np.ndarray:
    """(G^dof, dof) int64, every combination of dof integers in [0, G) with G = TABLES_DENOMINATOR (read-only:
    built once, used for thousands of subspaces)."""
    steps = np.array(list(itertools.product(range(TABLES_DENOMINATOR), repeat=dof)), dtype=np.int64)
    steps.setflags(write=False)
    return steps


@functools.cache
def _small_vectors() -> np.ndarray:
    """(342, 3) int64, the nonzero integer vectors with entries in -3..3, simplest first (read-only)."""
    vectors = np.array([v for v in itertools.product((0, 1, -1, 2, -2, 3, -3), repeat=3) if any(v)])
    vectors.setflags(write=False)
    return vectors


def _first_site(sub: _Subspace) -> tuple[tuple[int, ...], np.ndarray]:
    """Sort key and first site (grid units) of a subspace.

    The free coordinates are zero where possible (``x,1/4,z`` rather than ``x,1/4,z+1/2``); among the
    rest the simplest fixed coordinates win (0 before 1/4 before 1/2 ...), then lexicographic order.
    """
    candidates = _points_on_subspace(sub.point, sub.basis)
    if sub.pivots:
        at_zero = np.all(candidates[:, list(sub.pivots)] == 0, axis=1)
        if at_zero.any():
            candidates = candidates[at_zero]
    best = candidates[np.lexsort((_index(candidates), candidates.sum(axis=1)))[0]]
    return (int(best.sum()), *(int(v) for v in best)), best


def _direction_key(sub: _Subspace) -> tuple[int, ...]:
    """Sort key preferring directions along the axes, then small and positive direction vectors."""
    basis = sub.basis
    return (
        int(np.count_nonzero(basis)),
        int(np.abs(basis).max(initial=0)),
        int((basis < 0).sum()),
        *sub.pivots,
    )


def _free_directions(a: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Integer lattice basis of {v in Z^3 : a v = 0} for a stack of integer matrices ``a`` (k, 3, 3).

    Returns the basis (dof, 3) in a reduced form (identity on the pivot coordinates where that is
    possible) and the pivot coordinates, which name the free parameters (x, y, z).
    """
    rows = a.reshape(-1, 3)
    rank = int(np.linalg.matrix_rank(rows.astype(np.float64))) if rows.size else 0
    dof = 3 - rank
    if dof == 0:
        return np.zeros((0, 3), dtype=np.int64), ()
    if dof == 3:
        return np.eye(3, dtype=np.int64), (0, 1, 2)
    # Candidate lattice vectors with small entries in the kernel, simplest first.
    cand = _small_vectors()
    cand = cand[np.all(rows @ cand.T == 0, axis=0)]
    if dof == 1:
        v = cand[0] // gcd(*(int(x) for x in cand[0]))
        v = -v if v[np.nonzero(v)[0][0]] < 0 else v
        units = [i for i in range(3) if abs(v[i]) == 1]
        pivot = units[0] if units else int(np.nonzero(v)[0][0])
        return (v * v[pivot] if abs(v[pivot]) == 1 else v)[None], (pivot,)
    # dof == 2: the kernel is the plane normal to the primitive vector n; a basis of its lattice points
    # is any pair whose cross product is +-n.
    normal = _primitive(next(r for r in rows if np.any(r)))
    for u, w in itertools.combinations(cand, 2):
        if np.array_equal(np.abs(np.cross(u, w)), np.abs(normal)):
            basis = np.stack([u, w])
            break
    else:  # pragma: no cover - all crystallographic planes have small lattice vectors
        raise RuntimeError(f"no lattice basis found for the plane normal to {normal}")
    for pivots in itertools.combinations(range(3), 2):
        if abs(round(np.linalg.det(basis[:, list(pivots)]))) == 1:
            return _reduce(basis, pivots), pivots
    return basis, (0, 1)


def _reduce(basis: np.ndarray, pivots: tuple[int, ...]) -> np.ndarray:
    """Change the basis so that it is the identity on the pivot coordinates (minor must be unimodular)."""
    minor = basis[:, list(pivots)].astype(np.float64)
    return np.round(np.linalg.solve(minor.T, basis.astype(np.float64))).astype(np.int64)


def _primitive(v: np.ndarray) -> np.ndarray:
    g = 0
    for x in v:
        g = gcd(g, int(x))
    return v // g


def _make_position(group: SpaceGroup, x0_grid: np.ndarray, sub: _Subspace) -> WyckoffPosition:
    """Coset representatives and the first site of one Wyckoff position (letter still unknown)."""
    rotations, translations = group.operations
    x0 = x0_grid / TABLES_DENOMINATOR
    generic = x0 + _GENERIC_PARAMS[: len(sub.basis)] @ sub.basis
    images = np.mod(np.einsum("oij,j->oi", rotations, generic) + translations, 1.0)
    # Distinct images up to rounding; keep the first operation producing each (identity first).
    rounded = np.round(images * 1e6).astype(np.int64) % 1_000_000
    _, first = np.unique(rounded, axis=0, return_index=True)
    first = np.sort(first)
    multiplicity = len(rotations) // sub.order
    if len(first) != multiplicity:
        raise RuntimeError(
            f"space group {group.number}: orbit of {generic} has {len(first)} sites, expected {multiplicity}"
        )
    # Named later (letter and site symmetry from spglib), once every position of the group is known.
    return WyckoffPosition(
        space_group=group.number,
        letter="",
        multiplicity=multiplicity,
        site_symmetry="",
        dof=len(sub.basis),
        representative=_frozen(x0),
        basis=_frozen(sub.basis),
        rotations=_frozen(rotations[first]),
        translations=_frozen(translations[first]),
        coordinates=_coordinate_string(x0, sub.basis, sub.pivots),
    )


def _name_positions(group: SpaceGroup, positions: list[WyckoffPosition]) -> tuple[WyckoffPosition, ...]:
    """Attach spglib's Wyckoff letters and site-symmetry symbols and sort in the Tables' order."""
    rng = np.random.default_rng(group.number)
    lattice = generic_lattice(group.lattice_system)
    general = max(positions, key=lambda p: p.multiplicity)
    named = []
    for index, pos in enumerate(positions):
        letter, symbol = _spglib_name(group, lattice, pos, general, rng, index)
        named.append(dataclasses.replace(pos, letter=letter, site_symmetry=symbol))
    named.sort(key=lambda w: _LETTERS.index(w.letter))
    letters = "".join(w.letter for w in named)
    # The general position (site symmetry 1, the only one of multiplicity = group order) comes last.
    if letters != _LETTERS[: len(named)] or named[-1].multiplicity != group.order:
        raise RuntimeError(f"space group {group.number}: derived positions got letters {letters!r}")
    return tuple(named)


def generic_parameters(rng: np.random.Generator, dof: int, size: tuple[int, ...] = ()) -> np.ndarray:
    """Random free parameters ``(*size, dof)`` that are safely generic (for :meth:`WyckoffPosition.orbit`).

    Special values, where a site meets a higher-symmetry position or one of its own images, are those
    where a coordinate or a small integer combination such as x - y, 2x - y or x + y + z is a multiple of
    1/24. Each parameter is a random multiple of 1/24 plus an offset from its own narrow band; the bands
    are chosen so that every such combination stays at least 0.08/24 away from a multiple of 1/24.
    """
    bands = np.array([0.10, 0.42, 0.72])[:dof]
    cell = rng.integers(0, TABLES_DENOMINATOR, size=(*size, dof))
    return (cell + bands + rng.uniform(0.0, 0.04, size=(*size, dof))) / TABLES_DENOMINATOR


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.setflags(write=False)
    return a


def generic_lattice(system: str) -> np.ndarray:
    """A cell of the lattice system with no accidental extra metric symmetry, for tests of symmetry code.

    Args:
        system: one of :data:`LATTICE_SYSTEMS` ("triclinic" ... "cubic").

    Returns:
        (3, 3) float64 rows a, b, c in Å (a, b, c from 5.13, 6.37, 7.71 Å as the system allows).
    """
    # Triclinic: all obtuse and already reduced, so that spglib keeps the basis as given. Monoclinic: beta
    # obtuse with b unique, spglib's default setting.
    beta = 103.9 if system == "monoclinic" else 101.1
    return lattice_for_system(system, 5.13, 6.37, 7.71, 98.3, beta, 104.7)


def _spglib_name(
    group: SpaceGroup,
    lattice: np.ndarray,
    pos: WyckoffPosition,
    general: WyckoffPosition,
    rng: np.random.Generator,
    index: int,
) -> tuple[str, str]:
    """Wyckoff letter and oriented site-symmetry symbol of a derived position, read off spglib."""
    sites = pos.orbit(generic_parameters(rng, pos.dof))
    # Two atoms of other species on general positions remove any symmetry beyond the group's.
    extra = [general.orbit(generic_parameters(rng, 3)) for _ in range(2)]
    positions = np.concatenate([sites, *extra])
    types = np.repeat([1, 2, 3], [len(sites), len(extra[0]), len(extra[1])])
    data = symmetry_dataset(lattice, positions, types, symprec=1e-4, hall_number=group.hall_number)
    if data is None or data.number != group.number:
        raise RuntimeError(f"space group {group.number}: spglib does not recognise derived position {index}")
    # Letters refer to spglib's standardised cell: it must be ours, or a letter could name a position
    # that an origin shift or a change of basis maps onto this one.
    if not (np.allclose(data.transformation_matrix, np.eye(3)) and np.allclose(data.origin_shift, 0.0)):
        raise RuntimeError(f"space group {group.number}: spglib changed the setting of the test structure")
    letters = set(data.wyckoffs[: len(sites)])
    symbols = set(data.site_symmetry_symbols[: len(sites)])
    if len(letters) != 1 or len(symbols) != 1:
        raise RuntimeError(f"space group {group.number}: spglib splits derived position {index}: {letters}")
    return letters.pop(), symbols.pop()


def _coordinate_string(x0: np.ndarray, basis: np.ndarray, pivots: tuple[int, ...]) -> str:
    """The first site written as in the Tables, e.g. ``"x,2x,1/4"``: the parameter on pivot p is named
    by that coordinate (x, y or z)."""
    coefficients = np.zeros((3, 3), dtype=np.int64)
    coefficients[:, list(pivots)] = basis.T
    return format_operation(coefficients, x0)
