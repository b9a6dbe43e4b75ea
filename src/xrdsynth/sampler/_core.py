"""The sampling algorithm as functions of explicit tensors: device tables, composition, certificate and atom
slots here; lattices and volumes in :mod:`._lattices`, the placement of the atoms in :mod:`._placement`.

Everything is batched over crystals (rows). Python loops run over Wyckoff slots, lattice systems, placement
attempts and redraw rounds, never over crystals or atoms. All randomness comes from the ``generator``
argument, on the tables' device.

Shapes: n crystals, E = ``MAX_ELEMENTS`` element slots, S = ``MAX_SITES`` Wyckoff-site slots, P = 27
position slots per group, N atom slots.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from ..symmetry import LATTICE_SYSTEMS, lattice_system
from ._probabilities import (
    element_probabilities,
    num_elements_probabilities,
    sites_per_element_probabilities,
    wyckoff_probabilities,
)
from ._radii import atomic_volumes, covalent_radii
from ._statistics import LATTICE_VARIABLES, MAX_ELEMENTS, SamplerStatistics
from ._tables import MAX_POSITIONS, WyckoffTables

__all__ = [
    "MAX_SITES",
    "AtomMap",
    "Composition",
    "DeviceTables",
    "build_device_tables",
    "certify",
    "draw_composition",
    "expand_atoms",
]

MAX_SITES = 24  # occupied Wyckoff sites per crystal (asymmetric unit); amcsd-dev's 95th percentile is ~20


@dataclass(frozen=True, eq=False)
class DeviceTables:
    """Wyckoff tables and sampling probabilities as tensors on one device (float ones in one dtype).

    Attributes (g = group index, number - 1; l = local position index, letter order):
        num_positions: (230,) int64.
        multiplicity: (230, P) int64, 0 beyond the group's positions.
        dof: (230, P) int64.
        representative: (230, P, 3) float first site at params 0.
        basis: (230, P, 3, 3) float free directions (rows beyond dof are zero).
        op_start: (230, P) int64 first coset representative in ``rotations``/``translations``.
        rotations: (T, 3, 3) float; translations: (T, 3) float.
        faithful: (230, P) bool, one orbit certifies the group (``_tables``).
        pair_faithful: (230, P, P) bool, two single-orbit elements certify the group.
        witness_mode: (230,) int64, how a certificate is forced: 1 one faithful orbit, 2 a faithful pair,
            0 impossible within ``max_atoms``.
        witness_first: (230, P) bool, positions allowed for the first forced witness orbit.
        position_probability: (230, P) float64 Wyckoff frequencies.
        element_probability: (230, 119) float64; num_elements_probability: (E,) float64;
        sites_probability: (119, K) float64 sites per element.
        radius: (119,) float Å; atomic_volume: (119,) float Å³.
        lattice_system: (230,) int64 index into ``LATTICE_SYSTEMS``.
        shape_mean, shape_chol: per lattice system, (k,) and (k, k) float64 Gaussian of the shape variables.
        packing_log_mean, packing_log_std: float, log-normal packing fraction.
        max_atoms: the cap these tables were built for.
    """

    num_positions: torch.Tensor
    multiplicity: torch.Tensor
    dof: torch.Tensor
    representative: torch.Tensor
    basis: torch.Tensor
    op_start: torch.Tensor
    rotations: torch.Tensor
    translations: torch.Tensor
    faithful: torch.Tensor
    pair_faithful: torch.Tensor
    witness_mode: torch.Tensor
    witness_first: torch.Tensor
    position_probability: torch.Tensor
    element_probability: torch.Tensor
    num_elements_probability: torch.Tensor
    sites_probability: torch.Tensor
    radius: torch.Tensor
    atomic_volume: torch.Tensor
    lattice_system: torch.Tensor
    shape_mean: tuple[torch.Tensor, ...]
    shape_chol: tuple[torch.Tensor, ...]
    packing_log_mean: float
    packing_log_std: float
    max_atoms: int


def build_device_tables(
    tables: WyckoffTables,
    stats: SamplerStatistics,
    max_atoms: int,
    device: torch.device,
    dtype: torch.dtype,
) -> DeviceTables:
    """Pad the flat Wyckoff tables per group, compute the probabilities, and move everything to ``device``."""
    num_positions = np.diff(tables.group_start)
    multiplicity = np.zeros((230, MAX_POSITIONS), dtype=np.int64)
    dof = np.zeros((230, MAX_POSITIONS), dtype=np.int64)
    representative = np.zeros((230, MAX_POSITIONS, 3))
    basis = np.zeros((230, MAX_POSITIONS, 3, 3))
    op_start = np.zeros((230, MAX_POSITIONS), dtype=np.int64)
    faithful = np.zeros((230, MAX_POSITIONS), dtype=bool)
    for g in range(230):
        rows = tables.positions_of(g + 1)
        k = len(rows)
        multiplicity[g, :k] = tables.multiplicity[rows.start : rows.stop]
        dof[g, :k] = tables.dof[rows.start : rows.stop]
        representative[g, :k] = tables.representative[rows.start : rows.stop]
        basis[g, :k] = tables.basis[rows.start : rows.stop]
        op_start[g, :k] = tables.op_start[rows.start : rows.stop]
        faithful[g, :k] = tables.faithful[rows.start : rows.stop]
    fits = (multiplicity > 0) & (multiplicity <= max_atoms)
    single = faithful & fits
    pair_fits = tables.pair_faithful & ((multiplicity[:, :, None] + multiplicity[:, None, :]) <= max_atoms)
    pair_fits &= fits[:, :, None] & fits[:, None, :]
    has_partner = pair_fits.any(axis=2)
    witness_mode = np.where(single.any(axis=1), 1, np.where(has_partner.any(axis=1), 2, 0))
    witness_first = np.where(witness_mode[:, None] == 1, single, has_partner)

    systems = [LATTICE_SYSTEMS.index(lattice_system(g)) for g in range(1, 231)]
    means, chols = [], []
    for system in LATTICE_SYSTEMS:
        shape = stats.lattice[system]
        k = len(LATTICE_VARIABLES[system])
        cov = np.asarray(shape.cov, dtype=np.float64).reshape(k, k)
        # A tiny ridge keeps the Cholesky factor defined for degenerate fits (e.g. all cells the same).
        chol = np.linalg.cholesky(cov + 1e-9 * np.eye(k)) if k else np.zeros((0, 0))
        means.append(torch.tensor(np.asarray(shape.mean, dtype=np.float64), device=device))
        chols.append(torch.tensor(chol, device=device))

    def f(x: np.ndarray) -> torch.Tensor:
        return torch.tensor(x, dtype=dtype, device=device)

    def i(x: np.ndarray) -> torch.Tensor:
        return torch.tensor(x, dtype=torch.int64, device=device)

    def p(x: np.ndarray) -> torch.Tensor:
        return torch.tensor(x, dtype=torch.float64, device=device)

    def b(x: np.ndarray) -> torch.Tensor:
        return torch.tensor(x, dtype=torch.bool, device=device)

    return DeviceTables(
        num_positions=i(num_positions),
        multiplicity=i(multiplicity),
        dof=i(dof),
        representative=f(representative),
        basis=f(basis),
        op_start=i(op_start),
        rotations=f(tables.rotations.astype(np.float64)),
        translations=f(tables.translations),
        faithful=b(faithful),
        pair_faithful=b(tables.pair_faithful),
        witness_mode=i(witness_mode),
        witness_first=b(witness_first),
        position_probability=p(wyckoff_probabilities(stats, tables)),
        element_probability=p(element_probabilities(stats)),
        num_elements_probability=p(num_elements_probabilities(stats)),
        sites_probability=p(sites_per_element_probabilities(stats)),
        radius=f(covalent_radii()),
        atomic_volume=f(atomic_volumes()),
        lattice_system=i(np.array(systems)),
        shape_mean=tuple(means),
        shape_chol=tuple(chols),
        packing_log_mean=stats.packing_fraction_log_mean,
        packing_log_std=stats.packing_fraction_log_std,
        max_atoms=max_atoms,
    )


# ---------------------------------------------------------------------------------------------------------
# Composition: which elements on which Wyckoff positions


@dataclass(frozen=True, eq=False)
class Composition:
    """The combinatorial part of n crystals.

    Attributes:
        group: (n,) int64 space-group numbers.
        position: (n, S) int64 local Wyckoff position index of each site slot (0 where not valid).
        element: (n, S) int64 element slot (0..E-1) of each site; distinct slots hold distinct elements.
        number: (n, S) int64 atomic number of each site.
        valid: (n, S) bool, the slot holds a site.
    """

    group: torch.Tensor
    position: torch.Tensor
    element: torch.Tensor
    number: torch.Tensor
    valid: torch.Tensor

    def take(self, rows: torch.Tensor) -> Composition:
        """The crystals ``rows`` (index tensor)."""
        return Composition(*(getattr(self, f.name)[rows] for f in fields(self)))

    def put(self, rows: torch.Tensor, other: Composition) -> Composition:
        """A copy with crystals ``rows`` replaced by ``other``'s."""
        values = []
        for f in fields(self):
            value = getattr(self, f.name).clone()
            value[rows] = getattr(other, f.name)
            values.append(value)
        return Composition(*values)

    def multiplicity(self, t: DeviceTables) -> torch.Tensor:
        """(n, S) int64 atoms per site (0 for empty slots)."""
        return t.multiplicity[self.group - 1].gather(1, self.position) * self.valid


def _categorical(probabilities: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One draw per row of (m, k) non-negative weights (rows with positive sum): (m,) int64."""
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(1)


def draw_composition(
    t: DeviceTables, group: torch.Tensor, force: torch.Tensor, generator: torch.Generator
) -> Composition:
    """Draw elements, sites per element and Wyckoff positions for crystals of the given groups.

    Args:
        t: device tables.
        group: (n,) int64 space-group numbers.
        force: (n,) bool; for these rows the composition is built so that it certifies its group (see
            :func:`certify`): element slot 0 occupies exactly one faithful orbit, or (groups with no
            faithful position, such as P1) element slots 0 and 1 occupy one orbit each of a faithful pair.
        generator: random generator on ``t``'s device.

    Returns:
        The composition. Positions with no free parameter are used at most once per crystal, and the
        atoms per cell never exceed ``t.max_atoms``: a slot whose position cannot fit stays empty.
    """
    n = group.shape[0]
    device = group.device
    g = group - 1
    mode = torch.where(force, t.witness_mode[g], torch.zeros_like(g))
    rows = torch.arange(n, device=device)

    num_elements = _categorical(t.num_elements_probability.expand(n, -1), generator) + 1
    num_elements = torch.where(mode == 2, num_elements.clamp(min=2), num_elements)
    numbers = torch.multinomial(
        t.element_probability[g], MAX_ELEMENTS, replacement=False, generator=generator
    )
    sites = _categorical(t.sites_probability[numbers.reshape(-1)], generator).reshape(n, MAX_ELEMENTS) + 1
    slot = torch.arange(MAX_ELEMENTS, device=device)
    sites = torch.where(slot < num_elements[:, None], sites, torch.zeros_like(sites))
    # The witness elements occupy exactly one site each.
    sites[:, 0] = torch.where(mode > 0, torch.ones_like(sites[:, 0]), sites[:, 0])
    sites[:, 1] = torch.where(mode == 2, torch.ones_like(sites[:, 1]), sites[:, 1])

    ends = sites.cumsum(dim=1)  # (n, E) end slot of each element's sites
    total = ends[:, -1].clamp(max=MAX_SITES)
    site_slot = torch.arange(MAX_SITES, device=device).expand(n, -1).contiguous()
    element = torch.searchsorted(ends, site_slot, right=True).clamp(max=MAX_ELEMENTS - 1)
    valid = site_slot < total[:, None]

    multiplicity = t.multiplicity[g]  # (n, P)
    fixed_point = t.dof[g] == 0
    weights_base = t.position_probability[g]
    budget = torch.full((n,), t.max_atoms, dtype=torch.int64, device=device)
    used = torch.zeros_like(fixed_point)
    position = torch.zeros((n, MAX_SITES), dtype=torch.int64, device=device)
    for s in range(MAX_SITES):
        if not bool(valid[:, s].any()):
            break
        allowed = (multiplicity > 0) & (multiplicity <= budget[:, None]) & ~(used & fixed_point)
        if s == 0:
            allowed &= torch.where((mode > 0)[:, None], t.witness_first[g], torch.ones_like(allowed))
        elif s == 1:
            partner = t.pair_faithful[g, position[:, 0]]  # (n, P)
            allowed &= torch.where((mode == 2)[:, None], partner, torch.ones_like(allowed))
        weights = weights_base * allowed
        ok = valid[:, s] & (weights.sum(dim=1) > 0)
        # Rows with nothing allowed draw from a dummy distribution and are marked empty.
        weights = torch.where(ok[:, None], weights, torch.ones_like(weights))
        choice = _categorical(weights, generator)
        position[:, s] = torch.where(ok, choice, torch.zeros_like(choice))
        valid[:, s] = ok
        budget = budget - multiplicity[rows, choice] * ok
        used[rows, choice] |= ok
    number = numbers.gather(1, element)
    return Composition(group, position, element, number * valid, valid)


def certify(t: DeviceTables, c: Composition) -> torch.Tensor:
    """(n,) bool: the composition guarantees exactly its space group for generic coordinates.

    True when some element occupies exactly one orbit and that position is faithful, or two elements
    occupy one orbit each and the two positions form a faithful pair (see :mod:`._tables`).
    """
    g = c.group - 1
    one_hot = torch.nn.functional.one_hot(c.element, MAX_ELEMENTS) * c.valid[:, :, None]
    count = one_hot.sum(dim=1)  # (n, E) sites per element
    single = c.valid & (count.gather(1, c.element) == 1)  # (n, S) the site is its element's only one
    faithful = t.faithful[g].gather(1, c.position)
    by_one = (single & faithful).any(dim=1)
    pair = t.pair_faithful[g[:, None, None], c.position[:, :, None], c.position[:, None, :]]  # (n, S, S)
    distinct = c.element[:, :, None] != c.element[:, None, :]
    by_two = (pair & distinct & single[:, :, None] & single[:, None, :]).any(dim=(1, 2))
    return by_one | by_two


# ---------------------------------------------------------------------------------------------------------
# Atoms


@dataclass(frozen=True, eq=False)
class AtomMap:
    """Where each site's atoms go in the padded atom slots: site 0's atoms first, then site 1's, ...

    Attributes:
        site: (n, N) int64 site slot of each atom (clamped into range for padding).
        start: (n, S) int64 first atom slot of each site; end: (n, S) int64 one past its last.
        mask: (n, N) bool real atoms.
    """

    site: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    mask: torch.Tensor

    def take(self, rows: torch.Tensor) -> AtomMap:
        """The crystals ``rows`` (index tensor)."""
        return AtomMap(*(getattr(self, f.name)[rows] for f in fields(self)))


def expand_atoms(t: DeviceTables, c: Composition) -> AtomMap:
    """Atom slots of the sites' orbits (N = the largest atom count among the crystals)."""
    multiplicity = c.multiplicity(t)
    end = multiplicity.cumsum(dim=1)
    start = end - multiplicity
    total = end[:, -1]
    n_atoms = max(int(total.max()), 1)
    slot = torch.arange(n_atoms, device=end.device).expand(len(total), -1).contiguous()
    site = torch.searchsorted(end, slot, right=True).clamp(max=MAX_SITES - 1)
    return AtomMap(site, start, end, slot < total[:, None])
