"""Calibrating the sampler's volumes against the statistics it draws from."""

from __future__ import annotations

import dataclasses
import math

import torch

from ._sampler import SpaceGroupSampler
from ._statistics import SamplerStatistics

__all__ = ["calibrate_volume_shift"]


def calibrate_volume_shift(
    statistics: SamplerStatistics,
    crystals: int = 2000,
    rounds: int = 3,
    seed: int = 0,
    max_atoms: int = 100,
) -> SamplerStatistics:
    """The statistics with a ``volume_shift`` that makes the sampler's median volume per atom the fitted one.

    Random arrangements need more room than the ordered ones of real crystals: the sampler grows the cells
    it cannot fill at the minimum distances, so its volumes come out larger than the ones it draws. This
    shifts the drawn log volume residual so that the median volume per atom of ``crystals`` sampled
    crystals (groups as often as in the statistics, ``max_atoms`` per cell) equals the median of the
    fitted collection (``statistics.summary["volume_per_atom_A3"]["q50"]``), by the secant method on the
    log of the ratio, ``rounds`` times. The shape of the distribution is not changed.

    Args:
        statistics: fitted statistics with element volumes (version 2).
        crystals: crystals sampled per round.
        rounds: secant steps.
        seed: of the sampler.
        max_atoms: the sampler's cap.

    Returns:
        A copy of ``statistics`` with the new ``volume_shift``.

    Raises:
        ValueError: statistics without element volumes or without the fitted median.
    """
    if not statistics.element_volumes:
        raise ValueError("calibrate_volume_shift needs statistics with element volumes (version 2)")
    try:
        target = float(statistics.summary["volume_per_atom_A3"]["q50"])
    except (KeyError, TypeError):
        raise ValueError(
            "the statistics hold no median volume per atom (summary['volume_per_atom_A3'])"
        ) from None

    def error(shift: float) -> float:
        stats = dataclasses.replace(statistics, volume_shift=shift)
        sampler = SpaceGroupSampler(
            statistics=stats, seed=seed, max_atoms=max_atoms, space_group_weights="statistics"
        )
        batch = sampler.sample(crystals)
        per_atom = torch.linalg.det(batch.lattice).abs() / batch.mask.sum(dim=1)
        return math.log(float(per_atom.median()) / target)

    shift, previous = statistics.volume_shift, None
    value = error(shift)
    for _ in range(rounds):
        if previous is None or previous[1] == value:
            step = -value  # first step: as if the volumes followed the shift one to one
        else:
            slope = (value - previous[1]) / (shift - previous[0])
            step = -value / slope if slope > 0.1 else -value
        previous = (shift, value)
        shift = shift + step
        value = error(shift)
    best = min((previous, (shift, value)), key=lambda item: abs(item[1]))
    return dataclasses.replace(statistics, volume_shift=round(best[0], 4))
