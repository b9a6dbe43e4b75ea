"""scripts/probe_cell_gap.py: the swaps keep what they claim to keep."""

from __future__ import annotations

import numpy as np

import xrdsynth as xs
from conftest import load_script


def _probe():
    return load_script("probe_cell_gap")


def _rutile() -> xs.Crystal:
    u = 0.305
    coords = [[0, 0, 0], [0.5, 0.5, 0.5], [u, u, 0], [-u, -u, 0]]
    coords += [[0.5 + u, 0.5 - u, 0.5], [0.5 - u, 0.5 + u, 0.5]]
    species = ["Ti", "Ti", "O", "O", "O", "O"]
    return xs.Crystal.from_parameters(4.594, 4.594, 2.959, 90, 90, 90, coords, species)


def test_on_lattice_keeps_atoms_and_volume_and_takes_the_metric():
    probe = _probe()
    rutile = _rutile()
    other = xs.Crystal.lattice_from_parameters(3.0, 5.0, 7.0, 90.0, 110.0, 90.0)
    moved = probe.on_lattice(rutile, other)
    np.testing.assert_allclose(moved.volume, rutile.volume, rtol=1e-12)
    np.testing.assert_allclose(moved.frac_coords, rutile.frac_coords, atol=1e-12)
    np.testing.assert_array_equal(moved.numbers, rutile.numbers)
    a, b, c, alpha, beta, gamma = moved.cell_parameters
    np.testing.assert_allclose([b / a, c / a, alpha, beta, gamma], [5 / 3, 7 / 3, 90, 110, 90], rtol=1e-9)


def test_jitter_changes_edges_only_and_zero_jitter_changes_nothing():
    probe = _probe()
    lattice = xs.Crystal.lattice_from_parameters(6.0, 7.6, 9.5, 90.0, 113.6, 90.0)
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(probe.jitter_edges(lattice, 0.0, rng), lattice, atol=1e-12)
    before = np.array(_cell(lattice))
    after = np.array(_cell(probe.jitter_edges(lattice, 0.05, rng)))
    np.testing.assert_allclose(after[3:], before[3:], atol=1e-9)
    ratio = after[:3] / before[:3]
    assert np.all(np.abs(np.log(ratio)) < 0.3) and np.all(np.abs(ratio - 1) > 1e-6)


def test_standard_crystal_refuses_another_group():
    probe = _probe()
    rutile = _rutile()
    standard = probe.standard_crystal(rutile, 136)
    assert standard is not None and standard.num_atoms == 6
    np.testing.assert_allclose(standard.volume, rutile.volume, rtol=1e-6)
    assert probe.standard_crystal(rutile, 14) is None


def _cell(lattice):
    return xs.Crystal(lattice=lattice, frac_coords=np.zeros((1, 3)), numbers=[1]).cell_parameters
