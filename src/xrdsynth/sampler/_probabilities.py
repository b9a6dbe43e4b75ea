"""From fitted counts to the sampling probabilities, with smoothing so that sparse groups still work.

Real collections are uneven: amcsd-dev has thousands of crystals in a few groups and none in dozens of
others. Every conditional distribution is therefore a blend of its own counts with the next coarser level
(additive smoothing toward a prior, weighted by a number of pseudo-observations):

- element sets (which elements occur together) given the crystal system  <- element sets of all systems,
  then tilted for each space group toward the group's mean number of elements (smoothed toward the
  system's: :func:`group_element_set_probabilities`); for statistics without element sets (version 1),
  elements one by one: given the space group  <- given the crystal system  <- all elements (plus a small
  floor over Z = 1..94, so that any element can appear and at least ``MAX_ELEMENTS`` have positive
  probability);
- Wyckoff letters given the group and whether the site holds an anion  <- Wyckoff letters given the group
  <- a prior that spreads the overall frequency of positions with 0, 1, 2 and 3 free parameters evenly
  over the group's positions of that kind;
- sites per element given the element and the crystal system  <- given the element, reweighted by how
  the crystal system shifts the sites of all elements together  <- sites per element over all elements.

It also turns the fitted volumes and distances into the sampler's lookup tables (element volumes, the
volume residual's quantiles, minimum distance per pair of atomic numbers), with the fallbacks for elements
and pairs the statistics do not cover.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from .._elements import atomic_number
from ..symmetry import CRYSTAL_SYSTEM_OF_GROUP, CRYSTAL_SYSTEMS
from ._radii import atomic_volumes, covalent_radii
from ._statistics import MAX_ELEMENTS, MAX_SITES_PER_ELEMENT, VOLUME_QUANTILE_LEVELS, SamplerStatistics
from ._tables import MAX_POSITIONS, WyckoffTables

__all__ = [
    "element_probabilities",
    "element_set_table",
    "element_volume_table",
    "group_element_set_probabilities",
    "min_distance_table",
    "num_elements_probabilities",
    "sites_per_element_probabilities",
    "space_group_probabilities",
    "volume_residual_table",
    "wyckoff_probabilities",
    "wyckoff_probabilities_by_class",
]

ELEMENT_SMOOTHING = 20.0  # pseudo-observations of the coarser level (crystal system, then all groups)
WYCKOFF_SMOOTHING = 5.0
SITES_SMOOTHING = 5.0
ELEMENT_FLOOR = 0.01  # pseudo-count of every element 1..94 in the overall element frequencies
MAX_SAMPLED_Z = 94  # up to plutonium: heavier elements occur in no mineral and have few data
SPACE_GROUP_PSEUDO_COUNT = 1.0  # when weighting groups by the statistics, groups never seen still occur


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / x.sum(axis=-1, keepdims=True)


def space_group_probabilities(
    stats: SamplerStatistics, groups: tuple[int, ...], weighting: str | tuple[float, ...]
) -> np.ndarray:
    """(230,) float64 probability of each group (index number - 1), zero outside ``groups``.

    ``weighting`` is ``"uniform"`` (every allowed group equally often, what a classifier should see),
    ``"statistics"`` (as often as in the fitted collection, plus ``SPACE_GROUP_PSEUDO_COUNT``), or one
    non-negative weight per entry of ``groups`` (normalised here).
    """
    weights = np.zeros(230, dtype=np.float64)
    index = np.array(groups, dtype=np.int64) - 1
    if isinstance(weighting, tuple):
        weights[index] = np.asarray(weighting, dtype=np.float64)
    elif weighting == "uniform":
        weights[index] = 1.0
    elif weighting == "statistics":
        counts = np.array([stats.space_group_counts.get(g, 0) for g in range(1, 231)], dtype=np.float64)
        weights[index] = counts[index] + SPACE_GROUP_PSEUDO_COUNT
    else:
        raise ValueError(f"space_group_weights must be 'uniform' or 'statistics', got {weighting!r}")
    return weights / weights.sum()


def element_probabilities(stats: SamplerStatistics) -> npt.NDArray[np.float64]:
    """(230, 119) float64: row g - 1 is the probability of each atomic number (column 0 unused) in group g."""
    counts = np.zeros((230, 119), dtype=np.float64)
    for group, elements in stats.element_counts.items():
        for symbol, n in elements.items():
            counts[group - 1, atomic_number(symbol)] += n
    # Elements beyond MAX_SAMPLED_Z are never drawn, whatever the statistics hold: they have few data, and
    # beyond Cf no form factor (amcsd-dev even holds one "Fl", a mislabelled fluorine read as flerovium).
    counts[:, MAX_SAMPLED_Z + 1 :] = 0.0
    floor = np.zeros(119)
    floor[1 : MAX_SAMPLED_Z + 1] = ELEMENT_FLOOR
    overall = _normalise(counts.sum(axis=0) + floor)
    systems = np.array(CRYSTAL_SYSTEM_OF_GROUP)
    probabilities = np.zeros_like(counts)
    for k in range(len(CRYSTAL_SYSTEMS)):
        rows = systems == k
        system_counts = counts[rows].sum(axis=0)
        system = (system_counts + ELEMENT_SMOOTHING * overall) / (system_counts.sum() + ELEMENT_SMOOTHING)
        group_counts = counts[rows]
        probabilities[rows] = (group_counts + ELEMENT_SMOOTHING * system) / (
            group_counts.sum(axis=1, keepdims=True) + ELEMENT_SMOOTHING
        )
    return _normalise(probabilities)


def num_elements_probabilities(stats: SamplerStatistics) -> npt.NDArray[np.float64]:
    """(MAX_ELEMENTS,) float64 probability of 1, 2, ... distinct elements."""
    counts = np.asarray(stats.num_elements_counts, dtype=np.float64)
    return _normalise(counts + 1e-3 * counts.sum() / len(counts))


def sites_per_element_probabilities(stats: SamplerStatistics) -> npt.NDArray[np.float64]:
    """(7, 119, MAX_SITES_PER_ELEMENT) float64: [s, Z] is the probability that element Z occupies 1, 2, ...
    sites in a crystal of system ``CRYSTAL_SYSTEMS[s]``.

    The system's own counts of the element are smoothed toward the element's counts over all systems
    times the system's shift of all elements (the system's pooled histogram over the pooled histogram of
    all systems): lower symmetry spreads every element over more sites, also the elements the system has
    few counts of. Statistics without ``sites_by_system_counts`` give the same table for every system.
    """
    counts = np.zeros((119, MAX_SITES_PER_ELEMENT), dtype=np.float64)
    for symbol, histogram in stats.sites_per_element_counts.items():
        counts[atomic_number(symbol)] += np.asarray(histogram, dtype=np.float64)
    overall = _normalise(counts.sum(axis=0) + 1e-3)
    element = _normalise(
        (counts + SITES_SMOOTHING * overall) / (counts.sum(axis=1, keepdims=True) + SITES_SMOOTHING)
    )
    table = np.broadcast_to(element, (len(CRYSTAL_SYSTEMS), *element.shape)).copy()
    for s, system in enumerate(CRYSTAL_SYSTEMS):
        by_element = stats.sites_by_system_counts.get(system)
        if not by_element:
            continue
        own = np.zeros_like(counts)
        for symbol, histogram in by_element.items():
            own[atomic_number(symbol)] += np.asarray(histogram, dtype=np.float64)
        pooled = own.sum(axis=0)
        shift = _normalise(pooled + SITES_SMOOTHING * overall) / overall
        prior = _normalise(element * shift)
        table[s] = (own + SITES_SMOOTHING * prior) / (own.sum(axis=1, keepdims=True) + SITES_SMOOTHING)
    return _normalise(table)


def wyckoff_probabilities(stats: SamplerStatistics, tables: WyckoffTables) -> npt.NDArray[np.float64]:
    """(230, MAX_POSITIONS) float64: row g - 1 is the probability of each of group g's positions (in the
    Tables' order, letter a first) for one occupied site; zero beyond the group's positions."""
    counts = np.zeros((230, MAX_POSITIONS), dtype=np.float64)
    dof_counts = np.zeros(4, dtype=np.float64)
    for group, letters in stats.wyckoff_counts.items():
        rows = tables.positions_of(group)
        local = {str(tables.letter[q]): i for i, q in enumerate(rows)}
        for letter, n in letters.items():
            if letter in local:  # letters are spglib's for the group's default setting, as in the tables
                counts[group - 1, local[letter]] += n
                dof_counts[tables.dof[rows[local[letter]]]] += n
    dof_share = _normalise(dof_counts + 1.0)
    probabilities = np.zeros_like(counts)
    for group in range(1, 231):
        rows = tables.positions_of(group)
        dof = tables.dof[rows.start : rows.stop]
        prior = np.array([dof_share[d] / np.count_nonzero(dof == d) for d in dof])
        prior /= prior.sum()
        own = counts[group - 1, : len(rows)]
        probabilities[group - 1, : len(rows)] = (own + WYCKOFF_SMOOTHING * prior) / (
            own.sum() + WYCKOFF_SMOOTHING
        )
    return probabilities


def wyckoff_probabilities_by_class(
    stats: SamplerStatistics, tables: WyckoffTables
) -> npt.NDArray[np.float64]:
    """(2, 230, MAX_POSITIONS) float64: :func:`wyckoff_probabilities` for a site of a non-anion (0) and of
    an anion (1, :data:`ANIONS`): each class's own letter counts smoothed (``WYCKOFF_SMOOTHING``
    pseudo-observations) toward the group's probabilities reweighted by the class's share of the sites
    with as many free parameters over all groups. Both are the group's probabilities for statistics
    without anion counts (version 1)."""
    overall = wyckoff_probabilities(stats, tables)
    if not stats.anion_wyckoff_counts:
        return np.stack([overall, overall])
    counts = np.zeros((2, 230, MAX_POSITIONS), dtype=np.float64)
    for k, source in ((0, stats.wyckoff_counts), (1, stats.anion_wyckoff_counts)):
        for group, letters in source.items():
            rows = tables.positions_of(group)
            local = {str(tables.letter[q]): i for i, q in enumerate(rows)}
            for letter, n in letters.items():
                if letter in local:
                    counts[k, group - 1, local[letter]] += n
    counts[0] = np.maximum(counts[0] - counts[1], 0.0)  # all sites minus the anions' ones
    # Each class's preference for positions with 0, 1, 2, 3 free parameters over all groups (anions sit
    # on general positions more often) reweights the group's probabilities into the class's prior, so
    # that groups with few data keep the preference too.
    dof = np.zeros((230, MAX_POSITIONS), dtype=np.int64)
    for group in range(1, 231):
        rows = tables.positions_of(group)
        dof[group - 1, : len(rows)] = tables.dof[rows.start : rows.stop]
    share = np.stack([np.bincount(dof.ravel(), weights=counts[k].ravel(), minlength=4) + 1.0 for k in (0, 1)])
    preference = share / share.sum(axis=0, keepdims=True)  # (2, 4) class share of the sites of each dof
    prior = _normalise(overall[None] * preference[:, dof])
    return (counts + WYCKOFF_SMOOTHING * prior) / (counts.sum(axis=2, keepdims=True) + WYCKOFF_SMOOTHING)


def element_volume_table(stats: SamplerStatistics) -> npt.NDArray[np.float64]:
    """(119,) float64 volume in Å³ that each element (column Z) brings to a cell, before the residual.

    The fitted effective volumes, and ``volume_prior_factor`` x the covalent-sphere volume for elements
    the fit did not see; for statistics without effective volumes (version 1), the covalent-sphere volumes
    themselves (the packing fraction is then in :func:`volume_residual_table`).
    """
    if not stats.element_volumes:
        return atomic_volumes().copy()
    table = stats.volume_prior_factor * atomic_volumes()
    for symbol, volume in stats.element_volumes.items():
        table[atomic_number(symbol)] = volume
    return table


def volume_residual_table(stats: SamplerStatistics) -> npt.NDArray[np.float64]:
    """(Q,) float64 quantiles of the log volume residual at :data:`VOLUME_QUANTILE_LEVELS`.

    The fitted quantiles plus ``volume_shift``; for statistics without effective volumes (version 1),
    those of minus the log packing fraction, a normal with the fitted mean and standard deviation,
    truncated at ±2.5 sigma.
    """
    if stats.element_volumes:
        return np.asarray(stats.volume_residual_quantiles, dtype=np.float64) + stats.volume_shift
    z = np.array([NormalDist().inv_cdf(p) for p in VOLUME_QUANTILE_LEVELS]).clip(-2.5, 2.5)
    return -stats.packing_fraction_log_mean + stats.packing_fraction_log_std * z


def min_distance_table(stats: SamplerStatistics) -> npt.NDArray[np.float64]:
    """(119, 119) float64 symmetric minimum distance in Å of every pair of atomic numbers.

    The fitted distance of each pair in ``min_distances``, ``min_distance_radii_scale`` x (r_a + r_b) for
    the others (every pair in version-1 statistics, whose scale is 0.5).
    """
    radii = covalent_radii()
    table = stats.min_distance_radii_scale * (radii[:, None] + radii[None, :])
    for key, distance in stats.min_distances.items():
        a, b = (atomic_number(symbol) for symbol in key.split("-"))
        table[a, b] = table[b, a] = distance
    table[0, :] = table[:, 0] = 0.0  # padding
    return table


def element_set_table(
    stats: SamplerStatistics,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The element sets to draw compositions from, and their probability per crystal system.

    Each crystal system's counts are smoothed toward the sets of all systems (``ELEMENT_SMOOTHING``
    pseudo-observations), so that a system with few structures still draws varied chemistry. Sets with an
    element beyond ``MAX_SAMPLED_Z`` or more than ``MAX_ELEMENTS`` elements are left out.

    Returns:
        sets: (K, MAX_ELEMENTS) int64 atomic numbers of each set, ascending, padded with 0.
        probability: (len(CRYSTAL_SYSTEMS), K) float64, row k for ``CRYSTAL_SYSTEMS[k]``.
        Both are empty (K = 0) when the statistics hold no element sets, or no set of two or more
        elements (which groups certified by a pair of orbits need); the sampler then draws the elements
        one by one (:func:`element_probabilities`).
    """
    keys = sorted({key for sets in stats.element_set_counts.values() for key in sets})
    rows, kept = [], []
    for key in keys:
        numbers = sorted(atomic_number(symbol) for symbol in key.split())
        if len(numbers) <= MAX_ELEMENTS and numbers[-1] <= MAX_SAMPLED_Z:
            rows.append(numbers + [0] * (MAX_ELEMENTS - len(numbers)))
            kept.append(key)
    if not any(row[1] for row in rows):
        return np.zeros((0, MAX_ELEMENTS), dtype=np.int64), np.zeros((len(CRYSTAL_SYSTEMS), 0))
    counts = np.zeros((len(CRYSTAL_SYSTEMS), len(kept)), dtype=np.float64)
    for k, system in enumerate(CRYSTAL_SYSTEMS):
        sets = stats.element_set_counts.get(system, {})
        counts[k] = [sets.get(key, 0) for key in kept]
    overall = _normalise(counts.sum(axis=0))
    probability = (counts + ELEMENT_SMOOTHING * overall) / (
        counts.sum(axis=1, keepdims=True) + ELEMENT_SMOOTHING
    )
    return np.array(rows, dtype=np.int64), probability


def group_element_set_probabilities(
    stats: SamplerStatistics, sets: npt.NDArray[np.int64], system_probability: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """(230, K) float64: the element sets' probabilities for each space group.

    A group's crystals have their own number of elements: amcsd-dev's Im-3m crystals have 1.2 on average
    (the bcc metals), its Fm-3m ones 1.9, against 2.4 over all cubic crystals; drawn from the whole
    system's sets, Im-3m and Fm-3m crystals get too many elements, so too many sites and atoms (a median of
    26 atoms per cell where real ones have 2 and 8). Each group therefore tilts its system's probabilities
    (``system_probability``, (7, K), from :func:`element_set_table`) by exp(lambda k), k the set's number of
    elements, with lambda such that the mean number of elements is the group's own mean
    (``element_counts`` over ``space_group_counts``) smoothed toward the system's (``ELEMENT_SMOOTHING``
    pseudo-observations): exponential tilting is the smallest change (in Kullback-Leibler divergence)
    that moves the mean, so a group without data keeps its system's sets.
    """
    k = (sets > 0).sum(axis=1).astype(np.float64)  # (K,) elements per set
    base = system_probability[np.array(CRYSTAL_SYSTEM_OF_GROUP)]  # (230, K)
    if sets.shape[0] == 0:  # statistics without element sets (version 1)
        return base
    groups = range(1, 231)
    crystals = np.array([stats.space_group_counts.get(g, 0) for g in groups], dtype=np.float64)
    elements = np.array([sum(stats.element_counts.get(g, {}).values()) for g in groups], dtype=np.float64)
    goal = (elements + ELEMENT_SMOOTHING * (base @ k)) / (crystals + ELEMENT_SMOOTHING)
    goal = goal.clip(k.min() + 1e-6, k.max() - 1e-6)
    # lambda by bisection, all groups at once: the tilted mean grows with lambda. The tilt depends on a set
    # only through k, so the search runs on each group's probability per number of elements (230, at most
    # MAX_ELEMENTS) instead of per set (230, K).
    counts = np.unique(k)
    mass = base @ (k[:, None] == counts[None, :])  # (230, V)
    centre = k.mean()
    low, high = np.full(230, -20.0), np.full(230, 20.0)
    for _ in range(60):
        middle = 0.5 * (low + high)
        weight = mass * np.exp(middle[:, None] * (counts - centre))
        below = (weight @ counts) / weight.sum(axis=1) < goal
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    tilted = base * np.exp(0.5 * (low + high)[:, None] * (k - centre))
    return tilted / tilted.sum(axis=1, keepdims=True)
