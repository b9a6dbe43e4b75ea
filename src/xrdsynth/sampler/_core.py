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
    "Composition",
    "DeviceTables",
    "build_device_tables",
    "certify",
    "draw_composition",
    "draw_lattices",
    "expand_atoms",
    "place_sites",
    "smallest_spacing",
]

MAX_SITES = 24  # occupied Wyckoff sites per crystal (asymmetric unit); amcsd-dev's 95th percentile is ~20
# Sane cell shapes: angles of free cells, and length ratios, stay inside these bounds.
ANGLE_RANGE = {"triclinic": (60.0, 120.0), "monoclinic": (90.0, 125.0)}
MAX_LENGTH_RATIO = 5.0
# Smallest accepted 1 - cos²α - cos²β - cos²γ + 2 cosα cosβ cosγ = (V / abc)²: rejects very flat cells.
MIN_CELL_FLATNESS = 0.1
SHAPE_REJECTION_ROUNDS = 10
EXPANSION = 1.05  # length factor of one cell expansion when a site finds no place (volume +16%)
MAX_EXPANSIONS = 6  # at most (1.05^6)^3 = 2.4 times the drawn volume
PACKING_SIGMAS = 2.5  # packing fractions are drawn from the fitted log-normal truncated at ± this many sigma


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
# Lattice


def draw_lattices(
    t: DeviceTables, group: torch.Tensor, volume: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """(n, 3, 3) lattices (rows a, b, c in Å, lower triangular) of the groups' lattice systems.

    The shape (length ratios, free angles) comes from the fitted Gaussian of the lattice system, redrawn
    while outside the sane bounds (``ANGLE_RANGE``, ``MAX_LENGTH_RATIO``, ``MIN_CELL_FLATNESS``); the scale
    gives the cell ``volume`` (n,) Å³. The system's constraints hold by construction: equal lengths are the
    same number, fixed angles use exact cosines (0 for 90°, -1/2 for 120°).
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
    """(n,) cell volumes in Å³: sum of atomic volumes divided by a packing fraction from the fitted
    log-normal, truncated at ``PACKING_SIGMAS``."""
    atoms = (c.multiplicity(t).to(dtype) * t.atomic_volume[c.number]).sum(dim=1)
    z = torch.randn(atoms.shape, dtype=dtype, device=atoms.device, generator=generator)
    z = z.clamp(-PACKING_SIGMAS, PACKING_SIGMAS)
    packing = torch.exp(t.packing_log_mean + t.packing_log_std * z)
    return atoms / packing


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


# The corners {0, 1}^3 of the cell around a rounded difference, the zero shift first.
_CORNERS = torch.tensor(
    [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]],
    dtype=torch.float64,
)


def _squared_lengths(frac: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """Squared Cartesian lengths (p, ...) in Å² of fractional vectors (p, ..., 3) in lattices (p, 3, 3).

    A batched matrix product and a product with a vector of ones: reducing a last dimension of size 3
    with ``sum`` is several times slower in torch on the CPU.
    """
    p = frac.shape[0]
    cart = torch.bmm(frac.reshape(p, -1, 3), lattice)
    ones = torch.ones(3, dtype=frac.dtype, device=frac.device)
    return (cart.square() @ ones).reshape(frac.shape[:-1])


def _nearest_sq_rounded(delta: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """Squared length in Å² (p, K, W) of fractional differences (p, K, W, 3) after rounding to the
    nearest lattice translation; ``lattice`` (p, 3, 3).

    Exact for every vector shorter than half the smallest interplanar spacing h of the cell: the nearest
    image v has fractional coordinates |f_k| <= |v| / h_k < 1/2, which are the rounded ones. So a distance
    compared with a threshold below h / 2 is decided correctly.
    """
    delta = delta - torch.round(delta)
    return _squared_lengths(delta, lattice)


def _nearest_sq_corners(delta: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """Like :func:`_nearest_sq_rounded`, but the minimum over the 8 corners of the cell around the rounded
    difference.

    Exact for every vector shorter than the smallest interplanar spacing h: with rounded coordinates
    |d_k| <= 1/2 and the nearest image d + n with |d_k + n_k| <= |v| / h_k < 1, each n_k is 0 or
    -sign(d_k).
    """
    delta = delta - torch.round(delta)
    sign = torch.where(delta >= 0, -1.0, 1.0).to(delta.dtype)
    corners = _CORNERS.to(device=delta.device, dtype=delta.dtype)
    shifted = delta[..., None, :] + sign[..., None, :] * corners  # (p, K, W, 8, 3)
    return _squared_lengths(shifted, lattice).min(dim=-1).values


def smallest_spacing(lattice: torch.Tensor) -> torch.Tensor:
    """(n,) smallest interplanar spacing in Å (volume over the largest face area) of lattices (n, 3, 3)."""
    a, b, c = lattice.unbind(dim=1)
    volume = torch.linalg.det(lattice).abs()
    faces = torch.stack(
        [
            torch.linalg.cross(b, c).norm(dim=-1),
            torch.linalg.cross(c, a).norm(dim=-1),
            torch.linalg.cross(a, b).norm(dim=-1),
        ],
        dim=1,
    )
    return volume / faces.max(dim=1).values


def candidate_schedule(attempts: int) -> list[int]:
    """Candidates per round for one site: 1, 4, 16, ... summing to ``attempts``. Most sites pass with the
    first; the few crowded ones get several candidates at once instead of many small rounds."""
    rounds, left, k = [], attempts, 1
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
    min_distance_scale: float,
    attempts: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, int]:
    """Draw the free coordinates site by site so that no two atoms come closer than the minimum distance.

    For site s of every crystal at once, candidate free parameters (uniform in [0, 1)) are drawn, each
    candidate's orbit is built, and the first candidate whose first atom keeps ``min_distance_scale`` x
    (r_i + r_j) from every atom of sites 0..s-1 and from the other atoms of its own orbit is kept. By
    symmetry the first atom stands for the whole orbit: the operations of the group map the placed atoms
    (whole orbits) onto themselves. Crystals without a passing candidate try again with more candidates
    (:func:`candidate_schedule`, ``attempts`` in all; one for a site without free parameters). Where that
    fails too, the cell is expanded uniformly by ``EXPANSION`` in length and the site tried again, up to
    ``MAX_EXPANSIONS`` times: expansion keeps every earlier site valid (all distances grow) and is what a
    crowded draw of the packing fraction needs. With ``min_distance_scale`` 0 the first candidate is kept.

    Distances are nearest-image distances, exact below the cell's smallest interplanar spacing h (see
    :func:`_nearest_sq_rounded` and :func:`_nearest_sq_corners`); a cell is expanded until h exceeds its
    largest threshold, so that an atom's own lattice translations are never too close.

    Returns:
        xyz: (n, N, 3) fractional coordinates in [0, 1) of every atom slot (0 for padding and failures).
        lattice: (n, 3, 3) the lattices, expanded where needed.
        placed: (n,) bool, False where some site found no place (the crystal needs a new geometry).
        draws: number of candidate draws (crystal x site x candidate), for the redraw statistics.
        expansions: number of cell expansions made.
    """
    n = c.group.shape[0]
    dtype, device = lattice.dtype, lattice.device
    xyz = torch.zeros((n, atoms.mask.shape[1], 3), dtype=dtype, device=device)
    radius_site = t.radius[c.number]  # (n, S)
    radius_atom = radius_site.gather(1, atoms.site)  # (n, N)
    largest = min_distance_scale * 2.0 * (radius_site * c.valid).max(dim=1).values
    # Expand thin cells up front until the smallest spacing exceeds the largest threshold (by a margin).
    thin = smallest_spacing(lattice) <= largest
    factor = torch.where(thin, 1.02 * largest / smallest_spacing(lattice), torch.ones_like(largest))
    lattice = lattice * factor[:, None, None]
    placed = torch.ones(n, dtype=torch.bool, device=device)
    draws = expansions = 0
    schedule = candidate_schedule(attempts)
    slots = torch.arange(1, MAX_SITES + 1, device=device)
    last_site = int((c.valid * slots).max()) if n else 0
    for s in range(last_site):
        rows = torch.nonzero(c.valid[:, s] & placed).squeeze(1)
        for expansion in range(MAX_EXPANSIONS + 1):
            if rows.numel() == 0:
                break
            if expansion:
                lattice[rows] *= EXPANSION
                expansions += rows.numel()
            rows, used = _place_site(
                t,
                c,
                atoms,
                s,
                rows,
                xyz,
                lattice,
                radius_site,
                radius_atom,
                largest,
                min_distance_scale,
                schedule,
                generator,
            )
            draws += used
        placed[rows] = False
    return xyz, lattice, placed, draws, expansions


def _place_site(
    t: DeviceTables,
    c: Composition,
    atoms: AtomMap,
    s: int,
    rows: torch.Tensor,
    xyz: torch.Tensor,
    lattice: torch.Tensor,
    radius_site: torch.Tensor,
    radius_atom: torch.Tensor,
    largest: torch.Tensor,
    min_distance_scale: float,
    schedule: list[int],
    generator: torch.Generator,
) -> tuple[torch.Tensor, int]:
    """Place site ``s`` of crystals ``rows`` (writes ``xyz`` in place); returns the rows that found no
    candidate and the number of candidates drawn."""
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
    r = radius_site[rows, s]
    limit_previous = (min_distance_scale * (radius_atom[rows, :w] + r[:, None])) ** 2
    # Slots beyond a crystal's own earlier atoms get a negative limit, which every distance passes.
    limit_previous = torch.where(
        torch.arange(w, device=device)[None, :] < start[:, None], limit_previous, -1.0
    )
    limit_own = torch.where(in_orbit[:, 1:], ((min_distance_scale * 2.0) * r[:, None]) ** 2, -1.0)
    cell = lattice[rows]
    # Rounding decides distances below h/2 (h the smallest spacing); above, the corners are searched.
    small = largest[rows] >= 0.5 * smallest_spacing(cell)
    index = torch.arange(rows.numel(), device=device)  # rows still looking, as positions in the above
    used = 0
    for k in [1] if all_fixed else schedule:
        full = index.numel() == rows.numel()

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
        cell_q, small_q = pick(cell), pick(small)
        d2_previous = _nearest_sq_rounded(delta_previous, cell_q)
        d2_own = _nearest_sq_rounded(delta_own, cell_q)
        if bool(small_q.any()):
            i = torch.nonzero(small_q).squeeze(1)
            d2_previous[i] = _nearest_sq_corners(delta_previous[i], cell_q[i])
            d2_own[i] = _nearest_sq_corners(delta_own[i], cell_q[i])
        ok = (d2_previous >= pick(limit_previous)[:, None]).all(dim=2)
        ok &= (d2_own >= pick(limit_own)[:, None]).all(dim=2)  # (q, k)
        used += q * k
        found = ok.any(dim=1)
        done = torch.nonzero(found).squeeze(1)
        if done.numel():
            choice = torch.argmax(ok[done].to(torch.int8), dim=1)
            chosen = orbit[done, choice]  # (d, m, 3)
            keep = in_orbit[index[done]]
            target = start[index[done]][:, None] + orbit_slot[None, :]
            xyz[rows[index[done]][:, None].expand(-1, m)[keep], target[keep]] = chosen[keep]
        index = index[~found]
        if index.numel() == 0:
            break
    return rows[index], used
