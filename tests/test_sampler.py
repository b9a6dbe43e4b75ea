"""Tests for xrdsynth.sampler: SpaceGroupSampler, its tables and its statistics.

Physical properties are checked against independent code: spglib for the labels, a brute-force 27-image
distance search for the minimum distances, cell parameters for the lattice constraints and the shortest
edge, the symmetry package's derivation for the shipped Wyckoff tables.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import itertools
import math
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import CIF_DIR
from xrdsynth import Crystal, CrystalBatch
from xrdsynth._lattice import parameters_from_lattice
from xrdsynth.sampler import (
    SamplerStatistics,
    SpaceGroupSampler,
    calibrate_volume_shift,
    default_statistics,
    fit_statistics,
    named_statistics,
)
from xrdsynth.sampler._core import certificate_sites, certify, draw_composition
from xrdsynth.sampler._fit import GROUP_KERNEL_MIN_CELLS
from xrdsynth.sampler._lattices import KERNEL_ANGLE_RANGE, METRIC_ANGLE_MARGIN, METRIC_MARGIN, draw_lattices
from xrdsynth.sampler._placement import special_candidates
from xrdsynth.sampler._probabilities import (
    ELEMENT_SMOOTHING,
    element_set_table,
    group_element_set_probabilities,
)
from xrdsynth.sampler._radii import covalent_radii
from xrdsynth.sampler._relax import (
    Sites,
    atom_jacobians,
    clearance,
    close_pairs,
    nearest_images,
    nearest_lengths2,
    relax,
    smallest_spacing,
)
from xrdsynth.sampler._statistics import (
    CELL_KERNEL_WIDTH,
    FORMER_CELL_KERNEL_WIDTH,
    MAX_VOLUME_SHIFT,
    MIN_DISTANCE_QUANTILE,
)
from xrdsynth.sampler._tables import derive_tables, faithful_flags, load_tables
from xrdsynth.symmetry import CRYSTAL_SYSTEM_OF_GROUP, lattice_system, wyckoff_positions

# One or two groups of every lattice system, groups whose certificate needs a pair (1, 4, 7, 25, 75, 143,
# 168, 183), and cubic groups whose general position exceeds 100 atoms (225, 227, 230).
LABEL_GROUPS = [
    1,
    2,
    4,
    7,
    14,
    15,
    25,
    43,
    62,
    75,
    88,
    113,
    139,
    143,
    146,
    148,
    161,
    168,
    183,
    194,
    198,
    216,
    225,
    227,
    230,
]


@pytest.fixture(scope="module")
def mixed_batch() -> CrystalBatch:
    """Crystals of random groups from the default sampler (shared: sampling is the slow part)."""
    return SpaceGroupSampler(seed=7).sample(96)


def _min_distance_ratio(
    lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray, table: np.ndarray
) -> float:
    """Brute force over the 27 neighbouring cells: min over atom pairs (and an atom's own images) of
    distance / table[Z_i, Z_j]."""
    limit = table[numbers[:, None], numbers[None, :]]
    best = np.inf
    for shift in np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).reshape(3, -1).T:
        delta = frac[:, None, :] - frac[None, :, :] + shift
        distance = np.linalg.norm(delta @ lattice, axis=-1)
        if not shift.any():
            np.fill_diagonal(distance, np.inf)
        best = min(best, float(np.min(distance / limit)))
    return best


# ----------------------------------------------------------------------------------------------------------
# Output format, devices, dtypes


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batch_shapes_dtypes_device(device: str, dtype: torch.dtype) -> None:
    sampler = SpaceGroupSampler(seed=0, device=device, dtype=dtype)
    batch = sampler.sample(12)
    assert isinstance(batch, CrystalBatch)
    assert len(batch) == 12
    assert batch.device.type == torch.device(device).type
    assert batch.dtype == dtype
    assert batch.space_group.dtype == torch.int64
    assert bool(((batch.space_group >= 1) & (batch.space_group <= 230)).all())
    mask = batch.mask
    assert bool((batch.occupancies[mask] == 1).all()) and bool((batch.occupancies[~mask] == 0).all())
    assert bool((batch.numbers[mask] >= 1).all()) and bool((batch.numbers[~mask] == 0).all())
    assert bool((batch.charges == 0).all())
    assert bool(((batch.frac_coords >= 0) & (batch.frac_coords < 1)).all())
    low, high = sampler.b_iso_range
    assert bool(((batch.b_iso[mask] >= low) & (batch.b_iso[mask] <= high)).all())
    assert int(batch.num_atoms.max()) == batch.frac_coords.shape[1]  # padding only up to the largest crystal
    crystals = batch.to_crystals()  # validates every value
    assert [c.space_group for c in crystals] == batch.space_group.tolist()


def test_fixed_space_group(device: str) -> None:
    batch = SpaceGroupSampler(seed=1, device=device).sample(5, space_group=62)
    assert batch.space_group.tolist() == [62] * 5


def test_space_groups_restrict_the_draw() -> None:
    batch = SpaceGroupSampler(space_groups=[2, 14, 225], seed=3).sample(40)
    assert set(batch.space_group.tolist()) <= {2, 14, 225}


def test_statistics_weighting_prefers_frequent_groups() -> None:
    counts = default_statistics().space_group_counts
    frequent = max(counts, key=counts.get)
    uniform = SpaceGroupSampler(seed=0).sample(400).space_group
    weighted = SpaceGroupSampler(seed=0, space_group_weights="statistics").sample(400).space_group
    assert int((weighted == frequent).sum()) > 4 * max(int((uniform == frequent).sum()), 1)


# ----------------------------------------------------------------------------------------------------------
# Randomness


def test_same_seed_same_crystals() -> None:
    a = SpaceGroupSampler(seed=11).sample(20)
    b = SpaceGroupSampler(seed=11).sample(20)
    for name in ("lattice", "frac_coords", "numbers", "b_iso", "mask", "space_group"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    c = SpaceGroupSampler(seed=12).sample(20)
    assert not torch.equal(a.lattice, c.lattice)


def test_consecutive_calls_continue_the_stream() -> None:
    sampler = SpaceGroupSampler(seed=5)
    first, second = sampler.sample(6), sampler.sample(6)
    assert not torch.equal(first.lattice, second.lattice)
    again = SpaceGroupSampler(seed=5)
    again.sample(6)
    assert torch.equal(again.sample(6).lattice, second.lattice)


def test_explicit_generator_leaves_own_stream_alone() -> None:
    sampler = SpaceGroupSampler(seed=5)
    other = sampler.sample(4, generator=torch.Generator().manual_seed(99))
    assert torch.equal(sampler.sample(4).lattice, SpaceGroupSampler(seed=5).sample(4).lattice)
    assert torch.equal(other.lattice, SpaceGroupSampler(seed=99).sample(4).lattice)


def test_global_rng_untouched() -> None:
    state = torch.random.get_rng_state()
    SpaceGroupSampler(seed=None).sample(3)
    assert torch.equal(state, torch.random.get_rng_state())


def test_pickle_continues_stream_and_repr() -> None:
    sampler = SpaceGroupSampler(space_groups=[62, 14], seed=4, max_atoms=60)
    fresh_copy = pickle.loads(pickle.dumps(sampler))  # before first use: no tables, no generator yet
    assert torch.equal(
        fresh_copy.sample(3).lattice, SpaceGroupSampler([62, 14], seed=4, max_atoms=60).sample(3).lattice
    )
    sampler.sample(3)
    copy = pickle.loads(pickle.dumps(sampler))
    assert torch.equal(copy.sample(3).lattice, sampler.sample(3).lattice)
    text = repr(sampler)
    for part in ("space_groups=[62, 14]", "seed=4", "max_atoms=60", "min_distance_scale=1.0", "device='cpu'"):
        assert part in text


# ----------------------------------------------------------------------------------------------------------
# Physics: labels, lattice constraints, distances, atom cap, Wyckoff rules


def test_labels_match_spglib() -> None:
    """Every sampled crystal of these groups has exactly the requested group by spglib at 1e-3 Å."""
    sampler = SpaceGroupSampler(seed=2)
    wrong = []
    for group in LABEL_GROUPS:
        for crystal in sampler.sample(6, space_group=group).to_crystals():
            found = crystal.detect_space_group(symprec=1e-3)
            if found != group:
                wrong.append((group, found, crystal.formula))
    assert not wrong, f"spglib disagrees with the label: {wrong}"


def test_labels_exact_where_pushes_balance_without_a_spglib_check() -> None:
    """F23, P23 and P4_232: pushing every site apart brought a third of their crystals onto special values
    with more symmetry (Fm-3, Pm-3, Pm-3n) when the certifying site could move too (29 of these 120 crystals
    at 1e-5 Å); it never moves now, so the default sampler (no spglib check) labels them exactly. Checked at
    1e-5 Å: a balanced push is exact, while a free draw lands within 1e-3 Å of a special arrangement about
    twice in 10,000 crystals by chance."""
    sampler = SpaceGroupSampler(seed=5)
    assert sampler.verify_symprec is None
    wrong = []
    for group in (196, 195, 208):
        batch = sampler.sample(40, space_group=group)
        for crystal in batch.to_crystals():
            found = crystal.detect_space_group(symprec=1e-5)
            if found != group:
                wrong.append((group, found))
    assert not wrong, f"spglib finds more symmetry than the label: {wrong}"


def test_certifying_sites_keep_clear_of_special_values_at_the_spglib_tolerance() -> None:
    """P23 with seed 0: best-candidate placement used to put a certifying 12j orbit within 10⁻⁴ Å of a more
    symmetric arrangement (x = -z, or a coordinate at 1/2) in 3 of these 1,000 crystals, which spglib at
    1e-3 Å reads as P-43m or Pm-3; candidates that close to a special value are never kept now."""
    sampler = SpaceGroupSampler(seed=0)
    found = [c.detect_space_group(symprec=1e-3) for c in sampler.sample(1000, space_group=195).to_crystals()]
    assert found.count(195) == 1000, sorted(set(found) - {195})


def test_special_candidates_flag_near_relations_of_the_free_coordinates_only() -> None:
    cubic = 5.0 * torch.eye(3, dtype=torch.float64)[None]
    general = torch.eye(3, dtype=torch.float64)[None]  # x, y, z free
    first = torch.tensor(
        [[[0.29, 0.29 + 5e-5, 0.67], [0.29, 0.41, 0.5 - 1e-4], [0.29, 0.41, 0.67], [0.2501, 0.41, 0.67]]],
        dtype=torch.float64,
    )
    assert special_candidates(first, general, cubic).tolist() == [[True, True, False, True]]
    # (x, 0, 1/2): y and z are the site's own special values; only x can come near one.
    line = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]], dtype=torch.float64)
    on_line = torch.tensor([[[0.2, 0.0, 0.5], [0.25 + 1e-5, 0.0, 0.5]]], dtype=torch.float64)
    assert special_candidates(on_line, line, cubic).tolist() == [[False, True]]
    # The margin is in Å: 3e-4 off in fractions is 1.5e-3 Å in a 5 Å cell, 0.03 Å in a 100 Å one.
    off = torch.tensor([[[0.29, 0.29 + 3e-4, 0.67]]], dtype=torch.float64)
    assert special_candidates(off, general, cubic).item()
    assert not special_candidates(off, general, 20 * cubic).item()


def test_certificate_sites_are_one_faithful_site_or_one_pair() -> None:
    """Every certified composition marks one site (a faithful position, its element's only site) or a pair
    of such sites of two elements; the marked sites are real sites."""
    sampler = SpaceGroupSampler(seed=3)
    t = sampler._device_tables()
    groups = torch.arange(1, 231).repeat(4)
    c = draw_composition(t, groups, torch.zeros_like(groups, dtype=torch.bool), sampler.generator)
    certified = certify(t, c)
    marked = certificate_sites(t, c)
    assert bool((marked <= c.valid).all())
    counts = marked.sum(dim=1)
    assert bool(((counts >= 1) == certified).all())
    assert bool((counts <= 2).all())
    single = marked & t.faithful[c.group - 1].gather(1, c.position)
    assert bool(((counts == 1) <= (single.sum(dim=1) == 1)).all())


@pytest.mark.parametrize(
    ("group", "system"),
    [
        (2, "triclinic"),
        (14, "monoclinic"),
        (62, "orthorhombic"),
        (139, "tetragonal"),
        (166, "rhombohedral"),
        (186, "hexagonal"),
        (225, "cubic"),
    ],
)
def test_lattice_constraints_exact(group: int, system: str) -> None:
    assert lattice_system(group) == system
    for crystal in SpaceGroupSampler(seed=0).sample(8, space_group=group).to_crystals():
        a, b, c, alpha, beta, gamma = crystal.cell_parameters
        angles = {"alpha": alpha, "beta": beta, "gamma": gamma}
        right = {
            "triclinic": (),
            "monoclinic": ("alpha", "gamma"),
            "orthorhombic": ("alpha", "beta", "gamma"),
            "tetragonal": ("alpha", "beta", "gamma"),
            "rhombohedral": ("alpha", "beta"),
            "hexagonal": ("alpha", "beta"),
            "cubic": ("alpha", "beta", "gamma"),
        }[system]
        for name in right:
            assert angles[name] == pytest.approx(90.0, abs=1e-9), (system, name, angles)
        if system in ("rhombohedral", "hexagonal"):
            assert gamma == pytest.approx(120.0, abs=1e-9)
        if system in ("tetragonal", "rhombohedral", "hexagonal", "cubic"):
            assert b == pytest.approx(a, rel=1e-12)
        if system == "cubic":
            assert c == pytest.approx(a, rel=1e-12)
        # P-1 and P2_1/c draw from the kernel over their own fitted cells, whose bounds are wider than the
        # Gaussian's (real standard monoclinic cells reach beta = 135°).
        if system == "monoclinic":
            assert KERNEL_ANGLE_RANGE["monoclinic"][0] <= beta <= KERNEL_ANGLE_RANGE["monoclinic"][1]
        if system == "triclinic":
            low, high = KERNEL_ANGLE_RANGE["triclinic"]
            assert all(low <= x <= high for x in angles.values())


def test_cells_keep_clear_of_more_symmetric_lattices() -> None:
    """Where the atoms sit on fixed special positions, a cell within spglib's tolerance of a more symmetric
    lattice makes it read a higher group (Pmmm crystals with a within 10⁻³ Å of b read as P4/mmm: 3 in
    1,000 before): cells are drawn clear of those metrics by METRIC_MARGIN, the equal-edge rule of each system
    still exact."""
    tables = SpaceGroupSampler()._device_tables()
    groups = torch.tensor([47, 69, 123, 10, 14, 166]).repeat_interleave(3000)
    volume = torch.full(groups.shape, 300.0, dtype=torch.float64)
    lattice = draw_lattices(tables, groups, volume, torch.Generator().manual_seed(5))
    log_a, log_b, log_c = lattice.norm(dim=2).log().unbind(dim=1)
    orthorhombic = (groups == 47) | (groups == 69)
    for gap in (log_b - log_a, log_c - log_a, log_c - log_b):
        assert float(gap[orthorhombic].abs().min()) >= METRIC_MARGIN * (1 - 1e-9)
    tetragonal = groups == 123
    assert float((log_c - log_a)[tetragonal].abs().min()) >= METRIC_MARGIN * (1 - 1e-9)
    assert float((log_b - log_a)[tetragonal].abs().max()) < 1e-12
    monoclinic = (groups == 10) | (groups == 14)
    a, c = lattice[:, 0], lattice[:, 2]
    cos_beta = (a * c).sum(dim=1) / a.norm(dim=1) / c.norm(dim=1)
    beta = torch.rad2deg(torch.arccos(cos_beta))
    assert float((beta[monoclinic] - 90.0).abs().min()) >= METRIC_ANGLE_MARGIN * (1 - 1e-9)
    rhombohedral = groups == 166
    for ratio in (3 / 8, 3 / 2, 6):
        gap = (log_c - log_a)[rhombohedral] - 0.5 * math.log(ratio)
        assert float(gap.abs().min()) >= METRIC_MARGIN * (1 - 1e-9)


@pytest.mark.parametrize(("scale", "statistics"), [(1.0, "default"), (0.7, "default"), (1.0, "default-v1")])
def test_minimum_distance_respected(scale: float, statistics: str) -> None:
    sampler = SpaceGroupSampler(seed=3, min_distance_scale=scale, statistics=statistics)
    table = sampler.min_distance_table()
    for crystal in sampler.sample(48).to_crystals():
        ratio = _min_distance_ratio(crystal.lattice, crystal.frac_coords, crystal.numbers, table)
        assert ratio >= 1.0 - 1e-9, (crystal, ratio)


def test_minimum_distance_tables() -> None:
    sampler = SpaceGroupSampler()
    stats = sampler.resolved_statistics()
    floor, target = sampler.min_distance_table(), sampler.target_distance_table()
    assert np.allclose(floor, stats.min_distance_floor * target)
    assert np.allclose(floor, floor.T) and floor[0].sum() == 0.0
    assert target[8, 14] == pytest.approx(stats.min_distance("Si", "O"))  # O = 8, Si = 14
    assert 1.4 < stats.min_distance("O", "Si") < 1.7 and 2.0 < stats.min_distance(8, 8) < 2.5
    radii = covalent_radii()
    v1 = SpaceGroupSampler(statistics="default-v1").min_distance_table()
    assert v1[26, 8] == pytest.approx(0.5 * (radii[26] + radii[8]))  # version 1: half the radii sum


def test_no_cell_edge_below_the_fitted_shortest_edge() -> None:
    sampler = SpaceGroupSampler(seed=4)
    edge = sampler.resolved_statistics().min_cell_edge
    assert edge >= 2.0
    batch = sampler.sample(64)
    lengths = batch.lattice.norm(dim=2)
    assert bool((lengths >= edge - 1e-9).all())


def test_minimum_distance_can_be_switched_off() -> None:
    # One at a time, every crystal's first geometry works (a small call's default waves draft three at once).
    sampler = SpaceGroupSampler(seed=3, min_distance_scale=0.0, parallel_compositions=1)
    sampler.sample(32)
    assert sampler.counters.geometries == 32 and sampler.counters.expansions == 0
    sampler = SpaceGroupSampler(seed=3, min_distance_scale=0.0)
    sampler.sample(32)
    assert sampler.counters.geometries == 3 * 32 and sampler.counters.expansions == 0


def test_counters_report_redraws() -> None:
    sampler = SpaceGroupSampler(seed=0, min_distance_scale=0.7)
    batch = sampler.sample(64)
    counters = sampler.counters
    assert counters.crystals == 64
    assert counters.geometries >= 64 and counters.compositions >= 64
    assert counters.site_draws >= counters.sites > 0
    assert "per crystal" in counters.summary()
    by_group = counters.by_group()
    assert sum(n for n, _, _ in by_group.values()) == 64
    assert set(by_group) == set(batch.space_group.tolist())
    assert all(geometries >= 1.0 and expansions >= 0.0 for _, geometries, expansions in by_group.values())
    sampler.reset_counters()
    assert sampler.counters.crystals == 0


@pytest.mark.parametrize("max_atoms", [8, 24])
def test_atom_cap(max_atoms: int) -> None:
    groups = [1, 2, 14, 62, 139, 191, 221]
    batch = SpaceGroupSampler(space_groups=groups, seed=0, max_atoms=max_atoms).sample(60)
    assert int(batch.num_atoms.max()) <= max_atoms


def test_fixed_positions_used_once_and_slots_consistent() -> None:
    sampler = SpaceGroupSampler(seed=0)
    t = sampler._device_tables()
    groups = torch.tensor([221, 225, 47, 123, 191, 2] * 50)
    generator = torch.Generator().manual_seed(0)
    for force in (False, True):
        c = draw_composition(t, groups, torch.full_like(groups, force, dtype=torch.bool), generator)
        fixed = (t.dof[c.group - 1].gather(1, c.position) == 0) & c.valid
        for row in range(len(groups)):
            used = c.position[row][fixed[row]].tolist()
            assert len(used) == len(set(used)), (int(groups[row]), used)
        assert int(c.multiplicity(t).sum(dim=1).max()) <= sampler.max_atoms
        assert bool((c.number[c.valid] >= 1).all())


def test_sites_lie_on_their_wyckoff_positions() -> None:
    """spglib's Wyckoff analysis of sampled crystals finds as many sites as the sampler placed orbits of
    each multiplicity (a test of the orbit expansion, independent of the tables)."""
    crystal = SpaceGroupSampler(seed=8).sample(1, space_group=141).to_crystals()[0]
    sites = crystal.wyckoff_sites(symprec=1e-3)
    assert sum(len(s.atoms) for s in sites) == crystal.num_atoms
    assert all(len(s.atoms) == s.position.multiplicity for s in sites)


# ----------------------------------------------------------------------------------------------------------
# Shipped tables


def test_tables_equal_the_derivation() -> None:
    shipped = load_tables()
    for group in (1, 2, 15, 47, 68, 142, 167, 191, 227):
        rows = shipped.positions_of(group)
        derived = wyckoff_positions(group)
        assert len(rows) == len(derived)
        for q, w in zip(rows, derived, strict=True):
            assert shipped.letter[q] == w.letter and shipped.multiplicity[q] == w.multiplicity
            assert shipped.dof[q] == w.dof
            np.testing.assert_array_equal(shipped.representative[q], w.representative)
            np.testing.assert_array_equal(shipped.basis[q][: w.dof], w.basis)
            ops = slice(shipped.op_start[q], shipped.op_start[q] + w.multiplicity)
            np.testing.assert_array_equal(shipped.rotations[ops], w.rotations)
            np.testing.assert_array_equal(shipped.translations[ops], w.translations)


@pytest.mark.parametrize("group", [1, 2, 4, 75, 225])
def test_faithful_flags_are_reproducible(group: int) -> None:
    """Faithfulness is a generic property: a fresh random check agrees with the shipped table."""
    shipped = load_tables()
    rows = shipped.positions_of(group)
    faithful, pair = faithful_flags(group, np.random.default_rng(12345))
    np.testing.assert_array_equal(faithful, shipped.faithful[rows.start : rows.stop])
    np.testing.assert_array_equal(pair, shipped.pair_faithful[group - 1, : len(rows), : len(rows)])


def test_general_position_of_p1_is_not_faithful_but_pairs_are() -> None:
    tables = derive_tables(groups=range(1, 3))
    assert not tables.faithful[tables.positions_of(1)][0]  # one atom in P1 has inversion symmetry
    assert tables.pair_faithful[0, 0, 0]  # two different atoms in P1 do not
    assert tables.faithful[tables.positions_of(2)].all()  # P-1: every single orbit is exactly P-1


# ----------------------------------------------------------------------------------------------------------
# Statistics


def test_fit_save_load_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = fit_statistics(CIF_DIR, source="test fixtures")
    bar = capsys.readouterr().err  # a progress bar over the structures, on stderr
    assert "fit_statistics" in bar and f"{len(list(CIF_DIR.glob('*.cif')))}/" in bar
    assert stats.num_structures + stats.num_skipped == len(list(CIF_DIR.glob("*.cif")))
    assert sum(stats.space_group_counts.values()) == stats.num_structures
    assert sum(stats.num_elements_counts) == stats.num_structures
    path = tmp_path / "stats.json"
    stats.save(path)
    loaded = SamplerStatistics.load(path)
    assert loaded == stats
    batch = SpaceGroupSampler(statistics=path, seed=0).sample(8)
    assert len(batch) == 8


def _rock_salt(a: float = 5.64) -> Crystal:
    """NaCl in its conventional cell (Fm-3m, 4 Na + 4 Cl), edge ``a`` in Å."""
    na = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    cl = [[0.5, 0.5, 0.5], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]
    return Crystal.from_parameters(a, a, a, 90, 90, 90, na + cl, ["Na"] * 4 + ["Cl"] * 4)


def test_fit_accepts_crystals_and_counts_sites() -> None:
    rocksalt = _rock_salt()
    stats = fit_statistics([rocksalt, rocksalt], progress=False)
    assert stats.space_group_counts == {225: 2}
    assert stats.element_counts[225] == {"Cl": 2, "Na": 2}
    assert stats.sites_per_element_counts["Na"][0] == 2
    assert stats.sites_by_system_counts == {"cubic": {"Cl": (2,) + (0,) * 11, "Na": (2,) + (0,) * 11}}
    assert stats.wyckoff_counts[225] == {"a": 2, "b": 2}
    assert stats.num_elements_counts[1] == 2


def test_fit_counts_each_compound_at_most_max_per_compound_times() -> None:
    """Refinements of one compound (rock salt at three cell edges, and once more as a 2x1x1 supercell) count
    at most ``max_per_compound`` times: the first ones given, every statistic alike; another compound of
    the same group (KCl) and the same formula in another group (NaCl in a CsCl-type cell) are other
    compounds."""
    rock_salts = [_rock_salt(5.64), _rock_salt(5.60), _rock_salt(5.70)]
    supercell = Crystal.from_parameters(
        11.28, 5.64, 5.64, 90, 90, 90,
        [[x / 2 + dx, y, z] for dx in (0.0, 0.5) for x, y, z in rock_salts[0].frac_coords],
        [*rock_salts[0].numbers] * 2,
    )  # fmt: skip
    potassium = dataclasses.replace(_rock_salt(6.29), numbers=np.where(_rock_salt().numbers == 11, 19, 17))
    cesium_type = Crystal.from_parameters(
        3.0, 3.0, 3.0, 90, 90, 90, [[0, 0, 0], [0.5, 0.5, 0.5]], ["Na", "Cl"]
    )
    collection = [*rock_salts, supercell, potassium, cesium_type]

    every = fit_statistics(collection, progress=False)
    assert every.num_structures == 6 and every.space_group_counts == {221: 1, 225: 5}
    assert every.summary["repeats_left_out"] == 0
    one = fit_statistics(collection, progress=False, max_per_compound=1)
    assert one.num_structures == 3 and one.space_group_counts == {221: 1, 225: 2}
    assert one.element_counts[225] == {"Cl": 2, "K": 1, "Na": 1}
    assert one.summary["repeats_left_out"] == 3 and one.num_skipped == 0
    # The first rock salt is the one kept: the median of the kept cells' edges (3.0, NaCl's, 6.29 Å) is its.
    assert one.summary["shortest_cell_edge_A"]["q50"] == pytest.approx(5.64, abs=1e-3)
    two = fit_statistics(collection, progress=False, max_per_compound=2)
    assert two.space_group_counts == {221: 1, 225: 3} and two.summary["repeats_left_out"] == 2
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="max_per_compound"):
            fit_statistics(collection, progress=False, max_per_compound=bad)


def test_compound_formula_is_reduced_and_independent_of_the_cell() -> None:
    from xrdsynth.sampler._fit import compound_formula

    assert compound_formula([8, 14, 8]) == "O2Si"
    assert compound_formula([14, 8, 8] * 6) == compound_formula([8, 8, 14]) == "O2Si"
    assert compound_formula([14, 8] * 6) == "OSi"
    assert compound_formula([11, 17] * 4) == "ClNa"
    assert compound_formula([]) == ""


def test_sites_per_element_follow_the_crystal_system() -> None:
    # Real low-symmetry crystals spread each element over more sites than cubic ones do (about 3 O sites
    # per monoclinic or triclinic mineral in amcsd-dev against 1 in a cubic one); the sampler must too,
    # or its monoclinic cells come out with a third of the atoms and half the volume of real ones.
    stats = default_statistics()
    for system in ("triclinic", "monoclinic", "cubic"):
        assert sum(map(sum, stats.sites_by_system_counts[system].values())) > 100

    def mean_sites(system: str, element: str) -> float:
        histogram = np.asarray(stats.sites_by_system_counts[system][element], dtype=np.float64)
        return float(histogram @ np.arange(1, len(histogram) + 1) / histogram.sum())

    assert mean_sites("monoclinic", "O") > 2 * mean_sites("cubic", "O")
    sampler = SpaceGroupSampler(seed=3)
    oxygen_sites = {}
    for group in (14, 225):  # P2_1/c and Fm-3m
        crystals = sampler.sample(300, space_group=group).to_crystals()
        sites = [sum(int(c.numbers[s.atoms[0]]) == 8 for s in c.wyckoff_sites()) for c in crystals]
        oxygen_sites[group] = np.mean([n for n in sites if n > 0])
    assert oxygen_sites[14] > 2 * oxygen_sites[225]
    # Old statistics files without the split still load and sample alike for every system.
    old = dataclasses.replace(stats, sites_by_system_counts={})
    assert len(SpaceGroupSampler(statistics=old, seed=0).sample(4, space_group=14)) == 4


def test_default_statistics_are_shipped_and_sane() -> None:
    stats = default_statistics()
    assert stats.num_structures > 7000
    assert "amcsd" in stats.source
    assert 0.2 < np.exp(stats.packing_fraction_log_mean) < 0.8
    # Effective volumes: oxygen smaller than its cations' share, all positive; the residual is narrower
    # than the packing fraction it replaces.
    assert 6.0 < stats.element_volumes["O"] < 12.0 < stats.element_volumes["Ca"]
    assert all(v > 0 for v in stats.element_volumes.values())
    assert stats.summary["volume_residual_log_std"] < stats.summary["packing_fraction_log_std"]
    assert -1.0 < stats.volume_shift <= 0.0
    assert stats.min_distance_quantile == MIN_DISTANCE_QUANTILE and 0.0 < stats.min_distance_floor <= 1.0
    # Bonds are short and tight, like-ion contacts long: Si-O near 1.6 Å, O-O near the tetrahedron edge.
    assert 1.5 < stats.min_distance(14, 8) < 1.7 and 2.2 < stats.min_distance(8, 8) < 2.6
    assert 2.0 <= stats.min_cell_edge < 3.0
    assert sum(len(sets) for sets in stats.element_set_counts.values()) > 1000
    assert sum(sum(c.values()) for c in stats.anion_wyckoff_counts.values()) > 0


def _monoclinic_angle(lattice: np.ndarray) -> float:
    """The angle in degrees (90-180) between the two edges of a monoclinic cell that are not at 90°."""
    return 90.0 + max(abs(angle - 90.0) for angle in parameters_from_lattice(lattice)[3:])


def _most_orthogonal_angle(lattice: np.ndarray) -> float:
    """|90° - angle| of the most nearly orthogonal basis of the plane of a monoclinic cell's two oblique
    edges: the realism report's measure (scripts/plot_sampler_realism.py), small for a pseudo-orthorhombic
    cell in whatever setting it is written."""
    return _realism_script().most_orthogonal_deviation(lattice)


@functools.cache
def _realism_script():
    path = Path(__file__).resolve().parents[1] / "scripts" / "plot_sampler_realism.py"
    spec = importlib.util.spec_from_file_location("plot_sampler_realism", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gaussian_only(stats: SamplerStatistics) -> SamplerStatistics:
    """The statistics without their cells (no kernel, neither per group nor per system): every cell shape is
    drawn from the Gaussian fitted per lattice system."""
    return dataclasses.replace(
        stats,
        lattice={s: dataclasses.replace(shape, samples=()) for s, shape in stats.lattice.items()},
        cells_by_group={},
    )


def test_cell_shapes_follow_the_fitted_cells_not_only_their_gaussian() -> None:
    # A quarter of amcsd-dev's monoclinic cells are pseudo-orthorhombic: written in the standard setting
    # (beta up to 135°) they have another cell choice within 3° of 90° (P2_1/n settings of P2_1/c minerals).
    # A Gaussian over (b/a, c/a, beta) keeps the means but not that correlation (a tenth of its draws); the
    # kernel density over the fitted cells keeps it.
    stats = default_statistics()
    fitted = np.asarray(stats.lattice["monoclinic"].samples)
    assert fitted.shape[0] == stats.lattice["monoclinic"].count > 500
    # Kept where a system has enough cells to stand for it; amcsd-dev's 52 triclinic cells are too few (a
    # kernel over them would return little more than those cells): the Gaussian is drawn there.
    for system, shape in stats.lattice.items():
        kept = bool(shape.variables) and shape.count >= 200
        assert len(shape.samples) == (shape.count if kept else 0), system
    assert not stats.lattice["triclinic"].samples and stats.lattice["triclinic"].count > 0

    def shares(statistics: SamplerStatistics) -> tuple[float, float]:
        lattices = SpaceGroupSampler(statistics=statistics, seed=5).sample(400, space_group=14).lattice
        near = [_most_orthogonal_angle(cell.numpy()) < 3.0 for cell in lattices]
        beta = [_monoclinic_angle(cell.numpy()) for cell in lattices]
        return float(np.mean(near)), float(np.std(beta))

    real = np.mean([_most_orthogonal_angle(_unit_monoclinic(*row)) < 3.0 for row in fitted])
    kernel, _ = shares(stats)
    gaussian_only = _gaussian_only(stats)
    gaussian, _ = shares(gaussian_only)
    assert real > 0.2 and kernel > 0.75 * real and gaussian < 0.6 * real
    # One fitted cell: every draw is that cell up to the kernel's width (0.1 of the Gaussian's spread).
    one = dataclasses.replace(stats.lattice["monoclinic"], samples=((0.2, 0.1, 100.0),) * 3, count=3)
    narrow = dataclasses.replace(stats, lattice={**stats.lattice, "monoclinic": one}, cells_by_group={})
    spread = float(np.sqrt(one.cov[2][2]))
    _, width = shares(narrow)
    _, wide = shares(gaussian_only)
    assert width < 0.2 * spread < 0.3 * wide


def test_groups_with_enough_cells_draw_from_their_own() -> None:
    # The standard setting ties the symmetry elements to the axes, and real crystals of a group share how
    # their cells sit relative to them: the c glide of P2_1/c runs along the longest edge in most real
    # P2_1/c structures, far less often in cells drawn from all monoclinic cells.
    stats = default_statistics()
    assert 14 in stats.cells_by_group and 2 in stats.cells_by_group
    for group, rows in stats.cells_by_group.items():
        assert GROUP_KERNEL_MIN_CELLS <= len(rows) <= stats.space_group_counts[group], group

    def c_longest(lattices) -> float:
        return float(np.mean([np.argmax(np.linalg.norm(np.asarray(cell), axis=1)) == 2 for cell in lattices]))

    real = np.mean([np.argmax([1.0, np.exp(b), np.exp(c)]) == 2 for b, c, _ in stats.cells_by_group[14]])
    own = c_longest(SpaceGroupSampler(seed=2).sample(300, space_group=14).lattice)
    pooled_stats = dataclasses.replace(stats, cells_by_group={})
    pooled = c_longest(SpaceGroupSampler(statistics=pooled_stats, seed=2).sample(300, space_group=14).lattice)
    assert real > 0.55 and abs(own - real) < 0.1 and pooled < real - 0.15

    # One cell for P2_1/c: its crystals take that shape (up to the kernel's width); P2/c, without cells of
    # its own, draws from all monoclinic cells, exactly as statistics without cells_by_group do.
    single = dataclasses.replace(stats, cells_by_group={14: ((0.5, 0.3, 115.0),) * 3})
    lattices = SpaceGroupSampler(statistics=single, seed=3).sample(50, space_group=14).lattice.numpy()
    lengths = np.linalg.norm(lattices, axis=2)
    np.testing.assert_allclose(np.median(np.log(lengths[:, 1] / lengths[:, 0])), 0.5, atol=0.03)
    np.testing.assert_allclose(np.median([_monoclinic_angle(cell) for cell in lattices]), 115.0, atol=0.5)
    a = SpaceGroupSampler(statistics=single, seed=3).sample(20, space_group=13)
    b = SpaceGroupSampler(statistics=pooled_stats, seed=3).sample(20, space_group=13)
    torch.testing.assert_close(a.lattice, b.lattice, rtol=0, atol=0)
    torch.testing.assert_close(a.frac_coords, b.frac_coords, rtol=0, atol=0)


def test_long_real_cells_are_drawn_and_sampled_as_often_as_they_occur() -> None:
    # Layered structures have long cells: a quarter of amcsd-dev's I4/mmm cells and a third of its R-3m ones
    # (hexagonal axes) have c/a beyond 5. Kernel draws start from those cells and keep them (until session 38
    # the Gaussian's bound of 5 dropped every one, and the sampled I4/mmm c/a spanned 2.3-3.6 between its 10
    # and 90 % quantiles against 1.7-7.6 in the real cells); draws from the Gaussian keep the bound.
    stats = default_statistics()
    tables = SpaceGroupSampler()._device_tables()
    for group in (139, 166):
        real = np.exp(np.asarray(stats.cells_by_group[group])[:, 0])
        assert np.mean(real > 5.0) > 0.2, group
        groups = torch.full((4000,), group)
        lattice = draw_lattices(tables, groups, torch.full((4000,), 400.0, dtype=torch.float64),
                                torch.Generator().manual_seed(2))  # fmt: skip
        lengths = lattice.norm(dim=-1)
        drawn = (lengths[:, 2] / lengths[:, 0]).numpy()
        assert abs(np.mean(drawn > 5.0) - np.mean(real > 5.0)) < 0.04, group
        np.testing.assert_allclose(np.quantile(drawn, 0.9), np.quantile(real, 0.9), rtol=0.1)
        # The crystals keep them: placing the atoms does not reject long cells more often than typical ones.
        sampled = SpaceGroupSampler(seed=4).sample(200, space_group=group).lattice.norm(dim=-1)
        assert np.mean((sampled[:, 2] / sampled[:, 0]).numpy() > 5.0) > 0.15, group
    gaussian_only = _gaussian_only(stats)
    lattice = SpaceGroupSampler(statistics=gaussian_only, seed=1).sample(300, space_group=166).lattice
    lengths = lattice.norm(dim=-1)
    assert float((lengths[:, 2] / lengths[:, 0]).max()) <= 5.0 * (1 + 1e-9)


def test_cells_by_group_are_saved_and_checked(tmp_path: Path) -> None:
    stats = dataclasses.replace(default_statistics(), cells_by_group={14: ((0.5, 0.3, 115.0),) * 20})
    stats.save(tmp_path / "s.json")
    assert SamplerStatistics.load(tmp_path / "s.json").cells_by_group == stats.cells_by_group
    data = stats.to_dict()
    for bad, match in (
        ({"231": [[0.5, 0.3, 115.0]]}, "1..230"),
        ({"14": [[0.5, 0.3]]}, "shape variables"),
        ({"225": [[0.5]]}, "shape variables"),  # cubic cells have no shape
        ({"14": [[0.5, float("nan"), 115.0]]}, "finite"),
    ):
        with pytest.raises(ValueError, match=match):
            SamplerStatistics.from_dict({**data, "cells_by_group": bad})


def test_cell_kernel_width_sets_how_far_cells_stray_from_the_fitted_ones(tmp_path: Path) -> None:
    # One fitted P2_1/c cell: with width 0 every sampled P2_1/c cell has exactly its shape; the spread of
    # log(b/a) around it grows in proportion to the width (the system's fitted standard deviation times it).
    cell = (0.5, 0.3, 115.0)
    stats = dataclasses.replace(default_statistics(), cells_by_group={14: (cell,) * 20})
    spread = {}
    for width in (0.0, 0.05, 0.2):
        chosen = dataclasses.replace(stats, cell_kernel_width=width)
        lattices = SpaceGroupSampler(statistics=chosen, seed=5).sample(200, space_group=14).lattice.numpy()
        lengths = np.linalg.norm(lattices, axis=2)
        log_b_over_a = np.log(lengths[:, 1] / lengths[:, 0])
        spread[width] = np.std(log_b_over_a)
        if width == 0.0:
            np.testing.assert_allclose(log_b_over_a, 0.5, atol=1e-9)
            np.testing.assert_allclose(np.log(lengths[:, 2] / lengths[:, 0]), 0.3, atol=1e-9)
            np.testing.assert_allclose([_monoclinic_angle(c) for c in lattices], 115.0, atol=1e-7)
    sd = float(np.sqrt(stats.lattice["monoclinic"].cov[0][0]))
    np.testing.assert_allclose(spread[0.05], 0.05 * sd, rtol=0.15)
    np.testing.assert_allclose(spread[0.2], 0.2 * sd, rtol=0.15)

    # Saved and read back; files without the field take the default; out-of-range widths are refused.
    dataclasses.replace(stats, cell_kernel_width=0.02).save(tmp_path / "s.json")
    assert SamplerStatistics.load(tmp_path / "s.json").cell_kernel_width == 0.02
    data = stats.to_dict()
    del data["cell_kernel_width"]
    # Files from before the field keep the width they were drawn with; new fits take the current one.
    assert SamplerStatistics.from_dict(data).cell_kernel_width == FORMER_CELL_KERNEL_WIDTH == 0.1
    fitted = fit_statistics([CIF_DIR / "amcsd_0000005.cif"], progress=False)
    assert fitted.cell_kernel_width == CELL_KERNEL_WIDTH
    assert CELL_KERNEL_WIDTH == 0.02
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="cell_kernel_width"):
            SamplerStatistics.from_dict({**data, "cell_kernel_width": bad})


def _unit_monoclinic(log_b_over_a: float, log_c_over_a: float, beta: float) -> np.ndarray:
    b, c, angle = np.exp(log_b_over_a), np.exp(log_c_over_a), np.radians(beta)
    return np.array([[1.0, 0.0, 0.0], [0.0, b, 0.0], [c * np.cos(angle), 0.0, c * np.sin(angle)]])


def test_version_1_statistics_still_load_and_sample() -> None:
    v1 = named_statistics("default-v1")
    assert not v1.element_volumes and not v1.min_distances and v1.min_cell_edge == 0.0
    assert v1.min_distance_floor == 1.0 and v1.min_distance_radii_scale == 0.5
    sampler = SpaceGroupSampler(statistics="default-v1", seed=0)
    batch = sampler.sample(16)
    assert len(batch) == 16 and "default-v1" in repr(sampler)
    with pytest.raises(ValueError, match="unknown statistics name"):
        named_statistics("default-v0")


def test_compositions_are_element_sets_of_the_statistics() -> None:
    stats = default_statistics()
    known = {frozenset(key.split()) for sets in stats.element_set_counts.values() for key in sets}
    from xrdsynth._elements import element_symbol

    batch = SpaceGroupSampler(seed=9).sample(40)
    for numbers, mask in zip(batch.numbers, batch.mask, strict=True):
        elements = frozenset(element_symbol(int(z)) for z in numbers[mask].unique())
        assert elements in known, elements


def test_each_group_draws_its_own_number_of_elements() -> None:
    """The element sets are tilted per group toward the group's mean number of elements: the bcc metals of
    Im-3m (1.2 elements in amcsd-dev) and the rock salts and metals of Fm-3m (1.9) stay small, where the
    cubic system's sets average 2.4; a group without crystals keeps its system's sets unchanged."""
    stats = default_statistics()
    sets, by_system = element_set_table(stats)
    by_group = group_element_set_probabilities(stats, sets, by_system)
    assert by_group.shape == (230, sets.shape[0])
    np.testing.assert_allclose(by_group.sum(axis=1), 1.0, rtol=1e-12)
    k = (sets > 0).sum(axis=1)
    for group in (225, 229, 14):
        crystals = stats.space_group_counts[group]
        system_mean = float(by_system[CRYSTAL_SYSTEM_OF_GROUP[group - 1]] @ k)
        goal = (sum(stats.element_counts[group].values()) + ELEMENT_SMOOTHING * system_mean) / (
            crystals + ELEMENT_SMOOTHING
        )
        assert by_group[group - 1] @ k == pytest.approx(goal, abs=1e-6)
    empty = next(g for g in range(1, 231) if stats.space_group_counts.get(g, 0) == 0)
    np.testing.assert_allclose(by_group[empty - 1], by_system[CRYSTAL_SYSTEM_OF_GROUP[empty - 1]], atol=1e-9)

    # What a user sees: Im-3m crystals with one or two elements, Fm-3m ones fewer than the cubic system's.
    def mean_elements(group: int) -> float:
        batch = SpaceGroupSampler(seed=3, space_groups=[group]).sample(200)
        pairs = zip(batch.numbers, batch.mask, strict=True)
        return float(np.mean([len(numbers[mask].unique()) for numbers, mask in pairs]))

    assert mean_elements(229) < 1.5
    assert mean_elements(225) < 2.2 < mean_elements(227)


def test_calibration_moves_the_median_volume(tmp_path: Path) -> None:
    stats = fit_statistics(CIF_DIR, source="test fixtures")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        calibrated = calibrate_volume_shift(stats, crystals=48, rounds=2)
    assert np.isfinite(calibrated.volume_shift) and calibrated.volume_shift != stats.volume_shift
    # On 37 fixtures the sampled volumes follow the drawn ones weakly and the secant step can be long:
    # the shift stays inside what statistics may hold, with a warning where the bound stopped it.
    assert abs(calibrated.volume_shift) < MAX_VOLUME_SHIFT
    at_bound = abs(calibrated.volume_shift) >= MAX_VOLUME_SHIFT - 0.011
    assert at_bound == any("stopped at the bound" in str(w.message) for w in caught)
    calibrated.save(tmp_path / "calibrated.json")
    assert SamplerStatistics.load(tmp_path / "calibrated.json").volume_shift == calibrated.volume_shift
    with pytest.raises(ValueError, match="element volumes"):
        calibrate_volume_shift(named_statistics("default-v1"))


def test_nearest_images_equal_a_brute_force_search() -> None:
    """Every image shorter than the cell's smallest spacing is found exactly, in skewed cells, against a
    search over the 343 cells around the rounded difference; the shifts reach the lengths returned."""
    gen = torch.Generator().manual_seed(0)
    lattice = torch.randn(60, 3, 3, generator=gen, dtype=torch.float64) * 2 + 5 * torch.eye(
        3, dtype=torch.float64
    )
    delta = torch.rand(60, 5, 20, 3, generator=gen, dtype=torch.float64) * 4 - 2
    length2, shift = nearest_images(delta, lattice)
    cells = torch.tensor(list(itertools.product(range(-3, 4), repeat=3)), dtype=torch.float64)
    rounded = delta - torch.round(delta)
    brute = (
        torch.einsum("pkwni,pij->pkwnj", rounded[..., None, :] + cells, lattice)
        .square()
        .sum(-1)
        .min(-1)
        .values
    )
    short = brute < smallest_spacing(lattice)[:, None, None] ** 2
    assert int(short.sum()) > 1000
    torch.testing.assert_close(length2[short], brute[short], rtol=0, atol=1e-10)
    reached = torch.einsum("pkwi,pij->pkwj", delta + shift, lattice).square().sum(-1)
    torch.testing.assert_close(reached, length2, rtol=0, atol=1e-10)
    assert torch.equal(shift, torch.round(shift))
    # The lengths alone (the placement's faster form) are the same lengths.
    torch.testing.assert_close(nearest_lengths2(delta, lattice)[short], brute[short], rtol=0, atol=1e-10)
    torch.testing.assert_close(nearest_lengths2(delta, lattice), length2, rtol=1e-12, atol=1e-12)


def test_relax_separates_atoms_along_their_freedoms_only() -> None:
    """Two atoms of one orbit (x, 0, 0) and (-x, 0, 0) too close: pushing moves x only, along a."""
    lattice = torch.eye(3, dtype=torch.float64)[None] * 5.0
    xyz = torch.tensor([[[0.05, 0.0, 0.0], [0.95, 0.0, 0.0]]], dtype=torch.float64)
    mask = torch.ones(1, 2, dtype=torch.bool)
    rotation = torch.stack([torch.eye(3), -torch.eye(3)]).to(torch.float64)[None]
    basis = torch.tensor([[1.0, 0, 0], [0, 0, 0], [0, 0, 0]], dtype=torch.float64).expand(1, 2, 3, 3)
    sites = Sites(
        mask=mask,
        numbers=torch.full((1, 2), 8),
        site=torch.zeros(1, 2, dtype=torch.int64),
        first=torch.zeros(1, 1, dtype=torch.int64),
        valid=torch.ones(1, 1, dtype=torch.bool),
        jacobian=atom_jacobians(rotation, basis, mask),
        frozen=torch.zeros(1, 1, dtype=torch.bool),
    )
    table = torch.zeros(119, 119, dtype=torch.float64)
    table[8, 8] = 2.0
    assert float(clearance(xyz, lattice, sites, table)) == pytest.approx(0.25)
    moved = relax(xyz, lattice, sites, table, iterations=40)
    assert float(clearance(moved, lattice, sites, table)) >= 1.0
    assert torch.allclose(moved[0, 1], (-moved[0, 0]) % 1.0)  # still one orbit
    assert torch.equal(moved[0, :, 1:], xyz[0, :, 1:])  # y and z never move


def _recorded_pushes(monkeypatch, sampler: SpaceGroupSampler, n: int) -> list[tuple[tuple, dict]]:
    """The arguments of every call the sampler's placement makes to ``relax`` while drawing ``n`` crystals."""
    import xrdsynth.sampler._placement as placement

    calls = []

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return relax(*args, **kwargs)

    monkeypatch.setattr(placement, "relax", recording)
    sampler.sample(n)
    assert calls
    return calls


def test_relax_ordered_sums_equal_index_add_on_the_samplers_own_crystals(monkeypatch) -> None:
    """The fixed-order sums used off the CPU (index_add_ adds with atomics on CUDA, so its crystals changed
    from run to run) move the atoms as index_add_ does, on the crystals the sampler pushes apart."""
    args, kwargs = _recorded_pushes(monkeypatch, SpaceGroupSampler(seed=5), 48)[0]
    assert int(args[2].valid.sum()) > 48  # several sites per crystal
    by_index_add = relax(*args, **kwargs, ordered_sums=False)
    ordered = relax(*args, **kwargs, ordered_sums=True)
    assert not torch.equal(by_index_add, args[0])  # the atoms did move
    torch.testing.assert_close(ordered, by_index_add, rtol=0, atol=1e-9)
    assert torch.equal(relax(*args, **kwargs, ordered_sums=True), ordered)


def test_placement_in_chunks_makes_the_same_crystals(monkeypatch) -> None:
    """The placement compares each site's candidates with the earlier atoms in chunks of crystals of similar
    size (a cache-sized number of pairs): how they are chunked changes no crystal of a seed."""
    import xrdsynth.sampler._placement as placement

    def crystals() -> CrystalBatch:
        return SpaceGroupSampler(seed=11, space_groups=[2, 14, 62, 148, 194, 225, 227]).sample(40)

    monkeypatch.setattr(placement, "PAIRS_PER_CHUNK", 1 << 40)  # every site in one chunk
    whole = crystals()
    monkeypatch.setattr(placement, "PAIRS_PER_CHUNK", 256)  # a few crystals per chunk
    chunked = crystals()
    assert int(whole.mask.sum()) > 40 * 8  # crystals of several sites
    for name in ("lattice", "frac_coords", "numbers", "mask", "space_group"):
        assert torch.equal(getattr(chunked, name), getattr(whole, name)), name


def test_atoms_the_pushes_cannot_move_are_placed_at_their_whole_minimum_distance(monkeypatch) -> None:
    """Pairs of two atoms that never move (sites without free parameters, the certifying sites) reach the
    pushes already at their minimum distance: only a uniform expansion could resolve them afterwards, so
    placing them at a fraction of it (as the movable ones are) would only grow the cell."""
    import xrdsynth.sampler._placement as placement

    sampler = SpaceGroupSampler(seed=4, space_groups=[47, 123, 139, 191, 221, 225, 229, 2, 14, 62])
    table = torch.as_tensor(sampler.min_distance_table())
    checked = 0
    for args, _ in _recorded_pushes(monkeypatch, sampler, 60):
        xyz, lattice, sites = args[0], args[1], args[2]
        # The immovable atoms alone: the others keep their slots (masks are prefixes) as element 0, whose
        # pairs have no minimum distance.
        still_atom = sites.mask & (sites.jacobian.flatten(2) == 0).all(dim=-1)
        first = sites.first.clamp(max=sites.mask.shape[1] - 1)
        still = dataclasses.replace(
            sites,
            numbers=torch.where(still_atom, sites.numbers, 0),
            valid=sites.valid & still_atom.gather(1, first),
        )
        ratio = clearance(xyz, lattice, still, table)
        checked += int(torch.isfinite(ratio).sum())
        assert bool((ratio >= 1.0 - 1e-9).all()), ratio.min()
        # ... while the others are placed at PLACEMENT_FRACTION of it at least, and then pushed.
        assert float(clearance(xyz, lattice, sites, table).min()) >= placement.PLACEMENT_FRACTION - 1e-9
    assert checked >= 20  # crystals with at least one pair of immovable atoms


def _closest_listed_pair(x: torch.Tensor, lattice: torch.Tensor, sites: Sites, pairs, table: torch.Tensor):
    """(n,) per crystal, the smallest ratio of distance to ``table`` distance over the listed ``pairs``
    (with their nearest-image shifts) for coordinates ``x`` (taken back across the cell faces they were
    wrapped over since the pairs were listed: ``relax`` returns them in [0, 1))."""
    first = sites.first.clamp(max=sites.mask.shape[1] - 1)[pairs.crystal, pairs.s]
    floor = table[sites.numbers[pairs.crystal, first], sites.numbers[pairs.crystal, pairs.b]]
    delta = x[pairs.crystal, pairs.b] - x[pairs.crystal, first] + pairs.shift
    distance = torch.bmm(delta[:, None, :], lattice[pairs.crystal]).squeeze(1).norm(dim=-1)
    ratio = torch.where(floor > 0, distance / floor, math.inf)
    full = torch.full((x.shape[0],), math.inf, dtype=x.dtype)
    return full.scatter_reduce(0, pairs.crystal, ratio, "amin")


def test_pushes_never_leave_a_listed_pair_closer_than_it_started(monkeypatch) -> None:
    """With ``keep_best``, each crystal gets the step of the pushes whose closest listed pair is furthest
    from its minimum distance, the start included: pushes that balance can bring a crystal's closest pair
    closer than it started (they do for some of the sampler's own crystals without it)."""
    sampler = SpaceGroupSampler(seed=5)
    table = torch.as_tensor(sampler.min_distance_table())
    worse_plain = 0
    for args, kwargs in _recorded_pushes(monkeypatch, sampler, 96):
        xyz, lattice, sites, target, iterations = args
        assert torch.equal(kwargs["keep_best"], table)
        pairs = close_pairs(xyz, lattice, sites, target, 2.0)
        start = _closest_listed_pair(xyz, lattice, sites, pairs, table)
        best = relax(xyz, lattice, sites, target, iterations, keep_best=table)
        plain = relax(xyz, lattice, sites, target, iterations)
        best, plain = best - torch.round(best - xyz), plain - torch.round(plain - xyz)  # unwrapped
        assert bool((_closest_listed_pair(best, lattice, sites, pairs, table) >= start - 1e-9).all())
        worse_plain += int((_closest_listed_pair(plain, lattice, sites, pairs, table) < start - 1e-6).sum())
    assert worse_plain > 0


def test_categorical_draws_follow_the_weights_and_never_a_zero_weight() -> None:
    """The sampler's categorical draws (inverse of the cumulative weights): frequencies within 4 standard
    errors of the weights over 200,000 draws, and categories of weight zero (first, middle, last) never."""
    from xrdsynth.sampler._core import _categorical

    weights = torch.tensor([0.0, 1.0, 0.0, 3.0, 0.5, 0.0, 2.5, 0.0], dtype=torch.float64)
    draws = _categorical(weights.expand(200_000, -1), torch.Generator().manual_seed(0))
    counts = torch.bincount(draws, minlength=len(weights)).to(torch.float64)
    assert counts[weights == 0].sum() == 0
    expected = weights / weights.sum()
    observed = counts / counts.sum()
    error = (expected * (1 - expected) / counts.sum()).sqrt()
    assert bool(((observed - expected).abs() <= 4 * error + 1e-12).all()), (observed, expected)
    # One positive weight: always that one, wherever it is.
    for k in range(len(weights)):
        one = torch.zeros(len(weights), dtype=torch.float64)
        one[k] = 0.7
        assert bool((_categorical(one.expand(1000, -1), torch.Generator().manual_seed(k)) == k).all())


# ----------------------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("group", [0, 231, -1, 2.5, "231", "Pbnm", "Pmna2", True])
def test_bad_space_group(group: object) -> None:
    sampler = SpaceGroupSampler(seed=0)
    with pytest.raises(ValueError, match=r"space.group"):
        sampler.sample(2, space_group=group)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"space.group"):
        SpaceGroupSampler(space_groups=[1, group])  # type: ignore[list-item]


@pytest.mark.parametrize("n", [0, -3, 1.5, None])
def test_bad_n(n: object) -> None:
    with pytest.raises(ValueError, match="n must be a positive int"):
        SpaceGroupSampler(seed=0).sample(n)  # type: ignore[arg-type]


def test_unknown_statistics_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        SpaceGroupSampler(statistics=tmp_path / "missing.json")
    with pytest.raises(ValueError, match="shipped statistics by name"):
        SpaceGroupSampler(statistics="defaults")
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not an xrdsynth sampler statistics file"):
        SamplerStatistics.load(broken)


def test_impossible_max_atoms() -> None:
    # One atom per cell cannot certify P1 (one atom has inversion symmetry): two are needed.
    with pytest.raises(ValueError, match="max_atoms=1 is too small"):
        SpaceGroupSampler(space_groups=[1], max_atoms=1).sample(1)
    sampler = SpaceGroupSampler(space_groups=[2], max_atoms=1)
    assert int(sampler.sample(4).num_atoms.max()) == 1
    with pytest.raises(ValueError, match="too small"):
        sampler.sample(1, space_group=230)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_atoms": 0}, "max_atoms"),
        ({"min_distance_scale": -0.1}, "min_distance_scale"),
        ({"b_iso_range": (2.0, 1.0)}, "b_iso_range"),
        ({"space_group_weights": "often"}, "space_group_weights"),
        ({"dtype": torch.int64}, "dtype"),
        ({"seed": "zero"}, "seed"),
        ({"space_groups": []}, "space_groups"),
        ({"parallel_compositions": 0}, "parallel_compositions"),
        ({"parallel_compositions": 2.0}, "parallel_compositions"),
        ({"parallel_compositions": 21}, "parallel_compositions"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpaceGroupSampler(**kwargs)


def test_sampled_elements_stay_within_the_simulators_reach() -> None:
    """Only elements up to Pu are drawn (the default statistics hold a few heavier ones, e.g. a 'Fl' in
    amcsd-dev): every sampled crystal can be simulated."""
    from xrdsynth.sampler._probabilities import MAX_SAMPLED_Z, element_probabilities

    probabilities = element_probabilities(default_statistics())
    assert probabilities[:, MAX_SAMPLED_Z + 1 :].sum() == 0.0
    batch = SpaceGroupSampler(space_groups=[71, 129, 194, 225], seed=0).sample(512)
    numbers = batch.numbers[batch.mask]
    assert int(numbers.min()) >= 1 and int(numbers.max()) <= MAX_SAMPLED_Z


def test_explicit_space_group_weights_set_the_frequencies():
    sampler = SpaceGroupSampler(space_groups=[14, 62, 225], space_group_weights=[1.0, 0.0, 3.0], seed=3)
    counts = torch.bincount(sampler.sample(400).space_group, minlength=231)
    assert int(counts[62]) == 0
    assert 0.65 < int(counts[225]) / 400 < 0.85  # 3/4 expected; binomial sd ~0.02
    assert int(counts[14]) + int(counts[225]) == 400


@pytest.mark.parametrize("weights", [[1.0], [1.0, -1.0], [0.0, 0.0], [1.0, float("nan")], "often"])
def test_bad_space_group_weights_raise(weights):
    with pytest.raises(ValueError, match="space_group_weights"):
        SpaceGroupSampler(space_groups=[14, 62], space_group_weights=weights)


def test_verify_symprec_labels_agree_with_spglib() -> None:
    sampler = SpaceGroupSampler(space_groups=[210, 142, 186], seed=11, verify_symprec=1e-3)
    batch = sampler.sample(30)
    for crystal in batch.to_crystals():
        assert crystal.detect_space_group(1e-3) == crystal.space_group
    assert "verify_symprec=0.001" in repr(sampler)


def test_verify_symprec_redraws_the_crystals_spglib_rejects(monkeypatch) -> None:
    import xrdsynth.sampler._sampler as module

    plain = SpaceGroupSampler(space_groups=[62], seed=5).sample(4)
    seen: list[int] = []

    def reject_the_first_check_of_one_crystal(crystal, symprec):
        seen.append(1)
        return 0 if len(seen) == 2 else crystal.space_group  # the second crystal fails once

    monkeypatch.setattr(module, "_spglib_number", reject_the_first_check_of_one_crystal)
    sampler = SpaceGroupSampler(space_groups=[62], seed=5, verify_symprec=1e-3)
    checked = sampler.sample(4)
    assert sampler.counters.symmetry_rejections == 1
    assert sampler.counters.crystals == 4
    assert "redrawn after the spglib check" in sampler.counters.summary()
    before, after = plain.to_crystals(), checked.to_crystals()
    for i in (0, 2, 3):
        assert after[i].allclose(before[i])
    assert not after[1].allclose(before[1])
    assert after[1].space_group == 62


@pytest.mark.parametrize("value", [0.0, -1e-3, 2.0, "tight"])
def test_bad_verify_symprec_raises(value) -> None:
    with pytest.raises(ValueError, match="verify_symprec"):
        SpaceGroupSampler(verify_symprec=value)


# ----------------------------------------------------------------------------------------------------------
# Fitted volumes and distances against closed forms


def test_shortest_pair_distances_of_rock_salt() -> None:
    from xrdsynth.sampler import shortest_pair_distances

    a = 5.64
    rocksalt = _rock_salt(a)
    distances = shortest_pair_distances(rocksalt)
    assert distances[(11, 17)] == pytest.approx(a / 2)
    assert distances[(11, 11)] == pytest.approx(a / np.sqrt(2))
    assert distances[(17, 17)] == pytest.approx(a / np.sqrt(2))
    one_atom = Crystal.from_parameters(2.5, 3.0, 4.0, 90, 90, 90, [[0, 0, 0]], ["Fe"])
    assert shortest_pair_distances(one_atom) == {(26, 26): pytest.approx(2.5)}  # its own translation


def test_element_volumes_solve_an_exact_system() -> None:
    from xrdsynth.sampler._fit import fit_element_volumes

    compositions = [{8: 2.0}, {14: 1.0}, {8: 2.0, 14: 1.0}, {8: 4.0, 14: 1.0}] * 10
    volumes = [2 * 9.0, 12.0, 2 * 9.0 + 12.0, 4 * 9.0 + 12.0] * 10
    fitted, factor, residual = fit_element_volumes(compositions, volumes, ridge=1e-6)
    assert fitted[8] == pytest.approx(9.0, rel=1e-4) and fitted[14] == pytest.approx(12.0, rel=1e-4)
    assert factor > 0 and np.allclose(residual, 0.0, atol=1e-4)


def test_min_distances_quantile_and_fallback() -> None:
    from xrdsynth.sampler._fit import resolve_min_distances

    seen = {(8, 14): list(np.linspace(1.5, 1.7, 101)), (8, 8): [2.0, 2.5, 3.0]}
    resolved, scale = resolve_min_distances(seen, quantile=0.05, min_structures=5)
    assert resolved[(8, 14)] == pytest.approx(1.51)  # 5 % quantile of 1.50..1.70
    radii = covalent_radii()
    assert scale == pytest.approx(1.51 / (radii[8] + radii[14]))  # the only well-seen pair
    assert resolved[(8, 8)] == pytest.approx(min(scale * 2 * radii[8], 2.0))  # rare pair: radii rule, capped


def test_num_threads_gives_the_same_crystals_and_restores_torch() -> None:
    """``sample`` runs on one intra-op thread by default and restores torch's count; the crystals are those
    of ``num_threads=None`` (torch's setting)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        own = SpaceGroupSampler(seed=5).sample(64)
        assert torch.get_num_threads() == 2
        shared = SpaceGroupSampler(seed=5, num_threads=None).sample(64)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(own.space_group, shared.space_group)
    assert torch.equal(own.numbers, shared.numbers)
    assert torch.allclose(own.lattice, shared.lattice, rtol=1e-12, atol=0)
    assert torch.allclose(own.frac_coords, shared.frac_coords, rtol=0, atol=1e-12)


def test_fit_keeps_the_cells_of_groups_with_enough_of_them() -> None:
    def rutile(c: float) -> Crystal:
        u = 0.305
        coords = [[0, 0, 0], [0.5, 0.5, 0.5], [u, u, 0], [-u, -u, 0]]
        coords += [[0.5 + u, 0.5 - u, 0.5], [0.5 - u, 0.5 + u, 0.5]]
        return Crystal.from_parameters(4.594, 4.594, c, 90, 90, 90, coords, ["Ti", "Ti", "O", "O", "O", "O"])

    c_values = np.linspace(2.8, 3.2, GROUP_KERNEL_MIN_CELLS)
    stats = fit_statistics([rutile(c) for c in c_values], progress=False)
    assert list(stats.cells_by_group) == [136]
    np.testing.assert_allclose(
        sorted(row[0] for row in stats.cells_by_group[136]), np.log(c_values / 4.594), atol=1e-4
    )
    fewer = fit_statistics([rutile(c) for c in c_values[1:]], progress=False)
    assert fewer.cells_by_group == {}


# ----------------------------------------------------------------------------------------------------------
# Several compositions at once (the GPU's way)


def test_parallel_compositions_make_the_same_crystals_in_fewer_rounds(monkeypatch) -> None:
    """Trying several compositions of a crystal at once and keeping the first draft that works, in the order
    one-at-a-time drafting walks, gives crystals of the same distribution (two-sample KS on the
    quantities that set a pattern), exact labels and minimum distances, in far fewer placement rounds."""
    from scipy.stats import ks_2samp

    import xrdsynth.sampler._sampler as sampler_module

    rounds = []
    place_sites = sampler_module.place_sites

    def counted(*args, **kwargs):
        rounds[-1] += 1
        return place_sites(*args, **kwargs)

    monkeypatch.setattr(sampler_module, "place_sites", counted)
    batches = {}
    for k in (1, 4):
        rounds.append(0)
        sampler = SpaceGroupSampler(seed=30 + k, parallel_compositions=k)
        batches[k] = sampler.sample(384)
        assert sampler.counters.crystals == 384
    assert rounds[1] <= 4 < 8 <= rounds[0], rounds  # 3 against 15 for 1,024 crystals (docs/sampler.md)

    def quantities(batch: CrystalBatch) -> dict[str, np.ndarray]:
        atoms = batch.mask.sum(dim=1).double()
        volume = torch.linalg.det(batch.lattice).abs()
        mean_z = (batch.numbers * batch.mask).sum(dim=1).double() / atoms
        return {"atoms": atoms.numpy(), "volume per atom": (volume / atoms).numpy(), "mean Z": mean_z.numpy()}

    one, four = quantities(batches[1]), quantities(batches[4])
    for name in one:
        assert ks_2samp(one[name], four[name]).pvalue > 1e-3, name
    table = SpaceGroupSampler().min_distance_table()
    crystals = batches[4].to_crystals()
    for crystal in crystals[:48]:
        assert crystal.detect_space_group(symprec=1e-3) == crystal.space_group
        ratio = _min_distance_ratio(crystal.lattice, crystal.frac_coords, crystal.numbers, table)
        assert ratio >= 1.0 - 1e-9
    again = SpaceGroupSampler(seed=34, parallel_compositions=4).sample(384)
    assert torch.equal(again.frac_coords, batches[4].frac_coords)  # seeded as ever


def test_small_cpu_calls_try_compositions_in_waves_by_default(monkeypatch) -> None:
    """A CPU call for fewer than 384 crystals is mostly fixed overhead per round: by default it drafts as
    ``parallel_compositions=4`` does (the same crystals), not one at a time; larger calls one at a time."""
    import xrdsynth.sampler._sampler as sampler_module

    default = SpaceGroupSampler(seed=12).sample(12)
    waves = SpaceGroupSampler(seed=12, parallel_compositions=4).sample(12)
    in_turn = SpaceGroupSampler(seed=12, parallel_compositions=1).sample(12)
    assert torch.equal(default.frac_coords, waves.frac_coords) and torch.equal(default.lattice, waves.lattice)
    assert not torch.equal(default.lattice, in_turn.lattice)
    # At or above the threshold (lowered here to keep the test quick) the default drafts one at a time.
    monkeypatch.setattr(sampler_module, "WAVES_BELOW", 12)
    large = SpaceGroupSampler(seed=12).sample(12)
    assert torch.equal(large.frac_coords, in_turn.frac_coords) and torch.equal(large.lattice, in_turn.lattice)
