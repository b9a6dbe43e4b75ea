"""Placing the atoms of sampled crystals: free Wyckoff parameters drawn so that no two atoms come closer
than their minimum distance, cells expanded where they must be, as functions of explicit tensors (see
:mod:`._core` for the conventions and shapes)."""

from __future__ import annotations

import math

import torch

from .._math import wrap_fractional
from ._core import MAX_SITES, AtomMap, Composition, DeviceTables, certificate_sites
from ._relax import (
    _CORNERS,
    PAIRS_PER_CHUNK,
    Sites,
    atom_jacobians,
    clearance,
    nearest_lengths2,
    relax,
    smallest_spacing,
)

__all__ = [
    "EXPANSION_MARGIN",
    "FIRST_CANDIDATES",
    "MAX_EXPANSION",
    "PLACEMENT_FRACTION",
    "RELAX_ITERATIONS",
    "RELAX_ROUNDS",
    "SPECIAL_MARGIN",
    "candidate_schedule",
    "place_sites",
    "shortest_centring",
    "special_candidates",
]

FIRST_CANDIDATES = 4  # candidates in the first round of a site (the best one that clears is kept)
EXPANSION_MARGIN = 1.001  # a cell that must grow grows to 1.001 x what the closest pair needs
MAX_EXPANSION = 1.3  # a cell may grow to at most 1.3 x its drawn length (2.2 x the volume), else redrawn
PLACEMENT_FRACTION = 0.8  # sites are first placed at this fraction of the minimum distances ...
RELAX_ROUNDS = 1  # ... then pushed apart (_relax.relax) in up to this many rounds (new neighbour lists)
RELAX_ITERATIONS = 15  # of at most this many steps each
# A certifying site's first atom is kept at least this far (Å) from the special values of its free
# coordinates (see special_candidates), so that spglib at 1e-3 Å sees no extra symmetry.
SPECIAL_MARGIN = 2e-3
# The relations h . x = r (mod 1) a higher symmetry imposes on a general position's coordinates x: rows h of
# R' - R for two point operations of one lattice (signed permutations; the hexagonal ones), offsets r on
# the grid of 1/24 (1/2, 1/3, 1/4, 1/6, 1/8 and 1/12 of the cell: centrings, screws, glides, origins).
SPECIAL_ROWS = torch.tensor(
    [
        *([1, 0, 0], [0, 1, 0], [0, 0, 1], [2, 0, 0], [0, 2, 0], [0, 0, 2]),
        *([1, 1, 0], [1, -1, 0], [1, 0, 1], [1, 0, -1], [0, 1, 1], [0, 1, -1]),
        *([1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]),
        *([1, 2, 0], [2, 1, 0], [1, -2, 0], [2, -1, 0]),
    ],
    dtype=torch.float64,
)
SPECIAL_GRID = 24


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


def special_candidates(
    first: torch.Tensor, basis: torch.Tensor, lattice: torch.Tensor, margin: float = SPECIAL_MARGIN
) -> torch.Tensor:
    """(q, k) bool: candidate first atoms that lie within ``margin`` Å of a special value of their free
    coordinates, where a supergroup's operation could map the orbit onto itself.

    Labels are exact for generic coordinates, but spglib finds symmetry within a tolerance: a certifying
    orbit drawn 10⁻⁴ Å from x = y or z = 1/2 is read as the higher group. Best-candidate placement makes
    this more likely than chance, since the orbit that spreads its atoms furthest apart is often the more
    symmetric one. Each relation h . x = r (``SPECIAL_ROWS``, r a multiple of 1/24) that the site's free
    directions can change counts when h . x is within ``margin`` / (shortest cell edge) of it; relations the
    free directions cannot change are the site's own special values and never count.

    Args:
        first: (q, k, 3) fractional coordinates of candidate first atoms.
        basis: (q, 3, 3) the site's free directions (rows; zero beyond its degrees of freedom).
        lattice: (q, 3, 3) Å.
    """
    rows = SPECIAL_ROWS.to(device=first.device, dtype=first.dtype)
    moves = (basis @ rows.T).abs().amax(dim=1) > 1e-9  # (q, R) the free directions change h . x
    value = (first @ rows.T) * SPECIAL_GRID  # (q, k, R) in units of the grid
    distance = (value - value.round()).abs() / SPECIAL_GRID
    tolerance = margin / lattice.norm(dim=-1).amin(dim=-1)  # (q,) fractional
    return ((distance < tolerance[:, None, None]) & moves[:, None, :]).any(dim=-1)


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
    max_expansion: float | torch.Tensor = MAX_EXPANSION,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, torch.Tensor]:
    """Draw the free coordinates so that no two atoms come closer than their minimum distance.

    Three steps, each vectorised over the crystals:

    1. *Placement*, site by site in slot order (fixed and line positions first, see
       :meth:`Composition.by_freedom`), at ``PLACEMENT_FRACTION`` of the minimum distances, except for
       pairs of two atoms the pushes never move (sites without free parameters, certifying sites), which
       are placed at their whole minimum distance: nothing but a uniform expansion resolves those. For
       site s of every crystal at once, candidate free parameters (uniform in [0, 1)) are drawn and each
       candidate's orbit is built. A candidate's *clearance* is the smallest ratio, over the atoms of
       sites 0..s-1 and the other atoms of its own orbit, of distance to the pair's threshold; by
       symmetry the orbit's first atom stands for the whole orbit. Of the candidates with clearance >= 1,
       the one with the largest clearance is kept (best-candidate placement: atoms spread out instead of
       clumping). Where no candidate of a round clears, the next round draws more
       (:func:`candidate_schedule`, ``attempts`` in all; one for a site without free parameters), and
       where none of them clears, the cell is expanded uniformly just enough for the best candidate
       (``EXPANSION_MARGIN`` above); expansion keeps every earlier site valid.
    2. *Pushing apart* (:func:`~xrdsynth.sampler._relax.relax`), for the crystals with a pair closer
       than its ``min_distance``: the atoms move along their sites' free parameters toward every pair at
       its ``target_distance`` (the fitted distance), in up to ``RELAX_ROUNDS`` rounds of
       ``RELAX_ITERATIONS`` steps, and each crystal keeps whichever coordinates (before, after, or at a
       step between) leave its closest pair furthest from its minimum.
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
        max_expansion: the largest growth in length over the drawn cell (``MAX_EXPANSION`` by default), or
            (n,) float64 one per crystal.

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
    limit = torch.as_tensor(max_expansion, dtype=torch.float64, device=device).expand(n)
    placed = torch.ones(n, dtype=torch.bool, device=device)
    draws = 0
    expansions = torch.zeros(n, dtype=torch.int64, device=device)
    schedule = candidate_schedule(attempts, FIRST_CANDIDATES)
    certifying = certificate_sites(t, c)  # (n, S)
    # Sites the pushes never move (no free parameters, or certifying): their pairs with each other are
    # placed at the full minimum distance, since nothing resolves them later but a uniform expansion.
    fixed = t.dof[c.group[:, None] - 1, c.position] == 0
    immovable = c.valid & (fixed | certifying)  # (n, S)
    immovable_atom = immovable.gather(1, atoms.site) & atoms.mask  # (n, N)
    slots = torch.arange(1, MAX_SITES + 1, device=device)
    last_site = int((c.valid * slots).max()) if n else 0
    for s in range(last_site):
        rows = torch.nonzero(c.valid[:, s] & placed).squeeze(1)
        if rows.numel() == 0:
            continue
        stretch, used = _place_site(
            t, c, atoms, s, rows, xyz, lattice, min_distance, number_atom, schedule, generator,
            certifying[rows, s], immovable[rows, s], immovable_atom[rows],
        )  # fmt: skip
        draws += used
        grow = stretch > 1.0
        if bool(grow.any()):
            too_much = grow & (growth[rows] * stretch > limit[rows])
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
    frozen = certifying[rows]
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
    # The pushes serve the crystals with a pair below its minimum (after placement at a fraction of it,
    # nearly all); each keeps whichever of its coordinates before and after the pushes clears the most,
    # since pushes that balance can leave a crystal's closest pair closer than where it started.
    ratio = clearance(x, cell, sites, min_distance)
    for _ in range(RELAX_ROUNDS):
        tight = torch.nonzero(ratio < 1.0).squeeze(1)
        if tight.numel() == 0:
            break
        part = sites.take(tight)
        moved = relax(x[tight], cell[tight], part, target_distance, RELAX_ITERATIONS, keep_best=min_distance)
        after = clearance(moved, cell[tight], part, min_distance)
        better = after > ratio[tight]
        x[tight[better]] = moved[better]
        ratio[tight[better]] = after[better]
    # What the pushes did not resolve, a uniform expansion does (every distance grows by its factor).
    stretch = torch.where(ratio < 1.0, EXPANSION_MARGIN / ratio.clamp(min=1e-9), torch.ones_like(ratio))
    stretch = stretch.to(torch.float64)
    too_much = growth[rows] * stretch > limit[rows]
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
    min_distance: torch.Tensor,
    number_atom: torch.Tensor,
    schedule: list[int],
    generator: torch.Generator,
    certifying: torch.Tensor,
    immovable: torch.Tensor,
    immovable_atom: torch.Tensor,
) -> tuple[torch.Tensor, int]:
    """Place site ``s`` of crystals ``rows`` (writes ``xyz`` in place). Where the site certifies the group
    (``certifying``, (p,) bool), candidates near a special value (:func:`special_candidates`) are never
    kept; a crystal whose candidates all are gets a new geometry. ``immovable`` (p,) bool says whether
    the site never moves in the pushes (no free parameters, or certifying), ``immovable_atom`` (p, N) the
    same of every atom slot of these crystals.

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
    # Pairs the pushes can resolve are placed at PLACEMENT_FRACTION of their minimum distance; pairs of
    # two immovable atoms (and an immovable orbit with itself) at the whole of it.
    fraction = torch.where(immovable[:, None] & immovable_atom[:, :w], 1.0, PLACEMENT_FRACTION).to(dtype)
    threshold_previous = min_distance[number_atom[rows, :w], z[:, None]] * fraction
    inverse_previous = torch.where(earlier & (threshold_previous > 0), threshold_previous**-2, 0.0)
    own_fraction = torch.where(immovable, 1.0, PLACEMENT_FRACTION).to(dtype)
    threshold_own = (min_distance[z, z] * own_fraction)[:, None].expand(-1, m - 1)
    inverse_own = torch.where(in_orbit[:, 1:] & (threshold_own > 0), threshold_own**-2, 0.0)
    inverse = torch.cat([inverse_previous, inverse_own], dim=1)  # (p, w + m - 1)
    cell = lattice[rows]
    p = rows.numel()
    check_special = not all_fixed and bool(certifying.any())
    best_clearance = torch.full((p,), -1.0, dtype=dtype, device=device)  # squared, of the best so far
    best_orbit = torch.zeros((p, m, 3), dtype=dtype, device=device)
    index = torch.arange(p, device=device)  # rows still looking, as positions in the above
    # A candidate is compared with the start_i earlier atoms and the multiplicity_i - 1 other atoms of its
    # orbit; the crystals differ tenfold in both, so on the CPU they are taken in chunks of similar size
    # (padded to the chunk's largest, not the batch's). Off the CPU the sampler is bound by kernel
    # launches, not by the padding: one chunk.
    size = start + multiplicity - 1
    limit = PAIRS_PER_CHUNK if device.type == "cpu" else None
    used = 0
    for k in [1] if all_fixed else schedule:
        q = index.numel()
        u = torch.rand((q, k, 3), dtype=dtype, device=device, generator=generator)
        value = torch.empty((q,), dtype=dtype, device=device)
        chosen = torch.zeros((q, m, 3), dtype=dtype, device=device)
        for part, earlier_count, orbit_count in _size_chunks(
            size[index], start[index], multiplicity[index], k, limit
        ):
            at = index[part]  # positions in the rows of this call
            first = x0[at][:, None, :] + torch.bmm(u[part], basis[at])
            orbit = wrap_fractional(
                torch.einsum("qmij,qkj->qkmi", rotation[at, :orbit_count], first)
                + translation[at, None, :orbit_count]
            )  # (c, k, orbit_count, 3); member 0 is the identity image, the first atom itself
            here = orbit[:, :, :1, :]
            cell_c = cell[at]
            d2_previous = nearest_lengths2(previous[at, None, :earlier_count] - here, cell_c)
            d2_own = nearest_lengths2(orbit[:, :, 1:, :] - here, cell_c)
            # Squared clearance of each candidate: the smallest d² / threshold² (inf when nothing counts).
            own = slice(w, w + orbit_count - 1)
            inverse_c = torch.cat([inverse[at, :earlier_count], inverse[at, own]], dim=1)[:, None]
            ratio = torch.cat([d2_previous, d2_own], dim=2) * inverse_c
            ratio = torch.where(inverse_c > 0, ratio, math.inf)
            clearance = (
                ratio.amin(dim=2)
                if ratio.shape[2]
                else torch.full((len(at), k), math.inf, dtype=dtype, device=device)
            )
            if check_special:
                special = special_candidates(first, basis[at], cell_c) & certifying[at][:, None]
                clearance = torch.where(special, -1.0, clearance)
            value[part], choice = clearance.max(dim=1)
            chosen[part, :orbit_count] = orbit[torch.arange(len(at), device=device), choice]
        used += q * k
        better = value > best_clearance[index]
        best_clearance[index] = torch.where(better, value, best_clearance[index])
        best_orbit[index] = torch.where(better[:, None, None], chosen, best_orbit[index])
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


def _size_chunks(
    size: torch.Tensor, earlier: torch.Tensor, multiplicity: torch.Tensor, k: int, limit: int | None
) -> list[tuple[torch.Tensor, int, int]]:
    """Rows (q,) sorted by ``size`` (atoms each candidate is compared with) in chunks of about ``limit``
    candidate-atom pairs with ``k`` candidates per row: (rows, earlier atoms, orbit atoms) with each row's
    ``earlier`` (q,) and ``multiplicity`` (q,) within the chunk's two counts. One chunk keeps the rows in
    their order when they fit, or when ``limit`` is None."""
    q = size.shape[0]
    if limit is None or q * k * max(int(size.max()), 1) <= limit:
        return [(torch.arange(q, device=size.device), int(earlier.max()), int(multiplicity.max()))]
    order = torch.argsort(size, stable=True)
    sizes = size[order].tolist()
    chunks, begin = [], 0
    while begin < q:
        end = begin + 1
        while end < q and (end + 1 - begin) * k * max(sizes[end], 1) <= limit:
            end += 1
        part = order[begin:end]
        chunks.append((part, int(earlier[part].max()), int(multiplicity[part].max())))
        begin = end
    return chunks
