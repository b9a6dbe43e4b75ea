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

from ..symmetry import CRYSTAL_SYSTEM_OF_GROUP, LATTICE_SYSTEMS, lattice_system
from ._probabilities import (
    element_probabilities,
    element_set_table,
    element_volume_table,
    group_element_set_probabilities,
    min_distance_table,
    num_elements_probabilities,
    sites_per_element_probabilities,
    volume_residual_table,
    wyckoff_probabilities_by_class,
)
from ._statistics import ANIONS, LATTICE_VARIABLES, MAX_ELEMENTS, SamplerStatistics
from ._tables import MAX_POSITIONS, WyckoffTables

__all__ = [
    "MAX_SITES",
    "AtomMap",
    "Composition",
    "DeviceTables",
    "build_device_tables",
    "certificate_sites",
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
        centring: (230, 3, 3) float centring translations of each group (fractional, in [0, 1)), rows
            beyond the group's ones are nan.
        witness_mode: (230,) int64, how a certificate is forced: 1 one faithful orbit, 2 a faithful pair,
            0 impossible within ``max_atoms``.
        witness_first: (230, P) bool, positions allowed for the first forced witness orbit.
        position_probability: (2, 230, P) float64 Wyckoff frequencies for a site of a non-anion (0) and
            of an anion (1).
        is_anion: (119,) bool, the atomic number is one of ``ANIONS``.
        element_sets: (K, E) int64 element sets (atomic numbers ascending, 0-padded); K = 0 when the
            statistics have none (elements are then drawn one by one).
        element_set_probability: (230, K) float64 per space group (index number - 1).
        crystal_system: (230,) int64 index into ``CRYSTAL_SYSTEMS``.
        element_probability: (230, 119) float64; num_elements_probability: (E,) float64;
        sites_probability: (7, 119, K) float64 sites per element given the crystal system.
        element_volume: (119,) float Å³ each atom of element Z brings to the cell.
        volume_residual: (Q,) float quantiles of the log volume residual at evenly spaced probability
            levels (``VOLUME_QUANTILE_LEVELS``).
        min_distance: (119, 119) float Å minimum distance of each pair of atomic numbers (0 for padding).
        min_cell_edge: shortest allowed edge of the conventional cell in Å.
        lattice_system: (230,) int64 index into ``LATTICE_SYSTEMS``.
        shape_mean, shape_chol: per lattice system, (k,) and (k, k) float64 Gaussian of the shape variables.
        group_shape_samples: per space group (index g - 1), (m, k) float64 the group's own fitted cells'
            shape variables ((0, k): none, the group draws from its lattice system's).
        shape_samples: per lattice system, (m, k) float64 fitted cells' shape variables ((0, k): none, the
            Gaussian is drawn from).
        cell_kernel_width: the kernel's noise as a fraction of the Gaussian's (``shape_chol``).
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
    centring: torch.Tensor
    faithful: torch.Tensor
    pair_faithful: torch.Tensor
    witness_mode: torch.Tensor
    witness_first: torch.Tensor
    position_probability: torch.Tensor
    is_anion: torch.Tensor
    element_sets: torch.Tensor
    element_set_probability: torch.Tensor
    crystal_system: torch.Tensor
    element_probability: torch.Tensor
    num_elements_probability: torch.Tensor
    sites_probability: torch.Tensor
    element_volume: torch.Tensor
    volume_residual: torch.Tensor
    min_distance: torch.Tensor
    min_cell_edge: float
    lattice_system: torch.Tensor
    shape_mean: tuple[torch.Tensor, ...]
    shape_chol: tuple[torch.Tensor, ...]
    shape_samples: tuple[torch.Tensor, ...]
    group_shape_samples: tuple[torch.Tensor, ...]
    cell_kernel_width: float
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
    centring = np.full((230, 3, 3), np.nan)
    for g in range(230):
        rows = tables.positions_of(g + 1)
        k = len(rows)
        multiplicity[g, :k] = tables.multiplicity[rows.start : rows.stop]
        dof[g, :k] = tables.dof[rows.start : rows.stop]
        representative[g, :k] = tables.representative[rows.start : rows.stop]
        basis[g, :k] = tables.basis[rows.start : rows.stop]
        op_start[g, :k] = tables.op_start[rows.start : rows.stop]
        faithful[g, :k] = tables.faithful[rows.start : rows.stop]
        # The general position (last) lists every coset: the pure translations among them are the centring.
        general = slice(
            tables.op_start[rows.stop - 1], tables.op_start[rows.stop - 1] + multiplicity[g, k - 1]
        )
        pure = np.all(tables.rotations[general] == np.eye(3, dtype=tables.rotations.dtype), axis=(1, 2))
        vectors = np.mod(tables.translations[general][pure], 1.0)
        vectors = vectors[np.any(vectors > 1e-9, axis=1)]
        centring[g, : len(vectors)] = vectors
    fits = (multiplicity > 0) & (multiplicity <= max_atoms)
    single = faithful & fits
    pair_fits = tables.pair_faithful & ((multiplicity[:, :, None] + multiplicity[:, None, :]) <= max_atoms)
    pair_fits &= fits[:, :, None] & fits[:, None, :]
    has_partner = pair_fits.any(axis=2)
    witness_mode = np.where(single.any(axis=1), 1, np.where(has_partner.any(axis=1), 2, 0))
    witness_first = np.where(witness_mode[:, None] == 1, single, has_partner)

    systems = [LATTICE_SYSTEMS.index(lattice_system(g)) for g in range(1, 231)]
    sets, set_probability = element_set_table(stats)
    set_probability = group_element_set_probabilities(stats, sets, set_probability)
    means, chols, samples = [], [], []
    for system in LATTICE_SYSTEMS:
        shape = stats.lattice[system]
        k = len(LATTICE_VARIABLES[system])
        cov = np.asarray(shape.cov, dtype=np.float64).reshape(k, k)
        # A tiny ridge keeps the Cholesky factor defined for degenerate fits (e.g. all cells the same).
        chol = np.linalg.cholesky(cov + 1e-9 * np.eye(k)) if k else np.zeros((0, 0))
        means.append(torch.tensor(np.asarray(shape.mean, dtype=np.float64), device=device))
        chols.append(torch.tensor(chol, device=device))
        rows = np.asarray(shape.samples, dtype=np.float64).reshape(len(shape.samples), k)
        samples.append(torch.tensor(rows, device=device))
    group_samples = []
    for g in range(1, 231):
        k = len(LATTICE_VARIABLES[lattice_system(g)])
        own = stats.cells_by_group.get(g, ())
        rows = np.asarray(own, dtype=np.float64).reshape(len(own), k)
        group_samples.append(torch.tensor(rows, device=device))

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
        centring=f(centring),
        faithful=b(faithful),
        pair_faithful=b(tables.pair_faithful),
        witness_mode=i(witness_mode),
        witness_first=b(witness_first),
        position_probability=p(wyckoff_probabilities_by_class(stats, tables)),
        is_anion=b(np.isin(np.arange(119), sorted(ANIONS))),
        element_sets=i(sets),
        element_set_probability=p(set_probability),
        crystal_system=i(np.array(CRYSTAL_SYSTEM_OF_GROUP)),
        element_probability=p(element_probabilities(stats)),
        num_elements_probability=p(num_elements_probabilities(stats)),
        sites_probability=p(sites_per_element_probabilities(stats)),
        element_volume=f(element_volume_table(stats)),
        volume_residual=f(volume_residual_table(stats)),
        min_distance=f(min_distance_table(stats)),
        min_cell_edge=float(stats.min_cell_edge),
        lattice_system=i(np.array(systems)),
        shape_mean=tuple(means),
        shape_chol=tuple(chols),
        shape_samples=tuple(samples),
        group_shape_samples=tuple(group_samples),
        cell_kernel_width=float(stats.cell_kernel_width),
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

    def by_freedom(self, t: DeviceTables) -> Composition:
        """The same crystals with each one's sites in order of increasing free parameters (empty slots
        last). Sites are placed in slot order: the fixed and line positions, which cannot avoid a
        crowded spot, go first, and the free ones fit around them."""
        dof = t.dof[self.group - 1].gather(1, self.position)
        key = torch.where(self.valid, dof, torch.full_like(dof, 4))
        order = torch.sort(key, dim=1, stable=True).indices
        return Composition(
            self.group,
            self.position.gather(1, order),
            self.element.gather(1, order),
            self.number.gather(1, order),
            self.valid.gather(1, order),
        )


def _categorical(probabilities: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One draw per row of (m, k) non-negative weights (rows with positive sum): (m,) int64.

    By the inverse of the cumulative weights (5-10x faster than ``torch.multinomial`` on a CPU for the
    sampler's shapes); a weight of zero is never drawn.
    """
    cumulative = probabilities.cumsum(dim=1)
    total = cumulative[:, -1:]
    u = torch.rand(total.shape, dtype=total.dtype, device=total.device, generator=generator)
    choice = torch.searchsorted(cumulative, u * total, right=True).squeeze(1)
    # u * total can round up to the total itself: then the last category with a positive weight.
    last = probabilities.shape[1] - 1 - (probabilities.flip(1) > 0).to(torch.int8).argmax(dim=1)
    return torch.minimum(choice, last)


def draw_composition(
    t: DeviceTables, group: torch.Tensor, force: torch.Tensor, generator: torch.Generator
) -> Composition:
    """Draw elements, sites per element and Wyckoff positions for crystals of the given groups.

    The elements are a real element set of the group's crystal system (``t.element_sets``; one of two or
    more elements where the certificate needs two), or, for statistics without sets, a number of
    elements and the elements given the group, drawn one by one.

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

    if t.element_sets.shape[0]:
        # A real element set (the system's, tilted for the group), its elements in random slot order.
        probability = t.element_set_probability[g]  # (n, K)
        several = (t.element_sets[:, 1] > 0).to(probability.dtype)
        probability = torch.where((mode == 2)[:, None], probability * several, probability)
        chosen = t.element_sets[_categorical(probability, generator)]  # (n, E)
        num_elements = (chosen > 0).sum(dim=1)
        keys = torch.rand(chosen.shape, generator=generator, device=device) + 2.0 * (chosen == 0)
        numbers = chosen.gather(1, keys.argsort(dim=1))
    else:
        num_elements = _categorical(t.num_elements_probability.expand(n, -1), generator) + 1
        num_elements = torch.where(mode == 2, num_elements.clamp(min=2), num_elements)
        numbers = torch.multinomial(
            t.element_probability[g], MAX_ELEMENTS, replacement=False, generator=generator
        )
    system = t.crystal_system[g][:, None].expand(-1, MAX_ELEMENTS)
    sites = _categorical(t.sites_probability[system, numbers].reshape(n * MAX_ELEMENTS, -1), generator)
    sites = sites.reshape(n, MAX_ELEMENTS) + 1
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
    # The letter frequencies of each site's element class (anion or not).
    anion_site = t.is_anion[numbers.gather(1, element)].to(torch.int64)  # (n, S)
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
        weights = t.position_probability[anion_site[:, s], g] * allowed
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
    occupy one orbit each and the two positions form a faithful pair (see :mod:`._tables`): when
    :func:`certificate_sites` finds a site to mark.
    """
    return certificate_sites(t, c).any(dim=1)


def certificate_sites(t: DeviceTables, c: Composition) -> torch.Tensor:
    """(n, S) bool: the site, or the pair of sites, whose generic coordinates certify each crystal's group
    (:func:`certify`; one certificate per crystal, a single faithful site preferred; no site where the
    composition has none).

    Pushing atoms apart (:func:`~xrdsynth.sampler._relax.relax`) can bring a site to rest exactly where two
    pushes balance, a special value that adds symmetry; the certifying sites are therefore never moved
    after their random placement, which keeps the certificate, and so the label, exact.
    """
    g = c.group - 1
    one_hot = torch.nn.functional.one_hot(c.element, MAX_ELEMENTS) * c.valid[:, :, None]
    count = one_hot.sum(dim=1)  # (n, E) sites per element
    single = c.valid & (count.gather(1, c.element) == 1)  # (n, S) the site is its element's only one
    faithful = t.faithful[g].gather(1, c.position)
    by_one = single & faithful  # (n, S)
    slots = torch.arange(by_one.shape[1], device=by_one.device)
    # The first faithful single site, where there is one.
    first_one = torch.where(by_one, slots, by_one.shape[1]).min(dim=1).values  # (n,), S when none
    chosen = slots[None, :] == first_one[:, None]
    pair = t.pair_faithful[g[:, None, None], c.position[:, :, None], c.position[:, None, :]]
    distinct = c.element[:, :, None] != c.element[:, None, :]
    by_two = pair & distinct & single[:, :, None] & single[:, None, :]  # (n, S, S)
    width = by_one.shape[1]
    flat = torch.where(by_two.flatten(1), torch.arange(width * width, device=by_one.device), width * width)
    first_pair = flat.min(dim=1).values  # (n,), S² when none
    has_pair = (first_pair < width * width) & (first_one == width)
    i, j = first_pair // width, first_pair % width
    paired = (slots[None, :] == i[:, None]) | (slots[None, :] == j[:, None])
    return chosen | (paired & has_pair[:, None])


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
