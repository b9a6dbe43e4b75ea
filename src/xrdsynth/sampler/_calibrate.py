"""Calibrating the sampler's volumes against the statistics it draws from."""

from __future__ import annotations

import dataclasses
import math

import torch

from .._elements import atomic_mass
from .._errors import warn_at_caller
from ._sampler import SpaceGroupSampler
from ._statistics import MAX_VOLUME_SHIFT, SamplerStatistics

__all__ = ["calibrate_volume_shift"]

# The calibrated shift stays this far inside the range statistics may hold (MAX_VOLUME_SHIFT).
_SHIFT_BOUND = MAX_VOLUME_SHIFT - 0.01
# g/mol per Å³ to g/cm³: 1 / (Avogadro x 1e-24 cm³ per Å³).
_GRAMS_PER_CM3 = 1.0 / (6.02214076e23 * 1e-24)


def calibrate_volume_shift(
    statistics: SamplerStatistics,
    crystals: int = 2000,
    rounds: int = 3,
    seed: int = 0,
    max_atoms: int = 100,
) -> SamplerStatistics:
    """The statistics with a ``volume_shift`` that matches the sampler's volumes to the fitted collection.

    Random arrangements need more room than the ordered ones of real crystals: the sampler grows the cells
    it cannot fill at the minimum distances, so its volumes come out larger than the ones it draws. This
    shifts the drawn log volume residual (the shape of its distribution stays) so that the median volume
    per atom of ``crystals`` sampled crystals (groups as often as in the statistics, ``max_atoms`` per
    cell) is off the fitted collection's median by the same factor as their median density is off its
    median (``statistics.summary``): the two cannot both be met where the sampled compositions are
    heavier or lighter per atom than the real ones, and this splits the difference. Without a fitted
    density, the volume per atom alone is matched. Solved by the secant method, ``rounds`` steps, the
    shift kept within ±``MAX_VOLUME_SHIFT`` (a RuntimeWarning where the bound stops it).

    Args:
        statistics: fitted statistics with element volumes (version 2).
        crystals: crystals sampled per round.
        rounds: secant steps.
        seed: of the sampler.
        max_atoms: the sampler's cap.

    Returns:
        A copy of ``statistics`` with the new ``volume_shift``.

    Raises:
        ValueError: statistics without element volumes or without the fitted median volume per atom.
    """
    if not statistics.element_volumes:
        raise ValueError("calibrate_volume_shift needs statistics with element volumes (version 2)")
    try:
        volume_target = float(statistics.summary["volume_per_atom_A3"]["q50"])
    except (KeyError, TypeError):
        raise ValueError(
            "the statistics hold no median volume per atom (summary['volume_per_atom_A3'])"
        ) from None
    density = statistics.summary.get("density_g_cm3", {})
    density_target = float(density["q50"]) if isinstance(density, dict) and "q50" in density else None
    masses = torch.tensor([0.0] + [atomic_mass(z) for z in range(1, 119)], dtype=torch.float64)

    def error(shift: float) -> float:
        stats = dataclasses.replace(statistics, volume_shift=shift)
        sampler = SpaceGroupSampler(
            statistics=stats, seed=seed, max_atoms=max_atoms, space_group_weights="statistics"
        )
        batch = sampler.sample(crystals).to("cpu", torch.float64)
        volume = torch.linalg.det(batch.lattice).abs()
        volume_error = math.log(float((volume / batch.mask.sum(dim=1)).median()) / volume_target)
        if density_target is None:
            return volume_error
        mass = (masses[batch.numbers] * batch.mask).sum(dim=1)
        density = mass / volume * _GRAMS_PER_CM3
        density_error = math.log(float(density.median()) / density_target)
        return 0.5 * (volume_error - density_error)

    shift, previous = statistics.volume_shift, None
    value = error(shift)
    for _ in range(rounds):
        if previous is None or previous[1] == value:
            step = -value  # first step: as if the volumes followed the shift one to one
        else:
            slope = (value - previous[1]) / (shift - previous[0])
            step = -value / slope if slope > 0.1 else -value
        previous = (shift, value)
        # Where the sampled volumes barely follow the drawn ones (cells grown to fit the atoms), the
        # secant step is long: the shift stays a little inside the range statistics may hold.
        shift = min(max(shift + step, -_SHIFT_BOUND), _SHIFT_BOUND)
        value = error(shift)
    best = min((previous, (shift, value)), key=lambda item: abs(item[1]))
    if abs(best[0]) >= _SHIFT_BOUND:
        warn_at_caller(
            f"calibrate_volume_shift stopped at the bound volume_shift={best[0]:+.2f}: the sampled volumes "
            f"follow the drawn ones too weakly to reach the fitted median (still off by {best[1]:+.2f} in "
            "log); more crystals per round or larger minimum distances may help"
        )
    return dataclasses.replace(statistics, volume_shift=round(best[0], 4))
