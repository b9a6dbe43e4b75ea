"""Reflections inside the limiting sphere, reduced by Laue symmetry, for a batch of crystals.

For crystal b with reciprocal basis a*, b*, c* (rows of ``inv(lattice).T``), reflection hkl has the
reciprocal-lattice vector g = h a* + k b* + l c*, ``|g|`` = 1/d. The reflections seen at wavelength lambda up
to 2theta_max are those with ``|g|`` <= 2 sin(theta_max) / lambda (the limiting sphere).

Intensities ``|F(h)|^2`` are invariant under the Laue group of the crystal (its point group plus the
inversion, acting on row vectors as h -> h R). Only one reflection per orbit is computed, the
lexicographically largest, and it carries the orbit size as its multiplicity. The Laue group is taken from the
space-group number in its default setting; because a crystal may be described in another setting (a CIF with
unique axis c, rhombohedral axes, ...), :func:`verified_laue_ids` checks ``|F(hR)| = |F(h)|`` on a few test
reflections and falls back to the inversion alone where the check fails. The reduction therefore never merges
reflections that differ.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from ..symmetry import SpaceGroup
from ._compile import fused as _fused

__all__ = [
    "CENTRINGS",
    "LaueTables",
    "Reflections",
    "enumerate_reflections",
    "inverse_d_squared",
    "laue_tables",
    "verified_laue_ids",
]

# Base of the lexicographic key h*K^2 + k*K + l; |h|, |k|, |l| must stay below K/2. Keys stay below 2^31,
# exact in float64 (used for the matmul with the rotations).
_KEY_BASE = 1024
# Generic reflections used to verify a Laue group: all indices even (allowed by A, B, C, I and F centring)
# and -h + k + l divisible by 3 (allowed by R centring, obverse), none on an axis or a principal zone.
_TEST_HKL = ((2, 4, 10), (4, 2, 8), (6, 10, 2), (8, 2, 12))


def reciprocal_basis(lattice: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rows a*, b*, c* = inv(L)^T of lattices L with rows a, b, c (Å): a* = b x c / V, ...

    Cross products rather than a LAPACK inverse: for 3 x 3 matrices they are a few elementwise operations,
    and a batched LAPACK call costs ~15 µs, up to a millisecond when the BLAS threads have gone to sleep.
    """
    a, b, c = lattice.unbind(-2)
    bc, ca, ab = torch.linalg.cross(b, c), torch.linalg.cross(c, a), torch.linalg.cross(a, b)
    volume = (a * bc).sum(-1)
    return torch.stack([bc, ca, ab], dim=-2) / volume[..., None, None]


def reciprocal_metric(lattice: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) G* = (L L^T)^-1, the dot products of the reciprocal basis vectors (1/Å²)."""
    basis = reciprocal_basis(lattice)
    return (basis.unsqueeze(-2) * basis.unsqueeze(-3)).sum(-1)


def _products(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """left @ right for stacks of 3 x 3 matrices, as broadcast sums (no BLAS call for tiny matrices)."""
    return (left.unsqueeze(-1) * right.unsqueeze(-3)).sum(-2)


def inverse_d_squared(hkl: torch.Tensor, lattice: torch.Tensor, crystal: torch.Tensor) -> torch.Tensor:
    """1/d^2 = h G* h^T of reflections, G* = (L L^T)^-1 the reciprocal metric of their crystal.

    Args:
        hkl: (R, 3) Miller indices as floats.
        lattice: (B, 3, 3) Å, rows a, b, c (differentiable).
        crystal: (R,) int64 index of each reflection's crystal.

    Returns:
        (R,) 1/Å², in the dtype of ``hkl``.
    """
    metric = reciprocal_metric(lattice).to(hkl.dtype)
    # The six distinct components, gathered once per reflection (a per-reflection 3x3 product would be a
    # batched matmul of R tiny matrices, far slower).
    six = torch.stack(
        [
            metric[:, 0, 0],
            metric[:, 1, 1],
            metric[:, 2, 2],
            2 * metric[:, 0, 1],
            2 * metric[:, 0, 2],
            2 * metric[:, 1, 2],
        ],
        dim=1,
    )[crystal]
    h, k, l_ = hkl[:, 0], hkl[:, 1], hkl[:, 2]
    terms = torch.stack([h * h, k * k, l_ * l_, h * k, h * l_, k * l_], dim=1)
    return (terms * six).sum(1)


@dataclass(frozen=True)
class LaueTables:
    """Laue groups of the 230 space groups (default settings), deduplicated.

    Attributes:
        laue_id: (231,) int64, index into the tables for each space-group number (entry 0 unused).
        rotations: (L, 48, 3, 3) int64 rotations acting on row vectors (h -> h R), padded with the identity.
        count: (L,) int64 number of distinct rotations in each Laue group.
        triclinic: the id of the group {1, -1}.
        generators: (L, 3, 3, 3) int64 rotations that generate each group together with -1, padded with
            the identity (at most three are needed for any Laue group).
        flips: (L, 2) bool, whether diag(1, -1, 1) and diag(1, 1, -1) (k -> -k, l -> -l) are in the group.
    """

    laue_id: torch.Tensor
    rotations: torch.Tensor
    count: torch.Tensor
    triclinic: int
    generators: torch.Tensor
    flips: torch.Tensor


def _closure(generators: list[np.ndarray]) -> set[bytes]:
    """All products of the generators and -1 (a finite group of integer matrices)."""
    group = {np.eye(3, dtype=np.int64).tobytes(): np.eye(3, dtype=np.int64)}
    frontier = [np.eye(3, dtype=np.int64)]
    for g in [*generators, -np.eye(3, dtype=np.int64)]:
        group.setdefault(g.tobytes(), g)
        frontier.append(g)
    while frontier:
        a = frontier.pop()
        for b in list(group.values()):
            for product in (a @ b, b @ a):
                if product.tobytes() not in group:
                    group[product.tobytes()] = product
                    frontier.append(product)
    return set(group)


def _generators(rotations: np.ndarray) -> np.ndarray:
    """A few rotations that with -1 generate the group (greedy: add whatever the closure still misses)."""
    target = {r.tobytes() for r in rotations}
    chosen: list[np.ndarray] = []
    while _closure(chosen) != target:
        missing = next(r for r in rotations if r.tobytes() not in _closure(chosen))
        chosen.append(missing)
    padded = np.tile(np.eye(3, dtype=np.int64), (3, 1, 1))
    if chosen:
        padded[: len(chosen)] = np.stack(chosen)
    return padded


@functools.cache
def _laue_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray, np.ndarray]:
    sets: list[np.ndarray] = []
    keys: dict[bytes, int] = {}
    laue_id = np.zeros(231, dtype=np.int64)
    for number in range(1, 231):
        rotations = SpaceGroup(number).operations.rotations
        # Stored as they are: the operation x -> R x + t maps reflection h (a row vector) to h R, because
        # h.(R x + t) = (h R).x + h.t. (R^T would be the same set only for orthogonal R, not hexagonal ones.)
        both = np.concatenate([rotations, -rotations])
        unique = np.unique(both.reshape(len(both), 9), axis=0)
        key = unique.tobytes()
        if key not in keys:
            keys[key] = len(sets)
            sets.append(unique.reshape(-1, 3, 3))
        laue_id[number] = keys[key]
    padded = np.tile(np.eye(3, dtype=np.int64), (len(sets), 48, 1, 1))
    count = np.zeros(len(sets), dtype=np.int64)
    for i, rotations in enumerate(sets):
        padded[i, : len(rotations)] = rotations
        count[i] = len(rotations)
    generators = np.stack([_generators(rotations) for rotations in sets])
    flips = np.array(
        [
            [any(np.array_equal(r, np.diag(d)) for r in rotations) for d in ((1, -1, 1), (1, 1, -1))]
            for rotations in sets
        ]
    )
    return laue_id, padded, count, int(laue_id[1]), generators, flips


def laue_tables(device: torch.device | str = "cpu") -> LaueTables:
    """The Laue groups of all space groups as tensors on ``device``."""
    laue_id, rotations, count, triclinic, generators, flips = _laue_arrays()
    return LaueTables(
        torch.tensor(laue_id, device=device),
        torch.tensor(rotations, device=device),
        torch.tensor(count, device=device),
        triclinic,
        torch.tensor(generators, device=device),
        torch.tensor(flips, device=device),
    )


def verified_laue_ids(
    space_group: torch.Tensor,
    lattice: torch.Tensor,
    frac_coords: torch.Tensor,
    weights: torch.Tensor,
    tables: LaueTables,
    rtol: float = 1e-6,
) -> torch.Tensor:
    """Laue group of each crystal, checked against its cell and its atoms.

    A rotation R merges h and hR only if both the lattice metric (1/d^2 equal) and the atoms (``|F|`` equal)
    are invariant under it; a cell written in another setting (rhombohedral axes, gamma = 60 instead of 120,
    a tetragonal label on a cell with a != b, ...) fails the first test, a structure in another setting of
    its group the second.

    Args:
        space_group: (B,) int64 space-group numbers.
        lattice: (B, 3, 3) Å, rows a, b, c.
        frac_coords: (B, N, 3) fractional coordinates (padding anywhere).
        weights: (B, N) scattering weights (atomic number times occupancy; 0 for padding). Using Z instead of
            f(s) is enough: a rotation that is a symmetry leaves every sum of this form invariant.
        tables: from :func:`laue_tables` on the same device.
        rtol: allowed ``|F(hR)|^2 - |F(h)|^2`` relative to (sum_j w_j)^2.

    Returns:
        (B,) int64 ids into ``tables``: the space group's Laue group where its generators map the test
        reflections to reflections of equal intensity (then the whole group does, -1 always does by
        Friedel's law), else the triclinic group {1, -1}.
    """
    ids = tables.laue_id[space_group]
    generators = tables.generators[ids].to(torch.float64)  # (B, 3, 3, 3)
    test = torch.tensor(_TEST_HKL, dtype=torch.float64, device=frac_coords.device)  # (T, 3)
    b, t = len(ids), len(test)
    # |sum_j w_j exp(2 pi i h.x_j)|^2 at the test reflections h and their images h R, over a flat list of the
    # atoms (a padded batch is mostly padding): (h R).x = h.(R x), so the atoms are rotated instead.
    crystal, slot = torch.nonzero(weights != 0, as_tuple=True)
    frac = frac_coords.detach()[crystal, slot].to(torch.float64)  # (A, 3)
    w = weights.detach()[crystal, slot].to(torch.float64).view(-1, 1, 1)
    rotated = (generators[crystal] * frac.view(-1, 1, 1, 3)).sum(-1)  # (A, 3, 3): R x per generator
    phase = (2.0 * torch.pi) * (torch.cat([frac.unsqueeze(1), rotated], dim=1) @ test.T)  # (A, 4, T)
    terms = torch.cat([torch.cos(phase) * w, torch.sin(phase) * w], dim=1).view(len(frac), -1)
    sums = terms.new_zeros(b, terms.shape[1]).index_add_(0, crystal, terms).view(b, 2, 4, t)
    intensity = sums[:, 0].square() + sums[:, 1].square()  # (B, 4, T): h, then h R for each generator
    reference, imaged = intensity[:, 0], intensity[:, 1:].transpose(1, 2)  # (B, T), (B, T, 3)
    scale = weights.to(torch.float64).sum(-1).square().clamp_min(torch.finfo(torch.float64).tiny)
    close = (imaged - reference.unsqueeze(-1)).abs() <= rtol * scale.view(b, 1, 1)
    # Metric: R G* R^T = G* for every generator (h -> h R keeps 1/d^2 = h G* h^T).
    lat = lattice.detach().to(torch.float64)
    metric = reciprocal_metric(lat)  # (B, 3, 3)
    rotated = _products(_products(generators, metric.unsqueeze(1)), generators.transpose(-1, -2))
    scale_metric = metric.diagonal(dim1=1, dim2=2).amax(dim=1).view(b, 1, 1, 1)
    same_metric = ((rotated - metric.unsqueeze(1)).abs() <= rtol * scale_metric).all(dim=(1, 2, 3))
    ok = close.all(dim=(1, 2)) & same_metric
    return torch.where(ok, ids, torch.full_like(ids, tables.triclinic))


@dataclass(frozen=True)
class Reflections:
    """Symmetry-unique reflections of a batch, flattened and grouped by crystal.

    Attributes:
        crystal: (R,) int64 batch index of each reflection; each crystal's reflections are consecutive rows,
            the crystals in the order ``order``.
        hkl: (R, 3) int64 Miller indices (the lexicographically largest of the Laue orbit).
        multiplicity: (R,) int64 size of the Laue orbit.
        counts: (B,) int64 number of reflections of each crystal.
        laue: (B,) int64 the Laue group (id into the tables) each crystal's reflections were reduced by.
        order: (B,) int64 the crystals in the order of their rows (the enumeration goes by Laue group).
    """

    crystal: torch.Tensor
    hkl: torch.Tensor
    multiplicity: torch.Tensor
    counts: torch.Tensor
    laue: torch.Tensor
    order: torch.Tensor

    def first_rows(self) -> np.ndarray:
        """(B,) the row of each crystal's first reflection (a host array)."""
        order = self.order.cpu().numpy()
        counts = self.counts.cpu().numpy()[order]
        first = np.empty(len(order), dtype=np.int64)
        first[order] = np.cumsum(counts) - counts
        return first


def _ragged_arange(sizes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For sizes (n,), the owner index and the position 0..sizes[i]-1 of each of sum(sizes) items."""
    owner = torch.repeat_interleave(torch.arange(len(sizes), device=sizes.device), sizes)
    start = torch.cumsum(sizes, 0) - sizes
    return owner, torch.arange(len(owner), device=sizes.device) - start[owner]


# Lattice centrings, by code: P, A, B, C, I, F, R obverse (hexagonal axes), R reverse. For each, the
# reflections it allows have l in one residue class modulo _L_STEP (given by h and k: see
# enumerate_reflections), and C and F also need h + k even.
CENTRINGS = ("P", "A", "B", "C", "I", "F", "R_obverse", "R_reverse")
_L_STEP = (1, 2, 2, 1, 2, 2, 3, 3)


def _l_ranges(
    crystal: torch.Tensor,
    pair: torch.Tensor,
    bounds: torch.Tensor,
    k_start: torch.Tensor,
    metric: torch.Tensor,
    g_max: torch.Tensor,
    l_flip: torch.Tensor,
    centring: torch.Tensor,
    l_step: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each (h, k) pair of the half box, the l inside the limiting sphere.

    Args:
        crystal: (Q,) int64 crystal of each pair; pair: (Q,) its index within the crystal's pairs.
        bounds: (B, 3) int64 largest |h|, |k|, |l|; k_start: (B,) the first k is -k_start.
        metric: (B, 3, 3) float64 G*; g_max: (B,) float64 radius of the sphere (1/Å).
        l_flip: (B,) bool, the Laue group holds l -> -l alone (its canonical members have l >= 0).
        centring: (B,) int64 code of :data:`CENTRINGS`; l_step: (8,) int64 :data:`_L_STEP`.

    Returns:
        (Q,) int64 h, k, the first l, the step of l and the number of l of each pair.
    """
    width = bounds[crystal, 1] + 1 + k_start[crystal]
    h = pair // width
    k = pair % width - k_start[crystal]
    g = metric[crystal]
    hf, kf = h.to(torch.float64), k.to(torch.float64)
    # G33 l^2 + 2 (G13 h + G23 k) l + (G11 h^2 + G22 k^2 + 2 G12 h k) <= g_max^2.
    beta = g[:, 0, 2] * hf + g[:, 1, 2] * kf
    gamma = g[:, 0, 0] * hf * hf + g[:, 1, 1] * kf * kf + 2.0 * g[:, 0, 1] * hf * kf
    c33 = g[:, 2, 2]
    disc = beta * beta - c33 * (gamma - g_max[crystal].square())
    root = torch.sqrt(disc.clamp_min(0.0))
    # A relative slack keeps reflections exactly on the sphere (rounding would randomly drop them).
    slack = 1e-9 * (1.0 + bounds[crystal, 2].to(torch.float64))
    l_low = torch.ceil((-beta - root) / c33 - slack).to(torch.int64)
    l_high = torch.floor((-beta + root) / c33 + slack).to(torch.int64)
    # The half space key(hkl) > 0: h > 0, or h = 0 and k > 0, or h = k = 0 and l > 0.
    l_low = torch.where((h == 0) & (k == 0), l_low.clamp_min(1), l_low)
    l_low = torch.where(l_flip[crystal], l_low.clamp_min(0), l_low)
    valid = (disc >= 0) & ~((h == 0) & (k < 0))
    # The allowed l of a centred lattice step by 2 (A: k + l even, B: h + l, I: h + k + l, F: all indices
    # of one parity) or by 3 (R obverse: -h + k + l = 3n, R reverse: h - k + l = 3n); C and F also need
    # h + k even. Forbidden reflections (F = 0) are never enumerated.
    code = centring[crystal]
    step = l_step[code]
    residue = torch.where(code == 1, k, torch.where((code == 2) | (code == 5), h, h + k))
    residue = torch.where(code == 6, h - k, torch.where(code == 7, k - h, residue))
    l_low = l_low + torch.remainder(residue - l_low, step)
    valid = valid & ~(((code == 3) | (code == 5)) & (torch.remainder(h + k, 2) != 0))
    count = torch.where(valid, torch.div(l_high - l_low, step, rounding_mode="floor") + 1, 0).clamp_min(0)
    return h, k, l_low, step, count


def _candidates(
    owner: torch.Tensor,
    offset: torch.Tensor,
    crystal: torch.Tensor,
    h: torch.Tensor,
    k: torch.Tensor,
    l_low: torch.Tensor,
    step: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The reflections of the (h, k) pairs: (M,) pair and position of each, (Q,) per-pair crystal, h, k, first
    l and step of l -> (M,) crystal, (M, 3) int64 hkl, the same as float64, and (M,) float64 keys
    h K^2 + k K + l (exact in float64)."""
    hkl = torch.stack([h[owner], k[owner], l_low[owner] + offset * step[owner]], dim=1)
    hkl_f = hkl.to(torch.float64)
    key = (hkl_f[:, 0] * _KEY_BASE + hkl_f[:, 1]) * _KEY_BASE + hkl_f[:, 2]
    return crystal[owner], hkl, hkl_f, key


def enumerate_reflections(
    lattice: torch.Tensor,
    g_max: torch.Tensor,
    laue_ids: torch.Tensor,
    tables: LaueTables,
    centring: torch.Tensor | None = None,
    fuse: bool = False,
) -> Reflections:
    """All Laue-unique reflections with 0 < ``|g|`` <= g_max for each crystal.

    Args:
        lattice: (B, 3, 3) Å, rows a, b, c (any float dtype; the enumeration runs in float64).
        g_max: (B,) 1/Å, radius of the limiting sphere.
        laue_ids: (B,) ids into ``tables`` (from :func:`verified_laue_ids`).
        tables: from :func:`laue_tables` on the lattice's device.
        centring: (B,) int64 lattice centring of each crystal as an index into :data:`CENTRINGS`
            (``LatticeSymmetry.centring``): the reflections it forbids (F = 0) are left out. None: all kept.
        fuse: evaluate the per-(h, k) stage with torch.compile.

    Raises:
        ValueError: a cell so large that indices would reach 512 (more than ~10^8 reflections).
    """
    device = lattice.device
    bsz = len(lattice)
    # Crystals are enumerated in order of their Laue group, so that each group's reflections are one
    # contiguous block for the canonical test below (and they stay in that order: Reflections.order).
    laue_np = laue_ids.cpu().numpy()
    permutation_np = np.argsort(laue_np, kind="stable")
    permutation = torch.from_numpy(permutation_np).to(device)
    laue_np = laue_np[permutation_np]
    lat = lattice.detach().to(torch.float64)[permutation]
    g_max = g_max.detach().to(torch.float64)[permutation]
    laue_sorted = laue_ids[permutation]
    if centring is not None:
        centring = centring[permutation]
    # |h| <= |g| |a|: the bounding box of the sphere in index space.
    bounds = torch.floor(g_max.unsqueeze(-1) * lat.norm(dim=-1)).to(torch.int64)  # (B, 3)
    if int(bounds.max()) >= _KEY_BASE // 2:
        raise ValueError(
            f"a cell edge of {float(lat.norm(dim=-1).max()):.0f} Å gives Miller indices beyond "
            f"{_KEY_BASE // 2 - 1} in this 2θ range; that many reflections cannot be enumerated"
        )
    metric = reciprocal_metric(lat)  # G*, (B, 3, 3)
    # (h, k) pairs of the half box h >= 0; for each, the l inside the sphere solve a quadratic:
    # G33 l^2 + 2 (G13 h + G23 k) l + (G11 h^2 + G22 k^2 + 2 G12 h k) <= g_max^2.
    # Where the Laue group holds the sign flip of k (or of l) alone, the canonical member (largest key) has
    # k >= 0 (or l >= 0): only that part of the half box is enumerated (a 2-4x smaller set for every group
    # of monoclinic symmetry or higher in its standard setting); the canonical test below is unchanged.
    k_start = torch.where(tables.flips[laue_sorted, 0], 0, bounds[:, 1])  # (B,) first k is -k_start
    crystal, pair = _ragged_arange((bounds[:, 0] + 1) * (bounds[:, 1] + 1 + k_start))
    l_step = torch.tensor(_L_STEP, device=device)
    h, k, l_low, step, count = _fused(_l_ranges, fuse)(
        crystal,
        pair,
        bounds,
        k_start,
        metric,
        g_max,
        tables.flips[laue_sorted, 1],
        torch.zeros_like(laue_sorted) if centring is None else centring,
        l_step,
    )
    owner, offset = _ragged_arange(count)
    # Where each crystal's candidates end (they are ordered by crystal).
    ends = np.cumsum(count.new_zeros(bsz).index_add_(0, crystal, count).cpu().numpy())
    crystal, hkl, hkl_f, key_f = _fused(_candidates, fuse)(owner, offset, crystal, h, k, l_low, step)

    # Canonical member of each Laue orbit and its multiplicity, one Laue group (one block of rows) at a time.
    # key(h R) = h . (R w): a matrix product gives the keys of the images. A canonical h has the largest key
    # of its orbit, so it is at least the key of its images under the (at most three) generators; that cheap
    # test leaves few candidates for the full test against every operation, which also yields the
    # multiplicity.
    weights = torch.tensor([_KEY_BASE**2, _KEY_BASE, 1], dtype=torch.float64, device=device)
    generator_vectors = (tables.generators.to(torch.float64) * weights).sum(-1)  # (L, 3, 3)
    operation_vectors = (tables.rotations.to(torch.float64) * weights).sum(-1)  # (L, 48, 3)
    canonical = torch.zeros(len(hkl), dtype=torch.bool, device=device)
    multiplicity = torch.zeros(len(hkl), dtype=torch.int64, device=device)
    n_operations = tables.count.tolist()
    for laue in np.unique(laue_np).tolist():
        crystals = np.flatnonzero(laue_np == laue)
        start = int(ends[crystals[0] - 1]) if crystals[0] > 0 else 0
        stop = int(ends[crystals[-1]])
        if laue == tables.triclinic:
            # {1, -1}: the half space already holds one member of each orbit, of multiplicity 2.
            canonical[start:stop] = True
            multiplicity[start:stop] = 2
            continue
        block_hkl, block_key = hkl_f[start:stop], key_f[start:stop]
        passed = (block_hkl @ generator_vectors[laue].T).amax(dim=1) <= block_key
        rows = torch.nonzero(passed).squeeze(1)
        image_keys = block_hkl[rows] @ operation_vectors[laue, : n_operations[laue]].T  # (n, n_ops)
        own = block_key[rows].unsqueeze(1)
        rows = rows + start
        canonical[rows] = image_keys.amax(dim=1) <= own.squeeze(1)
        multiplicity[rows] = image_keys.shape[1] // (image_keys == own).sum(dim=1)
    crystal, hkl, multiplicity = permutation[crystal[canonical]], hkl[canonical], multiplicity[canonical]
    counts = torch.bincount(crystal, minlength=bsz)
    return Reflections(crystal, hkl, multiplicity, counts, laue_ids, permutation)
