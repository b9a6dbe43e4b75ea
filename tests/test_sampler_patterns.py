"""Sampled crystals in the synthetic dataset: no pattern is ever all zero or non-finite.

The dataset redraws the crystals whose pattern is unusable (same space group, seeded from the batch index
and the round) and counts them. A simulator that spoils chosen patterns stands in for the rare crystal
without a reflection on the grid; a real crystal too small for any reflection shows the simulator's own
empty pattern being caught.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import xrdsynth as xs
from xrdsynth.data import SyntheticPowderDataset


class SpoilingSimulator(torch.nn.Module):
    """A PowderSimulator whose first ``spoil`` calls return rows ``rows`` as zeros (or NaN)."""

    def __init__(self, simulator: xs.PowderSimulator, rows: list[int], spoil: int, value: float) -> None:
        super().__init__()
        self.simulator, self.rows, self.spoil, self.value = simulator, rows, spoil, value
        self.calls = 0

    @property
    def device(self) -> torch.device:
        return self.simulator.device

    def forward(self, batch: xs.CrystalBatch, generator: torch.Generator | None = None) -> torch.Tensor:
        patterns = self.simulator(batch, generator=generator)
        self.calls += 1
        if self.calls <= self.spoil:
            rows = [r for r in self.rows if r < len(patterns)]
            patterns[rows] = self.value
        return patterns


@pytest.fixture(scope="module")
def simulator() -> xs.PowderSimulator:
    return xs.PowderSimulator(two_theta=(10.0, 60.0, 400))


@pytest.mark.parametrize("value", [0.0, float("nan")])
def test_unusable_patterns_are_redrawn_with_their_labels(simulator, value: float) -> None:
    sampler = xs.SpaceGroupSampler(seed=0)
    plain = SyntheticPowderDataset(sampler, simulator, batch_size=5, seed=3)
    spoiling = SpoilingSimulator(simulator, rows=[1, 3], spoil=2, value=value)
    dataset = SyntheticPowderDataset(sampler, spoiling, batch_size=5, seed=3)
    patterns, labels = dataset.batch(0)
    reference, reference_labels = plain.batch(0)
    assert bool(torch.isfinite(patterns).all()) and bool((patterns.amax(dim=1) > 0).all())
    # Rows 1 and 3 of the batch were spoiled, then row 1 of the two redrawn crystals (the second call).
    assert dataset.pattern_redraws == 3
    assert torch.equal(labels["space_group"], reference_labels["space_group"])  # same groups
    for row in (0, 2, 4):
        assert torch.equal(patterns[row], reference[row])
    assert not torch.equal(patterns[1], reference[1])
    # The crystals the dataset reports are the ones behind the patterns, and the redraw is reproducible.
    again = SyntheticPowderDataset(sampler, SpoilingSimulator(simulator, [1, 3], 2, value), 5, seed=3)
    crystals = again.crystal_batch(0)
    assert crystals.space_group.tolist() == (labels["space_group"] + 1).tolist()
    np.testing.assert_allclose(
        labels["lattice_parameters"].numpy(),
        np.array([c.cell_parameters for c in crystals.to_crystals()]),
        rtol=1e-5,
    )


def test_patterns_that_stay_unusable_raise(simulator) -> None:
    spoiling = SpoilingSimulator(simulator, rows=[0], spoil=100, value=0.0)
    dataset = SyntheticPowderDataset(xs.SpaceGroupSampler(seed=0), spoiling, batch_size=2)
    with pytest.raises(RuntimeError, match="still all zero or not finite"):
        dataset.batch(0)


def test_a_crystal_without_reflections_on_the_grid_is_caught_without_warning() -> None:
    """A 1.3 Å cube has no reflection below 2θ = 60° at Cu Kα1 (d_max = 1.3 Å, 2θ = 72.6°): the
    simulator makes a zero pattern (and warns), which the dataset replaces silently."""
    tiny = xs.Crystal.from_parameters(1.3, 1.3, 1.3, 90, 90, 90, [[0, 0, 0]], ["Fe"], space_group=221)
    simulator = xs.PowderSimulator(two_theta=(10.0, 60.0, 400))
    with pytest.warns(RuntimeWarning, match="no reflection"):
        assert float(simulator([tiny]).abs().max()) == 0.0

    class FirstIsTiny(torch.nn.Module):
        device = simulator.device

        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def forward(self, batch: xs.CrystalBatch, generator: torch.Generator | None = None) -> torch.Tensor:
            self.calls += 1
            if self.calls == 1:  # the first batch's crystal 0 replaced by the tiny cube
                crystals = batch.to_crystals()
                crystals[0] = tiny
                batch = xs.CrystalBatch.from_crystals(crystals, dtype=batch.dtype)
            return simulator(batch, generator=generator)

    dataset = SyntheticPowderDataset(xs.SpaceGroupSampler(seed=1), FirstIsTiny(), batch_size=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        patterns, _ = dataset.batch(0)
    assert dataset.pattern_redraws == 1
    assert bool((patterns.amax(dim=1) > 0).all())
