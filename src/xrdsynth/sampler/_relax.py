"""Pushing atoms apart along their Wyckoff freedoms, and the exact check of the minimum distances.

Random coordinates cannot reach the density of real crystals at real interatomic distances: random
sequential placement of hard spheres jams at a packing fraction near 0.38, while the minimum distances of
real crystals fill space far more (the cations of an olivine, at their shortest real distance, fill about
half of it). Like the "push" step of structure generators such as AIRSS's buildcell, the sampler therefore
places the sites at a fraction of the minimum distances and then moves the atoms apart until every pair
clears its minimum (:func:`relax`), keeping the symmetry exactly: each Wyckoff site moves only along its
free parameters, and all atoms of its orbit move together. Atoms move only while they overlap (the
energy is zero once every pair clears), so the crystals do not drift toward special positions.

Symmetry also makes the checks cheap: every pair of atoms is the image of a pair made of a site's first
atom (its *representative*) and some atom, so only the S representatives are compared with the N atoms.

Conventions: fractional coordinates are row vectors f, Cartesian ones f @ L with the lattice L (3, 3),
rows a, b, c in Å. n crystals, N atom slots, S site slots, P pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._math import wrap_fractional

__all__ = [
    "Pairs",
    "Sites",
    "atom_jacobians",
    "clearance",
    "close_pairs",
    "nearest_images",
    "nearest_lengths2",
    "plane_spacings",
    "relax",
    "smallest_spacing",
]

# Levenberg-Marquardt damping of each site's least-squares step, relative to the site's own metric.
DAMPING = 0.1
# Crystals per chunk of the pair search are chosen so that a chunk holds about this many pairs: on the CPU
# few enough for the chunk's temporaries to stay in cache, on a GPU many (each chunk costs dozens of kernel
# launches, which dominate there; the float64 temporaries of 2^21 pairs, 8 corners each, are of the order
# of a gigabyte).
PAIRS_PER_CHUNK = 1 << 15
PAIRS_PER_CHUNK_GPU = 1 << 21
# The corners {0, 1}^3 of the cell around a rounded difference (see nearest_images).
_CORNERS = torch.tensor(
    [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]],
    dtype=torch.float64,
)


@dataclass(frozen=True, eq=False)
class Sites:
    """Where the atoms of n crystals are, site by site.

    Attributes:
        mask: (n, N) bool real atoms, in the first slots of each crystal (the pair searches cut their
            chunks at the largest atom count); numbers: (n, N) int64 atomic numbers (0 for padding, and
            for atoms to leave out of the checks: element 0 has no minimum distance).
        site: (n, N) int64 site slot of each atom.
        first: (n, S) int64 atom slot of each site's first atom (its representative).
        valid: (n, S) bool the site slot holds a site.
        jacobian: (n, N, 3, 3) :func:`atom_jacobians` (0 for the atoms of frozen sites).
        frozen: (n, S) bool sites that do not move (their pairs are resolved by the other site alone).
    """

    mask: torch.Tensor
    numbers: torch.Tensor
    site: torch.Tensor
    first: torch.Tensor
    valid: torch.Tensor
    jacobian: torch.Tensor
    frozen: torch.Tensor

    def take(self, rows: torch.Tensor) -> Sites:
        """The crystals ``rows``."""
        return Sites(
            self.mask[rows],
            self.numbers[rows],
            self.site[rows],
            self.first[rows],
            self.valid[rows],
            self.jacobian[rows],
            self.frozen[rows],
        )


@dataclass(frozen=True, eq=False)
class Pairs:
    """Pairs (first atom of site s, atom b) of crystals, with the translation to b's nearest image.

    Attributes:
        crystal: (P,) int64 row of the crystal.
        s: (P,) int64 site slot; b: (P,) int64 atom slot.
        shift: (P, 3) float integer translation: the pair's vector is (x_b - x_first(s) + shift) @ L.
        threshold: (P,) float minimum distance of the pair in Å.
    """

    crystal: torch.Tensor
    s: torch.Tensor
    b: torch.Tensor
    shift: torch.Tensor
    threshold: torch.Tensor


def atom_jacobians(rotation: torch.Tensor, basis: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(n, N, 3, 3) W: how each atom's fractional coordinates move with its site's free parameters.

    An atom of a site is R (x0 + u B) + t for the site's first position x0, free directions B (rows;
    zero beyond the site's degrees of freedom) and the atom's operation (R, t), so its displacement is
    W du with W = R B^T. ``rotation`` (n, N, 3, 3) is each atom's R, ``basis`` (n, N, 3, 3) its site's B,
    ``mask`` (n, N) the real atoms (W is 0 for padding).
    """
    return rotation @ basis.transpose(-1, -2) * mask[:, :, None, None]


def smallest_spacing(lattice: torch.Tensor) -> torch.Tensor:
    """(n,) smallest interplanar spacing in Å (volume over the largest face area) of lattices (n, 3, 3)."""
    return plane_spacings(lattice).min(dim=1).values


def _chunks(sites: Sites) -> list[tuple[torch.Tensor, int, int]]:
    """Crystals in chunks of similar size: (rows, atoms, sites) with the rows' atoms in slots < atoms and
    sites in slots < sites. Sorting by atom count keeps the padding small; a chunk holds about
    ``PAIRS_PER_CHUNK`` pairs."""
    limit = PAIRS_PER_CHUNK if sites.mask.device.type == "cpu" else PAIRS_PER_CHUNK_GPU
    counts = sites.mask.sum(dim=1)
    order = torch.argsort(counts)
    sorted_counts = counts[order].tolist()
    site_counts = sites.valid.sum(dim=1)[order].tolist()
    chunks, start = [], 0
    while start < len(sorted_counts):
        end, widest = start + 1, site_counts[start]
        while end < len(sorted_counts):
            wider = max(widest, site_counts[end])
            if (end + 1 - start) * sorted_counts[end] * wider > limit:
                break
            widest, end = wider, end + 1
        chunks.append((order[start:end], max(int(sorted_counts[end - 1]), 1), max(int(widest), 1)))
        start = end
    return chunks


def plane_spacings(lattice: torch.Tensor) -> torch.Tensor:
    """(n, 3) spacings in Å of the lattice planes (100), (010), (001) of lattices (n, 3, 3): volume over
    the area of the face spanned by the other two edges."""
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
    return volume[:, None] / faces


def nearest_images(delta: torch.Tensor, lattice: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared lengths (p, ...) in Å² of the nearest images of fractional differences ``delta``
    (p, ..., 3) in lattices (p, 3, 3), and the integer shifts (p, ..., 3) added to reach them; exact for
    every image shorter than the smallest interplanar spacing of the cell (the sampler keeps every
    minimum distance below it).

    Rounding gives d with |d_k| <= 1/2; the nearest image shorter than the smallest spacing h is d + n
    with each n_k either 0 or -sign(d_k) (|d_k + n_k| h_k <= |v| < h_k), one of the 8 corners of the cell
    around d. With the metric G = L L^T, |d + n|² = |d|² + 2 d G n + n G n; writing n_k = -s_k c_k
    (s = sign d, c in {0, 1}^3) both terms are small matrix products over the 8 corners c, so the 8
    lengths of every pair come from products with (3, 8) matrices instead of 8 Cartesian vectors each.
    """
    shift = -torch.round(delta)
    d = delta + shift
    p = d.shape[0]
    flat = d.reshape(p, -1, 3)
    dtype, device = d.dtype, d.device
    metric = lattice @ lattice.transpose(1, 2)  # (p, 3, 3) G
    d_metric = torch.bmm(flat, metric)  # (p, M, 3) d G
    ones = torch.ones(3, dtype=dtype, device=device)
    sign = torch.where(flat >= 0, 1.0, -1.0).to(dtype)  # s
    corners = _CORNERS.to(device=device, dtype=dtype)  # (8, 3) c
    # The products c_k c_l and s_k s_l of the off-diagonal metric terms, kl = 01, 02, 12.
    corner_pairs = corners[:, [0, 0, 1]] * corners[:, [1, 2, 2]]  # (8, 3)
    sign_pairs = sign[..., [0, 0, 1]] * sign[..., [1, 2, 2]]  # (p, M, 3)
    off_diagonal = metric[:, [0, 0, 1], [1, 2, 2]]  # (p, 3)
    # |d|² + 2 d G n with 2 d G n = -2 sum_k c_k s_k (d G)_k, plus n G n = sum_k c_k G_kk
    # + 2 sum_{k<l} c_k c_l s_k s_l G_kl.
    lengths2 = (
        ((d_metric * flat) @ ones)[..., None]
        + (-2.0 * sign * d_metric) @ corners.T
        + (metric.diagonal(dim1=1, dim2=2) @ corners.T)[:, None, :]
        + (2.0 * sign_pairs * off_diagonal[:, None, :]) @ corner_pairs.T
    )  # (p, M, 8)
    best_length2, best = lengths2.min(dim=-1)
    step = -sign * corners[best]  # (p, M, 3) n
    return best_length2.reshape(d.shape[:-1]).clamp(min=0.0), (shift.reshape(p, -1, 3) + step).reshape(
        shift.shape
    )


def nearest_lengths2(delta: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """The squared lengths of :func:`nearest_images` alone, without the shifts (the same to about 1e-15).

    The same expansion over the 8 corners c of the cell around the rounded difference d, written per pair:
    with a_k = G_kk - 2 s_k (d G)_k and b_kl = 2 s_k s_l G_kl, the corner c adds
    sum_k c_k a_k + sum_{k<l} c_k c_l b_kl to |d|², so the smallest length is |d|² plus the smallest of 0
    and seven sums of these six numbers: elementwise minima instead of (p, M, 8) products and a reduction
    (about 1.6x faster on a CPU, where the placement spends most of its time here).
    """
    d = delta - torch.round(delta)
    p = d.shape[0]
    flat = d.reshape(p, -1, 3)
    metric = lattice @ lattice.transpose(1, 2)  # (p, 3, 3) G
    d_metric = torch.bmm(flat, metric)  # (p, M, 3) d G
    negative = flat < 0
    a = metric.diagonal(dim1=1, dim2=2)[:, None, :] - 2.0 * torch.where(negative, -d_metric, d_metric)
    off_diagonal = metric[:, [0, 0, 1], [1, 2, 2]][:, None, :]  # (p, 1, 3) G_01, G_02, G_12
    opposite = negative[..., [0, 0, 1]] ^ negative[..., [1, 2, 2]]  # s_k s_l = -1
    b = torch.where(opposite, -2.0, 2.0) * off_diagonal  # (p, M, 3) b_01, b_02, b_12
    a0, a1, a2 = a.unbind(-1)
    b01, b02, b12 = b.unbind(-1)
    a01 = a0 + a1 + b01
    smallest = torch.minimum(torch.minimum(a0, a1), torch.minimum(a2, a01))
    smallest = torch.minimum(smallest, torch.minimum(a0 + a2 + b02, a1 + a2 + b12))
    smallest = torch.minimum(smallest, a01 + a2 + b02 + b12).clamp(max=0.0)
    return ((d_metric * flat).sum(-1) + smallest).reshape(delta.shape[:-1]).clamp(min=0.0)


def _pairs_of_chunk(
    xyz: torch.Tensor,
    lattice: torch.Tensor,
    sites: Sites,
    table: torch.Tensor,
    rows: torch.Tensor,
    atoms: int,
    width: int,
    shifts: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Squared distances, shifts (None unless ``shifts``), thresholds and the valid-pair mask (r, S, N)
    from each site's first atom to every atom of the chunk's crystals, exact for every pair closer than its
    threshold (:func:`nearest_images`)."""
    x, cell = xyz[rows, :atoms], lattice[rows]
    mask, numbers = sites.mask[rows, :atoms], sites.numbers[rows, :atoms]
    first, valid_site = sites.first[rows, :width].clamp(max=atoms - 1), sites.valid[rows, :width]
    here = x.gather(1, first[:, :, None].expand(-1, -1, 3))  # (r, S, 3)
    slots = torch.arange(atoms, device=x.device)
    valid = valid_site[:, :, None] & mask[:, None, :] & (slots[None, None, :] != first[:, :, None])
    threshold = table[numbers.gather(1, first)[:, :, None], numbers[:, None, :]]  # (r, S, N)
    delta = x[:, None, :, :] - here[:, :, None, :]  # [i, s, b] = x_b - x_first(s)
    if not shifts:
        return nearest_lengths2(delta, cell), None, threshold, valid
    d2, shift = nearest_images(delta, cell)
    return d2, shift, threshold, valid


def clearance(xyz: torch.Tensor, lattice: torch.Tensor, sites: Sites, table: torch.Tensor) -> torch.Tensor:
    """(n,) smallest ratio of distance to minimum distance over every pair of atoms of each crystal.

    Exact whenever the ratio is below 1 and every threshold is below the cell's smallest interplanar
    spacing (the sampler keeps it so): pairs of an atom with its own lattice translations are left out.
    ``xyz`` (n, N, 3) fractional, ``lattice`` (n, 3, 3), ``table`` (119, 119) Å. Crystals without a pair
    with a positive threshold get inf.
    """
    n = xyz.shape[0]
    out = torch.full((n,), float("inf"), dtype=xyz.dtype, device=xyz.device)
    for rows, atoms, width in _chunks(sites):
        d2, _, threshold, valid = _pairs_of_chunk(
            xyz, lattice, sites, table, rows, atoms, width, shifts=False
        )
        ratio = torch.where(valid & (threshold > 0), d2 / threshold.square(), float("inf"))
        out[rows] = ratio.flatten(1).amin(dim=1).sqrt()
    return out


def close_pairs(
    xyz: torch.Tensor, lattice: torch.Tensor, sites: Sites, table: torch.Tensor, reach: float
) -> Pairs:
    """The pairs (first atom of a site, atom) closer than ``reach`` x their minimum distance, with the
    translation of the nearest image. Every pair closer than its minimum distance is found; of those
    between 1 and ``reach`` times it, the ones whose nearest image rounding misses in small cells may be
    left out (they do not overlap; a later check sees them if they come to)."""
    found = []
    for rows, atoms, width in _chunks(sites):
        d2, shift, threshold, valid = _pairs_of_chunk(xyz, lattice, sites, table, rows, atoms, width)
        near = valid & (threshold > 0) & (d2 < (reach * threshold).square())
        i, s, b = torch.nonzero(near, as_tuple=True)
        found.append((rows[i], s, b, shift[i, s, b], threshold[i, s, b]))
    return Pairs(*(torch.cat(parts) for parts in zip(*found, strict=True)))


def relax(
    xyz: torch.Tensor,
    lattice: torch.Tensor,
    sites: Sites,
    table: torch.Tensor,
    iterations: int,
    reach: float = 2.0,
    target: float = 1.01,
    max_step: float = 0.25,
    ordered_sums: bool | None = None,
    keep_best: torch.Tensor | None = None,
) -> torch.Tensor:
    """Move the atoms apart along their sites' free parameters until every pair clears its minimum.

    Each iteration takes every pair (a site's first atom, atom b) of the neighbour list (:func:`close_pairs`
    at ``reach``) closer than ``target`` x its minimum distance, and wants the vector between them to
    grow by the overlap: half of it from this site when b is in another site (b's site does the other
    half through the symmetry-equivalent pair of its own first atom), all of it when b is in the same
    orbit (then b moves with the site too) or b never moves (a frozen site, or one without free
    parameters). Each site moves its free parameters by the damped least-
    squares (Levenberg-Marquardt) fit of its pairs' wishes, through each pair's Jacobian W_first - W_b
    (same orbit) or W_first, with the metric G = L L^T, and never more than ``max_step`` Å in one
    iteration; every atom of the orbit moves by its own W du, so the symmetry stays exact, and a site
    without free parameters stays put. Iterations stop early once no listed pair overlaps.

    Args:
        xyz: (n, N, 3) fractional coordinates (not modified).
        lattice: (n, 3, 3) Å.
        sites: the crystals' atoms and sites.
        table: (119, 119) minimum distances in Å.
        iterations: largest number of steps.
        reach: neighbour-list radius in units of each pair's minimum distance.
        target: pairs are pushed to this factor of their minimum distance (a little beyond 1, so that
            the pushes converge past the threshold instead of toward it).
        max_step: largest move of a site in one iteration, Å.
        ordered_sums: sum each site's pairs in a fixed order (deterministic; the default off the CPU,
            where ``index_add_`` adds with atomics in a varying order) instead of with ``index_add_``.
        keep_best: (119, 119) Å distances, or None. When given, each crystal gets the coordinates of the
            step (the start included) whose listed pair closest to its ``keep_best`` distance is furthest
            from it, in units of that distance, instead of those of the last step: pushes that balance
            can bring a crystal's closest pair closer than it started. Pairs outside the neighbour list
            are not watched, so the exact check (:func:`clearance`) still decides.

    Returns:
        (n, N, 3) the moved coordinates, wrapped into [0, 1).
    """
    n, atoms = sites.mask.shape
    x = xyz.clone()
    if iterations < 1 or n == 0:
        return x
    pairs = close_pairs(x, lattice, sites, table, reach)
    if pairs.crystal.numel() == 0:
        return x
    width = sites.first.shape[1]
    dtype, device = x.dtype, x.device
    first = sites.first.clamp(max=atoms - 1)  # empty site slots point past the last atom
    w_first = sites.jacobian.gather(1, first[:, :, None, None].expand(-1, -1, 3, 3)).reshape(-1, 3, 3)
    metric = (lattice @ lattice.transpose(1, 2)).repeat_interleave(width, dim=0)  # (n S, 3, 3) G = L L^T
    # Damping of the least squares (Levenberg-Marquardt): a fraction of the site's own metric, and a tiny
    # multiple of the identity so that unused free directions (zero columns of W) get zero steps.
    damping = DAMPING * w_first.transpose(1, 2) @ metric @ w_first
    scale = damping.diagonal(dim1=1, dim2=2).sum(-1).clamp(min=1.0)
    damping = damping + 1e-9 * scale[:, None, None] * torch.eye(3, dtype=dtype, device=device)
    cell = lattice[pairs.crystal]
    first_atom = pairs.crystal * atoms + first[pairs.crystal, pairs.s]
    other_atom = pairs.crystal * atoms + pairs.b
    pair_site = pairs.crystal * width + pairs.s
    # How the pair's vector (from b to the first atom) moves with the site's parameters: the first atom's
    # W, minus b's own W when b is in the same orbit (it moves too).
    same = sites.site[pairs.crystal, pairs.b] == pairs.s
    jacobian = sites.jacobian.reshape(-1, 3, 3)
    pair_jacobian = w_first[pair_site] - same.to(dtype)[:, None, None] * jacobian[other_atom]
    pair_normal = pair_jacobian.transpose(1, 2) @ metric[pair_site] @ pair_jacobian  # (P, 3, 3)
    movable = (sites.jacobian.reshape(-1, 9) != 0).any(dim=1)  # (n N,) atoms whose site can move them
    # A pair of two sites is resolved half by each; a pair within one orbit by its site alone, and so is
    # a pair with an atom that never moves (a frozen site, or one without free parameters).
    share = torch.where(same | ~movable[other_atom], 1.0, 0.5).to(dtype)
    flat_site = (torch.arange(n, device=device)[:, None] * width + sites.site).reshape(-1)  # (n N,)
    lattice_of_site = lattice.repeat_interleave(width, dim=0)  # (n S, 3, 3)
    goal = target * pairs.threshold
    fallback = torch.tensor([0.5, 0.3, 0.1], dtype=dtype, device=device)
    # index_add_ of floats uses atomic additions on CUDA, whose order (and so the last bits of every sum, and
    # after many iterations the crystals) changes from run to run: there the sums over each site's pairs are
    # gathered into a padded (sites, most pairs of a site) layout and summed along it, in a fixed order.
    if ordered_sums is None:
        ordered_sums = device.type != "cpu"
    padded = _padded_rows(pair_site, n * width) if ordered_sums else None
    if keep_best is not None:
        # Each pair's distance in units of its keep_best distance (inf where that is 0: never the worst).
        z_first = sites.numbers[pairs.crystal, first[pairs.crystal, pairs.s]]
        floor = keep_best[z_first, sites.numbers[pairs.crystal, pairs.b]]
        inverse_floor = torch.where(floor > 0, 1.0 / floor.clamp(min=1e-12), 0.0)
        best_ratio = torch.full((n,), -1.0, dtype=dtype, device=device)
        best_x = x
    # Pass i measures the coordinates after i moves; with keep_best a last pass measures the final ones.
    for i in range(iterations + (keep_best is not None)):
        flat = x.reshape(-1, 3)
        delta = flat[other_atom] - flat[first_atom] + pairs.shift
        vector = torch.bmm(delta[:, None, :], cell).squeeze(1)  # Cartesian, from the first atom to b
        distance = vector.norm(dim=1)
        if keep_best is not None:
            ratio = torch.where(inverse_floor > 0, distance * inverse_floor, math.inf)
            worst = torch.full((n,), math.inf, dtype=dtype, device=device).scatter_reduce(
                0, pairs.crystal, ratio, "amin"
            )
            better = worst > best_ratio
            best_ratio = torch.where(better, worst, best_ratio)
            best_x = torch.where(better[:, None, None], x, best_x)
        if i == iterations:
            break
        overlap = (goal - distance).clamp(min=0.0)
        active = overlap > 0
        if not bool(active.any()):
            break
        if padded is None:
            # The pushes of the overlapping pairs only (three in four pairs of the list do not overlap).
            pair = torch.nonzero(active).squeeze(1)
            rows = pair_site[pair]
            normal = damping.clone()
            normal.index_add_(0, rows, pair_normal[pair])
            rhs = torch.zeros((n * width, 3), dtype=dtype, device=device)
            push = _pushes(share[pair], overlap[pair], distance[pair], vector[pair], fallback)
            wanted = torch.bmm(cell[pair], push[:, :, None])  # L D, (A, 3, 1)
            rhs.index_add_(0, rows, (pair_jacobian[pair].transpose(1, 2) @ wanted).squeeze(-1))
            # Only the sites with an overlapping pair move (the others have no push: du = 0), so only
            # their steps are solved for and only their atoms updated; the same numbers as for all.
            moving = torch.unique(rows)
            du = _limited_steps(
                normal[moving], rhs[moving], w_first[moving], lattice_of_site[moving], max_step
            )
            site_moves = torch.zeros(n * width, dtype=torch.bool, device=device)
            site_moves[moving] = True
            atom = torch.nonzero(site_moves[flat_site] & movable).squeeze(1)
            site_of_atom = torch.searchsorted(moving, flat_site[atom])
            flat[atom] = flat[atom] + (jacobian[atom] @ du[site_of_atom][:, :, None]).squeeze(-1)
            x = flat.reshape(n, atoms, 3)
        else:
            # The same sums over the active pairs (push is 0 for the others) without a host synchronisation.
            push = _pushes(share, overlap, distance, vector, fallback)
            weight = active.to(dtype)
            normal = damping + _sum_rows(pair_normal * weight[:, None, None], padded)
            wanted = torch.bmm(cell, push[:, :, None])
            rhs = _sum_rows((pair_jacobian.transpose(1, 2) @ wanted).squeeze(-1) * weight[:, None], padded)
            du = _limited_steps(normal, rhs, w_first, lattice_of_site, max_step)  # (n S, 3)
            x = x + (jacobian @ du[flat_site][:, :, None]).reshape(n, atoms, 3)
    return wrap_fractional(x if keep_best is None else best_x)


def _pushes(
    share: torch.Tensor,
    overlap: torch.Tensor,
    distance: torch.Tensor,
    vector: torch.Tensor,
    fallback: torch.Tensor,
) -> torch.Tensor:
    """(P, 3) wanted Cartesian move in Å of each pair's first atom: away from its partner b, against
    ``vector`` (P, 3, from the first atom to b, ``distance`` (P,) long), by ``share`` (P,) of the
    ``overlap`` (P,) Å; coincident atoms (below 1e-6 Å) have no direction and move along ``fallback``
    (3,)."""
    push = -(share * overlap / distance.clamp(min=1e-6))[:, None] * vector
    return torch.where((distance < 1e-6)[:, None], fallback * overlap[:, None], push)


def _limited_steps(
    normal: torch.Tensor, rhs: torch.Tensor, w_first: torch.Tensor, lattice: torch.Tensor, max_step: float
) -> torch.Tensor:
    """(s, 3) steps du of the free parameters of s sites: the solutions of the normal equations ``normal``
    (s, 3, 3) du = ``rhs`` (s, 3), shortened where the site's first atom (fractional Jacobian ``w_first``
    (s, 3, 3), lattice (s, 3, 3) Å) would move more than ``max_step`` Å: a crowded atom's pushes add up and
    would throw it onto atoms outside the neighbour list."""
    du = torch.linalg.solve(normal, rhs)
    step = torch.bmm((w_first @ du[:, :, None]).transpose(1, 2), lattice).squeeze(1)
    return du * (max_step / step.norm(dim=1).clamp(min=1e-12)).clamp(max=1.0)[:, None]


def _padded_rows(rows: torch.Tensor, size: int) -> torch.Tensor:
    """(size, K) indices into a list of ``rows.shape[0]`` items of the items of each row (K the most items
    of a row), padded with the index one past the last item; ``rows`` (P,) int64 in [0, size)."""
    count = rows.shape[0]
    order = torch.argsort(rows, stable=True)
    per_row = torch.bincount(rows, minlength=size)
    start = torch.cumsum(per_row, 0) - per_row
    sorted_rows = rows[order]
    rank = torch.arange(count, device=rows.device) - start[sorted_rows]
    index = torch.full((size, max(int(per_row.max()), 1)), count, device=rows.device)
    index[sorted_rows, rank] = order
    return index


def _sum_rows(values: torch.Tensor, padded: torch.Tensor) -> torch.Tensor:
    """Sums (size, ...) of ``values`` (P, ...) over the items of each row of :func:`_padded_rows`, always
    added in the same order (deterministic on every device)."""
    with_zero = torch.cat([values, values.new_zeros((1, *values.shape[1:]))])
    return with_zero[padded].sum(dim=1)
