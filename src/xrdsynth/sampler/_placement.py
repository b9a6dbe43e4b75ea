"""Placing the atoms of sampled crystals: free Wyckoff parameters drawn so that no two atoms come closer
than their minimum distance, cells expanded where they must be, as functions of explicit tensors (see
:mod:`._core` for the conventions and shapes)."""

from __future__ import annotations

import torch

from .._math import wrap_fractional
from ._core import MAX_SITES, AtomMap, Composition, DeviceTables

__all__ = [
    "EXPANSION",
    "MAX_EXPANSIONS",
    "candidate_schedule",
    "place_sites",
    "smallest_spacing",
]

EXPANSION = 1.05  # length factor of one cell expansion when a site finds no place (volume +16%)
MAX_EXPANSIONS = 6  # at most (1.05^6)^3 = 2.4 times the drawn volume


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
