"""Synthetic crystals for any of the 230 space groups, drawn from statistics of real crystals.

:class:`SpaceGroupSampler` draws batches of crystals (:class:`~xrdsynth.CrystalBatch`) in torch, on CPU or
GPU; :func:`fit_statistics` fits the statistics it draws from on any collection of CIF files, and
:class:`SamplerStatistics` saves and loads them. The default statistics, fitted on the AMCSD minerals, ship
with the package (:func:`default_statistics`), as do its Wyckoff tables (:func:`write_wyckoff_tables`
rebuilds them).
"""

from ._sampler import SamplerCounters, SpaceGroupSampler
from ._statistics import LatticeShape, SamplerStatistics, default_statistics, fit_statistics
from ._tables import write_wyckoff_tables

__all__ = [
    "LatticeShape",
    "SamplerCounters",
    "SamplerStatistics",
    "SpaceGroupSampler",
    "default_statistics",
    "fit_statistics",
    "write_wyckoff_tables",
]
