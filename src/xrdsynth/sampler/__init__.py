"""Synthetic crystals for any of the 230 space groups, drawn from statistics of real crystals.

:class:`SpaceGroupSampler` draws batches of crystals (:class:`~xrdsynth.CrystalBatch`) in torch, on CPU or
GPU; :func:`fit_statistics` fits the statistics it draws from on any collection of CIF files,
:func:`calibrate_volume_shift` matches the sampled volumes to them, and :class:`SamplerStatistics` saves
and loads them. The default statistics, fitted on the AMCSD minerals, ship with the package
(:func:`default_statistics`; the ones before fitted volumes and distances as ``"default-v1"``,
:func:`named_statistics`), as do its Wyckoff tables (:func:`write_wyckoff_tables` rebuilds them).
"""

from ._calibrate import calibrate_volume_shift
from ._counters import SamplerCounters
from ._fit import fit_statistics, shortest_pair_distances
from ._sampler import SpaceGroupSampler
from ._statistics import (
    ANIONS,
    FULL_OCCUPANCY,
    NAMED_STATISTICS,
    LatticeShape,
    SamplerStatistics,
    default_statistics,
    named_statistics,
)
from ._tables import write_wyckoff_tables

__all__ = [
    "ANIONS",
    "FULL_OCCUPANCY",
    "NAMED_STATISTICS",
    "LatticeShape",
    "SamplerCounters",
    "SamplerStatistics",
    "SpaceGroupSampler",
    "calibrate_volume_shift",
    "default_statistics",
    "fit_statistics",
    "named_statistics",
    "shortest_pair_distances",
    "write_wyckoff_tables",
]
