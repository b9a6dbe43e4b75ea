"""xrdsynth.testing: the shipped property checks pass on the simulator and catch what they claim to catch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import xrdsynth as xs
from xrdsynth import examples, testing


@pytest.fixture(scope="module")
def simulator() -> xs.PowderSimulator:
    return xs.PowderSimulator((10.0, 70.0, 1201), crystallite_size_nm=40.0, dtype=torch.float64)


@pytest.fixture(scope="module")
def quartz() -> xs.Crystal:
    return xs.Crystal.from_cif(examples.cif_path("quartz"))


def test_the_simulator_passes_the_property_checks(simulator, quartz) -> None:
    rutile = xs.Crystal.from_cif(examples.cif_path("rutile"))
    testing.assert_origin_shift_invariant(simulator, quartz)
    testing.assert_atom_order_invariant(simulator, quartz, seed=3)
    testing.assert_batch_consistent(simulator, [quartz, rutile])
    testing.assert_space_group_labels([quartz, rutile])


def test_the_checks_fail_where_the_property_does_not_hold(simulator, quartz) -> None:
    def first_atom_only(crystals):  # depends on atom order and, through the label, on nothing else
        return simulator([dataclasses.replace(c, **_first(c)) for c in crystals])

    with pytest.raises(AssertionError, match="atom order"):
        testing.assert_atom_order_invariant(first_atom_only, quartz, seed=1)

    def batch_normalised(crystals):  # one maximum for the whole batch: patterns leak into each other
        patterns = simulator(crystals) * torch.arange(1, len(crystals) + 1, dtype=torch.float64)[:, None]
        return patterns / patterns.max()

    rutile = xs.Crystal.from_cif(examples.cif_path("rutile"))
    with pytest.raises(AssertionError, match="batched call"):
        testing.assert_batch_consistent(batch_normalised, [quartz, rutile])
    with pytest.raises(AssertionError, match="labels differ"):
        testing.assert_space_group_labels([dataclasses.replace(quartz, space_group=1)])


def _first(crystal: xs.Crystal) -> dict[str, np.ndarray]:
    keep = slice(0, 1)
    return {
        "frac_coords": crystal.frac_coords[keep],
        "numbers": crystal.numbers[keep],
        "occupancies": crystal.occupancies[keep],
        "b_iso": crystal.b_iso[keep],
        "charges": crystal.charges[keep],
    }


def test_generic_inputs_are_those_of_the_symmetry_package() -> None:
    lattice = testing.generic_lattice("monoclinic")
    assert lattice.shape == (3, 3)
    params = testing.generic_parameters(np.random.default_rng(0), 3, (5,))
    assert params.shape == (5, 3)
    assert np.all((params > 0) & (params < 1))
