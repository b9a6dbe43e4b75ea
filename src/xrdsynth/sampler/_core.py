"""The sampling algorithm as functions of explicit tensors: composition, certificate, lattice, placement.

Everything is batched over crystals (rows). Python loops run over Wyckoff slots, lattice systems, placement
attempts and redraw rounds, never over crystals or atoms. All randomness comes from the ``generator``
argument, on the tables' device.

Shapes: n crystals, E = ``MAX_ELEMENTS`` element slots, S = ``MAX_SITES`` Wyckoff-site slots, P = 27
position slots per group, N atom slots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
import torch

from .._math import wrap_fractional
from ..symmetry import CRYSTAL_SYSTEMS, LATTICE_SYSTEMS, crystal_system, lattice_system
from ._probabilities import (
    element_probabilities,
    element_set_table,
    element_volume_table,
    min_distance_table,
    num_elements_probabilities,
    sites_per_element_probabilities,
    volume_residual_table,
    wyckoff_probabilities_by_class,
)
from ._relax import _CORNERS, Sites, atom_jacobians, clearance, nearest_images, relax, smallest_spacing
from ._statistics import ANIONS, LATTICE_VARIABLES, MAX_ELEMENTS, SamplerStatistics
from ._tables import MAX_POSITIONS, WyckoffTables

__all__ = [
    "MAX_SITES",
    "Composition",
    "DeviceTables",
    "build_device_tables",
    "certificate_sites",
    "certify",
    "draw_composition",
    "draw_lattices",
    "draw_volumes",
    "expand_atoms",
    "place_sites",
    "shortest_centring",
    "smallest_spacing",
]

MAX_SITES = 24  # occupied Wyckoff sites per crystal (asymmetric unit); amcsd-dev's 95th percentile is ~20
# Sane cell shapes: angles of free cells, and length ratios, stay inside these bounds.
ANGLE_RANGE = {"triclinic": (60.0, 120.0), "monoclinic": (90.0, 125.0)}
MAX_LENGTH_RATIO = 5.0
# Smallest accepted 1 - cos²α - cos²β - cos²γ + 2 cosα cosβ cosγ = (V / abc)²: rejects very flat cells.
MIN_CELL_FLATNESS = 0.1
SHAPE_REJECTION_ROUNDS = 10
FIRST_CANDIDATES = 4  # candidates in the first round of a site (the best one that clears is kept)
EXPANSION_MARGIN = 1.001  # a cell that must grow grows to 1.001 x what the closest pair needs
MAX_EXPANSION = 1.3  # a cell may grow to at most 1.3 x its drawn length (2.2 x the volume), else redrawn
PLACEMENT_FRACTION = 0.8  # sites are first placed at this fraction of the minimum distances ...
RELAX_ROUNDS = 2  # ... then pushed apart (_relax.relax) in up to this many rounds (new neighbour lists)
RELAX_ITERATIONS = 15  # of at most this many steps each


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
        element_set_probability: (7, K) float64 per crystal system (index into ``CRYSTAL_SYSTEMS``).
        crystal_system: (230,) int64 index into ``CRYSTAL_SYSTEMS``.
        element_probability: (230, 119) float64; num_elements_probability: (E,) float64;
        sites_probability: (119, K) float64 sites per element.
        element_volume: (119,) float Å³ each atom of element Z brings to the cell.
        volume_residual: (Q,) float quantiles of the log volume residual at evenly spaced probability
            levels (``VOLUME_QUANTILE_LEVELS``).
        min_distance: (119, 119) float Å minimum distance of each pair of atomic numbers (0 for padding).
        min_cell_edge: shortest allowed edge of the conventional cell in Å.
        lattice_system: (230,) int64 index into ``LATTICE_SYSTEMS``.
        shape_mean, shape_chol: per lattice system, (k,) and (k, k) float64 Gaussian of the shape variables.
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
        centring=f(centring),
        faithful=b(faithful),
        pair_faithful=b(tables.pair_faithful),
        witness_mode=i(witness_mode),
        witness_first=b(witness_first),
        position_probability=p(wyckoff_probabilities_by_class(stats, tables)),
        is_anion=b(np.isin(np.arange(119), sorted(ANIONS))),
        element_sets=i(sets),
        element_set_probability=p(set_probability),
        crystal_system=i(np.array([CRYSTAL_SYSTEMS.index(crystal_system(g)) for g in range(1, 231)])),
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
    """One draw per row of (m, k) non-negative weights (rows with positive sum): (m,) int64."""
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(1)


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
        # A real element set of the crystal system, its elements in random slot order (padding last).
        probability = t.element_set_probability[t.crystal_system[g]]  # (n, K)
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
# Lattice


def draw_lattices(
    t: DeviceTables, group: torch.Tensor, volume: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """(n, 3, 3) lattices (rows a, b, c in Å, lower triangular) of the groups' lattice systems.

    The shape (length ratios, free angles) comes from the fitted Gaussian of the lattice system, redrawn
    while outside the sane bounds (``ANGLE_RANGE``, ``MAX_LENGTH_RATIO``, ``MIN_CELL_FLATNESS``); the scale
    gives the cell ``volume`` (n,) Å³, or more where the shortest edge would be below ``t.min_cell_edge``
    (the cell is then scaled up until it is not). The system's constraints hold by construction: equal
    lengths are the same number, fixed angles use exact cosines (0 for 90°, -1/2 for 120°).
    """
    n = group.shape[0]
    dtype, device = volume.dtype, volume.device
    params = torch.zeros((n, 6), dtype=torch.float64, device=device)  # b/a, c/a, cos α, cos β, cos γ, sin γ
    params[:, 0:2] = 1.0
    params[:, 5] = 1.0
    system = t.lattice_system[group - 1]
    for k, name in enumerate(LATTICE_SYSTEMS):
        rows = torch.nonzero(system == k).squeeze(1)
        if rows.numel() == 0:
            continue
        variables = LATTICE_VARIABLES[name]
        values = _draw_shape(t.shape_mean[k], t.shape_chol[k], name, variables, rows.numel(), generator)
        shape = dict(zip(variables, values.unbind(dim=1), strict=True))
        b_over_a = shape["log_b_over_a"].exp() if "log_b_over_a" in shape else None
        c_over_a = shape["log_c_over_a"].exp() if "log_c_over_a" in shape else None
        p = params[rows]
        if b_over_a is not None:
            p[:, 0] = b_over_a
        if c_over_a is not None:
            p[:, 1] = c_over_a
        if name == "triclinic":
            for j, angle in ((2, "alpha"), (3, "beta"), (4, "gamma")):
                p[:, j] = torch.cos(torch.deg2rad(shape[angle]))
            p[:, 5] = torch.sin(torch.deg2rad(shape["gamma"]))
        elif name == "monoclinic":
            p[:, 3] = torch.cos(torch.deg2rad(shape["beta"]))
        elif name in ("hexagonal", "rhombohedral"):
            p[:, 4] = -0.5
            p[:, 5] = math.sqrt(3.0) / 2.0
        params[rows] = p
    b, c, ca, cb, cg, sg = params.unbind(dim=1)
    one = torch.ones_like(b)
    zero = torch.zeros_like(b)
    cy = c * (ca - cb * cg) / sg
    cz = torch.sqrt((c * c - (c * cb) ** 2 - cy * cy).clamp(min=0.0))
    unit = torch.stack(
        [
            torch.stack([one, zero, zero], 1),
            torch.stack([b * cg, b * sg, zero], 1),
            torch.stack([c * cb, cy, cz], 1),
        ],
        dim=1,
    )
    unit_volume = one * b * sg * cz  # a = 1
    scale = (volume.to(torch.float64) / unit_volume) ** (1.0 / 3.0)
    shortest = torch.minimum(torch.minimum(one, b), c)  # edge lengths of the unit cell are 1, b, c
    scale = torch.maximum(scale, t.min_cell_edge / shortest)
    return (unit * scale[:, None, None]).to(dtype)


def _draw_shape(
    mean: torch.Tensor,
    chol: torch.Tensor,
    system: str,
    variables: tuple[str, ...],
    n: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """(n, k) float64 shape variables from the Gaussian, redrawn where outside the sane bounds."""
    k = len(variables)
    if k == 0:
        return torch.zeros((n, 0), dtype=torch.float64, device=mean.device)
    draw = torch.randn((n, k), dtype=torch.float64, device=mean.device, generator=generator) @ chol.T + mean
    for _ in range(SHAPE_REJECTION_ROUNDS):
        bad = ~_shape_ok(draw, system, variables)
        if not bool(bad.any()):
            return draw
        fresh = (
            torch.randn((n, k), dtype=torch.float64, device=mean.device, generator=generator) @ chol.T + mean
        )
        draw = torch.where(bad[:, None], fresh, draw)
    # The rare rows still outside the bounds after all rounds take the (clamped) mean shape.
    bad = ~_shape_ok(draw, system, variables)
    return torch.where(bad[:, None], _clamped_mean(mean, system, variables).expand(n, -1), draw)


def _clamped_mean(mean: torch.Tensor, system: str, variables: tuple[str, ...]) -> torch.Tensor:
    low, high = ANGLE_RANGE.get(system, (0.0, 180.0))
    out = mean.clone()
    for j, name in enumerate(variables):
        if name.startswith("log_"):
            out[j] = out[j].clamp(-math.log(MAX_LENGTH_RATIO), math.log(MAX_LENGTH_RATIO))
        else:
            out[j] = out[j].clamp(low, high)
    if system == "triclinic" and not bool(_shape_ok(out[None], system, variables)[0]):
        out[2:] = torch.tensor([90.0, 90.0, 90.0], dtype=out.dtype, device=out.device)
    return out


def _shape_ok(values: torch.Tensor, system: str, variables: tuple[str, ...]) -> torch.Tensor:
    ok = torch.ones(values.shape[0], dtype=torch.bool, device=values.device)
    low, high = ANGLE_RANGE.get(system, (0.0, 180.0))
    limit = math.log(MAX_LENGTH_RATIO)
    for j, name in enumerate(variables):
        v = values[:, j]
        ok &= (v.abs() <= limit) if name.startswith("log_") else ((v >= low) & (v <= high))
    if system == "triclinic":
        ca, cb, cg = (torch.cos(torch.deg2rad(values[:, j])) for j in (2, 3, 4))
        ok &= 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg >= MIN_CELL_FLATNESS
    # The third length relative to the second: b/c is bounded too.
    if "log_b_over_a" in variables and "log_c_over_a" in variables:
        ok &= (values[:, 1] - values[:, 0]).abs() <= limit
    return ok


def draw_volumes(
    t: DeviceTables, c: Composition, generator: torch.Generator, dtype: torch.dtype
) -> torch.Tensor:
    """(n,) cell volumes in Å³: the sum over atoms of their element's volume, times exp(residual).

    The residual is drawn from the fitted distribution by inverse transform: a uniform probability
    between the first and last tabulated level, linearly interpolated in the residual's quantile table.
    """
    atoms = (c.multiplicity(t).to(dtype) * t.element_volume[c.number]).sum(dim=1)
    q = t.volume_residual.shape[0]
    u = torch.rand(atoms.shape, dtype=torch.float64, device=atoms.device, generator=generator)
    position = u * (q - 1)  # (level - low) / step, with the levels evenly spaced from low to high
    index = position.floor().to(torch.int64).clamp(max=q - 2)
    fraction = (position - index).to(dtype)
    residual = torch.lerp(t.volume_residual[index], t.volume_residual[index + 1], fraction)
    return atoms * torch.exp(residual)


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




def shortest_centring(t: DeviceTables, group: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """(n,) length in Å of the shortest centring translation of each crystal's group (inf for primitive
    groups): the shortest vector of t_c + Z³ over the group's centring vectors t_c, searched over the
    cell corners around it."""
    vectors = t.centring[group - 1]  # (n, 3, 3), rows beyond the group's centring vectors are nan
    corners = _CORNERS.to(device=lattice.device, dtype=lattice.dtype) - 1.0  # offsets {-1, 0}^3
    candidates = vectors[:, :, None, :] + corners  # (n, 3, 8, 3)
    cart = torch.bmm(candidates.reshape(len(group), -1, 3), lattice)
    lengths = cart.norm(dim=-1)  # nan rows stay nan
    return torch.nan_to_num(lengths, nan=float("inf")).min(dim=1).values


def candidate_schedule(attempts: int, first: int) -> list[int]:
    """Candidates per round for one site: ``first``, then 4 times as many, ... summing to ``attempts``
    (at least one round). Most sites are placed from the first round; the crowded ones get many
    candidates at once instead of many small rounds."""
    rounds, left, k = [], max(attempts, 1), max(first, 1)
    while left > 0:
        rounds.append(min(k, left))
        left -= rounds[-1]
        k *= 4
    return rounds


def place_sites(
    t: DeviceTables,
    c: Composition,
    atoms: AtomMap,
    lattice: torch.Tensor,
    min_distance: torch.Tensor,
    target_distance: torch.Tensor,
    attempts: int,
    generator: torch.Generator,
    max_expansion: float = MAX_EXPANSION,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, torch.Tensor]:
    """Draw the free coordinates so that no two atoms come closer than their minimum distance.

    Three steps, each vectorised over the crystals:

    1. *Placement*, site by site in slot order (fixed and line positions first, see
       :meth:`Composition.by_freedom`), at ``PLACEMENT_FRACTION`` of the minimum distances. For site s of
       every crystal at once, candidate free parameters (uniform in [0, 1)) are drawn and each
       candidate's orbit is built. A candidate's *clearance* is the smallest ratio, over the atoms of
       sites 0..s-1 and the other atoms of its own orbit, of distance to the pair's threshold; by
       symmetry the orbit's first atom stands for the whole orbit. Of the candidates with clearance >= 1,
       the one with the largest clearance is kept (best-candidate placement: atoms spread out instead of
       clumping). Where no candidate of a round clears, the next round draws more
       (:func:`candidate_schedule`, ``attempts`` in all; one for a site without free parameters), and
       where none of them clears, the cell is expanded uniformly just enough for the best candidate
       (``EXPANSION_MARGIN`` above); expansion keeps every earlier site valid.
    2. *Pushing apart* (:func:`~xrdsynth.sampler._relax.relax`): the atoms move along their sites' free
       parameters until every pair reaches its ``target_distance`` (the fitted minimum distance), in up
       to ``RELAX_ROUNDS`` rounds of ``RELAX_ITERATIONS`` steps, the later rounds only for crystals that
       still have a pair closer than its ``min_distance``.
    3. *Check*: every pair is measured exactly (:func:`~xrdsynth.sampler._relax.clearance`); a crystal
       with a pair still closer than its ``min_distance`` is expanded uniformly just enough.

    A crystal whose cell would grow beyond ``max_expansion`` in length over the drawn one is given up
    (``placed`` False: it needs a new geometry). Cells are expanded up front until the smallest
    interplanar spacing h exceeds the largest threshold and the shortest centring translation the largest
    threshold of an element with itself, so that an atom's own translations are never too close and a
    distance below its threshold is always measured exactly. Where every minimum distance is 0 the first
    candidate is kept and nothing moves.

    Args:
        t: device tables; c: the compositions; atoms: their atom slots.
        lattice: (n, 3, 3) the drawn lattices, Å.
        min_distance: (119, 119) Å the distances no pair may come below (hard).
        target_distance: (119, 119) Å the distances pairs are pushed toward (>= ``min_distance``).
        attempts: candidates per site in the placement.
        generator: random generator.
        max_expansion: the largest growth in length over the drawn cell (``MAX_EXPANSION`` by default).

    Returns:
        xyz: (n, N, 3) fractional coordinates in [0, 1) of every atom slot (0 for padding and failures).
        lattice: (n, 3, 3) the lattices, expanded where needed.
        placed: (n,) bool, False where some site found no place (the crystal needs a new geometry).
        draws: number of candidate draws (crystal x site x candidate), for the redraw statistics.
        expansions: (n,) int64 cell expansions made per crystal.
    """
    n = c.group.shape[0]
    dtype, device = lattice.dtype, lattice.device
    xyz = torch.zeros((n, atoms.mask.shape[1], 3), dtype=dtype, device=device)
    table = PLACEMENT_FRACTION * min_distance
    number_atom = c.number.gather(1, atoms.site) * atoms.mask  # (n, N) atomic number of each atom slot
    pairs = min_distance[c.number[:, :, None], c.number[:, None, :]]  # (n, S, S)
    pairs = pairs * (c.valid[:, :, None] & c.valid[:, None, :])
    largest = pairs.flatten(1).max(dim=1).values  # (n,) the crystal's largest pair threshold
    # Expand thin cells up front until the smallest spacing exceeds the largest threshold, and the
    # shortest centring translation (which maps every atom onto an atom of its element, wherever it is)
    # the largest threshold of an element with itself (by a margin).
    same = torch.diagonal(pairs, dim1=1, dim2=2).max(dim=1).values  # (n,)
    centring = shortest_centring(t, c.group, lattice)
    factor = torch.maximum(largest / smallest_spacing(lattice), same / centring)
    factor = torch.where(factor >= 1.0, 1.02 * factor, torch.ones_like(factor))
    lattice = lattice * factor.to(dtype)[:, None, None]
    growth = torch.ones(n, dtype=torch.float64, device=device)  # expansion in length since the draw
    placed = torch.ones(n, dtype=torch.bool, device=device)
    draws = 0
    expansions = torch.zeros(n, dtype=torch.int64, device=device)
    schedule = candidate_schedule(attempts, FIRST_CANDIDATES)
    slots = torch.arange(1, MAX_SITES + 1, device=device)
    last_site = int((c.valid * slots).max()) if n else 0
    for s in range(last_site):
        rows = torch.nonzero(c.valid[:, s] & placed).squeeze(1)
        if rows.numel() == 0:
            continue
        stretch, used = _place_site(
            t, c, atoms, s, rows, xyz, lattice, table, number_atom, schedule, generator
        )
        draws += used
        grow = stretch > 1.0
        if bool(grow.any()):
            too_much = grow & (growth[rows] * stretch > max_expansion)
            placed[rows[too_much]] = False
            ok = grow & ~too_much
            lattice[rows[ok]] *= stretch[ok].to(dtype)[:, None, None]
            growth[rows[ok]] *= stretch[ok]
            expansions[rows[ok]] += 1
    rows = torch.nonzero(placed).squeeze(1)
    if rows.numel() == 0:
        return xyz, lattice, placed, draws, expansions
    # Push the atoms apart to the full minimum distances, then check every pair exactly.
    site = atoms.site[rows]
    group = (c.group[rows] - 1)[:, None].expand_as(site)
    position = c.position[rows].gather(1, site)
    mask = atoms.mask[rows]
    slot = torch.arange(site.shape[1], device=device)[None, :]
    op = t.op_start[group, position] + slot - atoms.start[rows].gather(1, site)
    op = torch.where(mask, op, torch.zeros_like(op))
    frozen = certificate_sites(t, c.take(rows))
    sites = Sites(
        mask=mask,
        numbers=number_atom[rows],
        site=site,
        first=atoms.start[rows],
        valid=c.valid[rows],
        # The certifying sites stay where they were drawn (W = 0: relax never moves them).
        jacobian=atom_jacobians(t.rotations[op], t.basis[group, position], mask & ~frozen.gather(1, site)),
        frozen=frozen,
    )
    x, cell = xyz[rows], lattice[rows]
    if RELAX_ROUNDS:
        x = relax(x, cell, sites, target_distance, RELAX_ITERATIONS)
    ratio = clearance(x, cell, sites, min_distance)
    for _ in range(RELAX_ROUNDS - 1):
        tight = torch.nonzero(ratio < 1.0).squeeze(1)
        if tight.numel() == 0:
            break
        part = sites.take(tight)
        x[tight] = relax(x[tight], cell[tight], part, target_distance, RELAX_ITERATIONS)
        ratio[tight] = clearance(x[tight], cell[tight], part, min_distance)
    # What the pushes did not resolve, a uniform expansion does (every distance grows by its factor).
    stretch = torch.where(ratio < 1.0, EXPANSION_MARGIN / ratio.clamp(min=1e-9), torch.ones_like(ratio))
    stretch = stretch.to(torch.float64)
    too_much = growth[rows] * stretch > max_expansion
    placed[rows[too_much]] = False
    grow = (stretch > 1.0) & ~too_much
    xyz[rows] = x
    lattice[rows[grow]] = cell[grow] * stretch[grow].to(dtype)[:, None, None]
    expansions[rows[grow]] += 1
    return xyz, lattice, placed, draws, expansions


def _place_site(
    t: DeviceTables,
    c: Composition,
    atoms: AtomMap,
    s: int,
    rows: torch.Tensor,
    xyz: torch.Tensor,
    lattice: torch.Tensor,
    table: torch.Tensor,
    number_atom: torch.Tensor,
    schedule: list[int],
    generator: torch.Generator,
) -> tuple[torch.Tensor, int]:
    """Place site ``s`` of crystals ``rows`` (writes ``xyz`` in place).

    Returns:
        stretch: (p,) float64 length factor by which each crystal's cell must grow for its site to clear
            (1 where a candidate cleared; inf where the best candidate has an atom on top of another).
        used: the number of candidates drawn.
    """
    device, dtype = xyz.device, xyz.dtype
    # Everything about site s of these crystals that does not depend on the candidate.
    gs, position = c.group[rows] - 1, c.position[rows, s]
    all_fixed = bool((t.dof[gs, position] == 0).all())
    multiplicity = t.multiplicity[gs, position]
    m = int(multiplicity.max())
    orbit_slot = torch.arange(m, device=device)
    in_orbit = orbit_slot[None, :] < multiplicity[:, None]  # (p, m)
    op = t.op_start[gs, position][:, None] + torch.where(in_orbit, orbit_slot, 0)
    rotation, translation = t.rotations[op], t.translations[op]  # (p, m, 3, 3), (p, m, 3)
    x0, basis = t.representative[gs, position], t.basis[gs, position]
    start = atoms.start[rows, s]
    w = int(start.max())
    previous = xyz[rows, :w]  # (p, w, 3) atoms of sites 0..s-1
    z = c.number[rows, s]
    # Inverse squared thresholds; 0 for slots that do not count (padding, atoms of later sites, pairs
    # without a minimum), whose ratio d² / threshold² is then taken as infinite, never the smallest.
    earlier = torch.arange(w, device=device)[None, :] < start[:, None]
    threshold_previous = table[number_atom[rows, :w], z[:, None]]
    inverse_previous = torch.where(earlier & (threshold_previous > 0), threshold_previous**-2, 0.0)
    threshold_own = table[z, z][:, None].expand(-1, m - 1)
    inverse_own = torch.where(in_orbit[:, 1:] & (threshold_own > 0), threshold_own**-2, 0.0)
    inverse = torch.cat([inverse_previous, inverse_own], dim=1)  # (p, w + m - 1)
    cell = lattice[rows]
    p = rows.numel()
    best_clearance = torch.full((p,), -1.0, dtype=dtype, device=device)  # squared, of the best so far
    best_orbit = torch.zeros((p, m, 3), dtype=dtype, device=device)
    index = torch.arange(p, device=device)  # rows still looking, as positions in the above
    used = 0
    for k in [1] if all_fixed else schedule:
        full = index.numel() == p

        def pick(x: torch.Tensor, full: bool = full, index: torch.Tensor = index) -> torch.Tensor:
            return x if full else x[index]

        q = index.numel()
        u = torch.rand((q, k, 3), dtype=dtype, device=device, generator=generator)
        first = pick(x0)[:, None, :] + torch.bmm(u, pick(basis))
        orbit = wrap_fractional(
            torch.einsum("qmij,qkj->qkmi", pick(rotation), first) + pick(translation)[:, None]
        )  # (q, k, m, 3); member 0 is the identity image, the first atom itself
        here = orbit[:, :, :1, :]
        delta_previous = pick(previous)[:, None] - here  # (q, k, w, 3)
        delta_own = orbit[:, :, 1:, :] - here  # (q, k, m - 1, 3)
        cell_q = pick(cell)
        d2_previous = nearest_images(delta_previous, cell_q)[0]
        d2_own = nearest_images(delta_own, cell_q)[0]
        # Squared clearance of each candidate: the smallest d² / threshold² (inf when nothing counts).
        inverse_q = pick(inverse)[:, None]
        ratio = torch.cat([d2_previous, d2_own], dim=2) * inverse_q
        ratio = torch.where(inverse_q > 0, ratio, math.inf)
        clearance = (
            ratio.amin(dim=2) if ratio.shape[2] else torch.full((q, k), math.inf, dtype=dtype, device=device)
        )
        used += q * k
        value, choice = clearance.max(dim=1)
        better = value > best_clearance[index]
        best_clearance[index] = torch.where(better, value, best_clearance[index])
        best_orbit[index] = torch.where(
            better[:, None, None], orbit[torch.arange(q, device=device), choice], best_orbit[index]
        )
        index = index[best_clearance[index] < 1.0]
        if index.numel() == 0:
            break
    keep = in_orbit
    target = start[:, None] + orbit_slot[None, :]
    xyz[rows[:, None].expand(-1, m)[keep], target[keep]] = best_orbit[keep]
    stretch = torch.where(
        best_clearance >= 1.0,
        torch.ones_like(best_clearance),
        EXPANSION_MARGIN / best_clearance.clamp(min=0.0).sqrt(),
    )
    return stretch.to(torch.float64), used
