"""From fitted counts to the sampling probabilities, with smoothing so that sparse groups still work.

Real collections are uneven: amcsd-dev has thousands of crystals in a few groups and none in dozens of
others. Every conditional distribution is therefore a blend of its own counts with the next coarser level
(additive smoothing toward a prior, weighted by a number of pseudo-observations):

- elements given the space group  <- elements given the crystal system  <- all elements (plus a small floor
  over Z = 1..94, so that any element can appear and at least ``MAX_ELEMENTS`` have positive probability);
- Wyckoff letters given the group  <- a prior that spreads the overall frequency of positions with 0, 1, 2
  and 3 free parameters evenly over the group's positions of that kind;
- sites per element given the element  <- sites per element over all elements.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .._elements import atomic_number
from ..symmetry import CRYSTAL_SYSTEMS, crystal_system
from ._statistics import MAX_SITES_PER_ELEMENT, SamplerStatistics
from ._tables import MAX_POSITIONS, WyckoffTables

__all__ = [
    "element_probabilities",
    "num_elements_probabilities",
    "sites_per_element_probabilities",
    "space_group_probabilities",
    "wyckoff_probabilities",
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
    systems = np.array([CRYSTAL_SYSTEMS.index(crystal_system(g)) for g in range(1, 231)])
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
    """(119, MAX_SITES_PER_ELEMENT) float64: row Z: probability that element Z occupies 1, 2, ... sites."""
    counts = np.zeros((119, MAX_SITES_PER_ELEMENT), dtype=np.float64)
    for symbol, histogram in stats.sites_per_element_counts.items():
        counts[atomic_number(symbol)] += np.asarray(histogram, dtype=np.float64)
    overall = _normalise(counts.sum(axis=0) + 1e-3)
    return _normalise(
        (counts + SITES_SMOOTHING * overall) / (counts.sum(axis=1, keepdims=True) + SITES_SMOOTHING)
    )


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
