"""Space groups and Wyckoff positions, checked against spglib, gemmi and PyXtal's tables."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest
import spglib
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import xrdsynth as xs
from xrdsynth.symmetry import SpaceGroup, WyckoffPosition
from xrdsynth.symmetry._wyckoff import generic_parameters

ALL_GROUPS = range(1, 231)

# Order of each point group, keyed by its symbol with the orientation dots removed (".m." -> "m",
# "m.2m" -> "m2m"); a table independent of how the positions were derived.
POINT_GROUP_ORDER = {
    "1": 1, "-1": 2, "2": 2, "m": 2, "2/m": 4, "222": 4, "mm2": 4, "m2m": 4, "2mm": 4, "mmm": 8,
    "4": 4, "-4": 4, "4/m": 8, "422": 8, "4mm": 8, "-42m": 8, "-4m2": 8, "4/mmm": 16,
    "3": 3, "-3": 6, "32": 6, "321": 6, "312": 6, "3m": 6, "3m1": 6, "31m": 6, "-3m": 12, "-3m1": 12,
    "-31m": 12, "6": 6, "-6": 6, "6/m": 12, "622": 12, "6mm": 12, "-6m2": 12, "-62m": 12, "6/mmm": 24,
    "23": 12, "m-3": 24, "432": 24, "-43m": 24, "m-3m": 48,
}


def random_lattice(system: str, rng: np.random.Generator) -> np.ndarray:
    """A random cell of the lattice system, reduced so that spglib keeps its basis (rows a, b, c; Å)."""
    a, b, c = rng.uniform(5.0, 5.5), rng.uniform(6.2, 6.8), rng.uniform(7.4, 8.0)
    alpha = beta = gamma = 90.0
    if system == "triclinic":  # all obtuse and Niggli-reduced
        alpha, beta, gamma = rng.uniform(98.0, 106.0, 3)
    elif system == "monoclinic":
        beta = rng.uniform(92.0, 104.0)  # small enough that the a-c plane is already reduced
    elif system == "tetragonal":
        b = a
    elif system in ("hexagonal", "rhombohedral"):
        b, gamma = a, 120.0
    elif system == "cubic":
        b = c = a
    return xs.Crystal.lattice_from_parameters(a, b, c, alpha, beta, gamma)


def test_exactly_1731_wyckoff_positions():
    counts = [len(SpaceGroup(n).wyckoff_positions) for n in ALL_GROUPS]
    assert sum(counts) == 1731
    assert counts[0] == 1 and counts[46] == 27  # P1 has only 1a; Pmmm has a..z and A


@pytest.mark.parametrize("number", ALL_GROUPS)
def test_positions_recognised_by_spglib(number):
    """An orbit plus atoms on general positions is exactly the group, site symmetry and letter claimed."""
    group = SpaceGroup(number)
    rng = np.random.default_rng(1000 + number)
    general = group.wyckoff_positions[-1]
    assert general.dof == 3 and general.multiplicity == group.order and general.site_symmetry == "1"
    for w in group.wyckoff_positions:
        sites = w.orbit(generic_parameters(rng, w.dof))
        assert sites.shape == (w.multiplicity, 3)
        extra = [general.orbit(generic_parameters(rng, 3)) for _ in range(2)]
        positions = np.concatenate([sites, *extra])
        types = np.repeat([8, 14, 26], [len(sites), len(extra[0]), len(extra[1])])
        data = spglib.get_symmetry_dataset((random_lattice(group.lattice_system, rng), positions, types),
                                           symprec=1e-3)
        assert data is not None
        assert (data.number, data.hall_number) == (number, group.hall_number), w
        assert np.allclose(data.transformation_matrix, np.eye(3)), w
        n = len(sites)
        # As many atoms as the multiplicity, all one orbit (spglib merges none: they are distinct).
        assert len(set(data.equivalent_atoms[:n])) == 1
        assert np.count_nonzero(data.equivalent_atoms == data.equivalent_atoms[0]) == w.multiplicity
        assert set(data.site_symmetry_symbols[:n]) == {w.site_symmetry}, w
        assert set(data.wyckoffs[:n]) == {w.letter}, w


@pytest.mark.parametrize("number", ALL_GROUPS)
def test_site_symmetry_order_matches_multiplicity(number):
    """|site-symmetry group| from the oriented symbol = group order / multiplicity (independent table)."""
    group = SpaceGroup(number)
    letters = "".join(w.letter for w in group.wyckoff_positions)
    assert letters == "abcdefghijklmnopqrstuvwxyzA"[: len(letters)]
    multiplicities = [w.multiplicity for w in group.wyckoff_positions]
    assert multiplicities == sorted(multiplicities)  # the Tables list by increasing multiplicity
    for w in group.wyckoff_positions:
        symbol = w.site_symmetry
        key = symbol.replace(".", "")
        assert POINT_GROUP_ORDER[key] * w.multiplicity == group.order, (w, symbol)
        # Only polar site symmetries leave freedom: 1 all three coordinates, m a plane, an axis a line.
        assert w.dof == FREE_DIRECTIONS.get(key, 0), (w, symbol)


FREE_DIRECTIONS = {"1": 3, "m": 2, "2": 1, "mm2": 1, "m2m": 1, "2mm": 1, "3": 1, "3m": 1, "3m1": 1,
                   "31m": 1, "4": 1, "4mm": 1, "6": 1, "6mm": 1}


@pytest.mark.parametrize("number", ALL_GROUPS)
def test_operations_form_a_group(number):
    rotations, translations = SpaceGroup(number).operations
    n = len(rotations)
    assert rotations.shape == (n, 3, 3) and translations.shape == (n, 3)
    assert rotations.dtype == np.int64 and np.all(np.abs(np.linalg.det(rotations)).round() == 1)
    assert np.array_equal(rotations[0], np.eye(3)) and np.allclose(translations[0], 0)
    keys = {_op_key(r, t) for r, t in zip(rotations, translations, strict=True)}
    assert len(keys) == n  # no operation twice
    products = np.einsum("aij,bjk->abik", rotations, rotations).reshape(-1, 3, 3)
    shifts = (np.einsum("aij,bj->abi", rotations, translations) + translations[:, None, :]).reshape(-1, 3)
    assert {_op_key(r, t) for r, t in zip(products, shifts, strict=True)} == keys


def _op_key(rotation: np.ndarray, translation: np.ndarray) -> tuple:
    return (*rotation.ravel().tolist(), *np.round(np.mod(translation, 1.0) * 24).astype(int) % 24)


SAME_POINT_GROUP = {"-62m": "-6m2", "-4m2": "-42m", "31m": "3m", "3m1": "3m", "-31m": "-3m", "-3m1": "-3m",
                    "312": "32", "321": "32"}
OLD_SYMBOL = {39: "Abm2", 41: "Aba2", 64: "Cmca", 67: "Cmma", 68: "Ccca"}


@pytest.mark.parametrize("number", ALL_GROUPS)
def test_space_group_matches_gemmi(number):
    """Symbol, systems, point group and operations agree with gemmi's tables for the same Hall symbol."""
    group = SpaceGroup(number)
    ops = gemmi.symops_from_hall(group.hall_symbol)
    reference = gemmi.find_spacegroup_by_ops(ops)
    assert reference.number == number
    assert reference.crystal_system_str() == group.crystal_system
    assert SAME_POINT_GROUP.get(reference.point_group_hm(), reference.point_group_hm()) == group.point_group
    # gemmi writes the older symbols for the five groups with an e-glide and H for hexagonal axes
    assert OLD_SYMBOL.get(number, group.symbol.replace("_", "")) == reference.short_name().replace("H", "R")
    ours = {_op_key(r, t) for r, t in zip(*group.operations, strict=True)}
    theirs = set()
    for op in ops:
        rot = np.array(op.rot) // op.DEN
        tran = np.array(op.tran) / op.DEN
        theirs.add(_op_key(rot, tran))
    assert ours == theirs


def test_default_settings():
    assert SpaceGroup(227).hall_symbol == "F 4d 2 3 -1d"  # origin choice 1
    assert SpaceGroup(166).lattice_system == "rhombohedral"
    assert SpaceGroup(166).symbol == "R-3m" and SpaceGroup(166).centring == "R"
    assert SpaceGroup(14).symbol == "P2_1/c"  # b unique, cell choice 1
    assert SpaceGroup(62).wyckoff("c").coordinates == "x,1/4,z"
    assert SpaceGroup(194).lattice_system == "hexagonal" and SpaceGroup(150).crystal_system == "trigonal"


@pytest.mark.parametrize("bad", [0, 231, -1, 1.5, "231", True, None, np.nan])
def test_bad_space_group_number(bad):
    with pytest.raises(ValueError, match=r"space.group"):
        SpaceGroup(bad)


@pytest.mark.parametrize(
    ("symbol", "number"),
    [("Pnma", 62), ("P 21/n 21/m 21/a", 62), ("pnma", 62), ("P2_1/c", 14), ("P21/c", 14),
     ("P 1 21/c 1", 14), ("P 1 2_1/c 1", 14), ("Fd-3m", 227), ("R-3c", 167), ("Cmca", 64), ("Cmce", 64),
     ("P6_3/mmc", 194), (" 62 ", 62)],
)  # fmt: skip
def test_space_groups_by_hermann_mauguin_symbol(symbol, number):
    assert SpaceGroup(symbol).number == number
    assert xs.symmetry.crystal_system(symbol) == SpaceGroup(number).crystal_system


def test_every_symbol_of_gemmis_table_names_its_group_or_its_setting():
    """gemmi's 564 settings: a symbol of the default setting (the operations of SpaceGroup(n)) gives n; a
    symbol of another setting either is spelled like the default (another origin: "Fd-3m") and gives n, or
    is refused with a message that names n."""

    def operations(rotations, translations):
        steps = np.mod(np.round(np.asarray(translations) * 24), 24).astype(int)
        return {(tuple(np.ravel(r)), tuple(t)) for r, t in zip(rotations, steps, strict=True)}

    wrong = []
    for entry in gemmi.spacegroup_table():
        ops = list(entry.operations())
        theirs = operations(
            [np.array(op.rot) // gemmi.Op.DEN for op in ops], [np.array(op.tran) / gemmi.Op.DEN for op in ops]
        )
        default = theirs == operations(*SpaceGroup(entry.number).operations)
        for name in (entry.hm, entry.xhm(), entry.short_name()):
            try:
                if SpaceGroup(name).number != entry.number:
                    wrong.append(name)
            except ValueError as error:
                named = f"space group {entry.number} " in str(error) or f" {entry.number} (" in str(error)
                if default or not named:
                    wrong.append(name)
    assert wrong == []


@pytest.mark.parametrize(
    ("symbol", "message"),
    [("Pbnm", r"'Pbnm' is space group 62 in another setting \(P 2_1/b 2_1/n 2_1/m\).*Pnma"),
     ("P21/n", r"space group 14 in another setting.*P2_1/c"),
     ("Pmna2", r"unknown space-group symbol 'Pmna2'; did you mean Pmna \(53\)"),
     ("Fm3m", r"did you mean Fm-3m \(225\)"),
     ("xyz", "unknown space-group symbol 'xyz'")],
)  # fmt: skip
def test_other_settings_and_unknown_symbols_are_refused(symbol, message):
    with pytest.raises(ValueError, match=message):
        SpaceGroup(symbol)


def test_sampler_takes_symbols():
    sampler = xs.SpaceGroupSampler(space_groups=["Pnma", "P2_1/c", 225], seed=0)
    assert sampler.space_groups == (62, 14, 225)
    assert int(sampler.sample(1, space_group="Fm-3m").space_group[0]) == 225
    with pytest.raises(ValueError, match="list of groups"):
        xs.SpaceGroupSampler(space_groups="62")


def test_bad_orbit_parameters():
    w = SpaceGroup(62).wyckoff("c")
    with pytest.raises(ValueError, match="2 free parameter"):
        w.orbit([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="finite"):
        w.orbit([0.1, np.nan])
    with pytest.raises(ValueError, match="no Wyckoff letter"):
        SpaceGroup(62).wyckoff("e")


@st.composite
def position_and_params(draw):
    number = draw(st.integers(1, 230))
    positions = SpaceGroup(number).wyckoff_positions
    w = draw(st.sampled_from(positions))
    params = draw(st.lists(st.floats(-3.0, 3.0, allow_nan=False), min_size=w.dof, max_size=w.dof))
    return w, np.array(params, dtype=np.float64)


@settings(max_examples=300, deadline=None)
@given(position_and_params())
def test_orbit_is_invariant_under_the_group(case):
    """For any parameters the orbit has `multiplicity` sites in [0, 1) and the group maps it onto itself."""
    w, params = case
    sites = w.orbit(params)
    assert sites.shape == (w.multiplicity, 3)
    assert np.all((sites >= 0) & (sites < 1))
    rotations, translations = SpaceGroup(w.space_group).operations
    images = np.einsum("oij,kj->oki", rotations, sites) + translations[:, None, :]
    diff = images[:, :, None, :] - sites[None, None, :, :]
    diff -= np.round(diff)
    # every image of every site coincides with some site of the orbit
    assert np.all(np.abs(diff).max(axis=-1).min(axis=-1) < 1e-9)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 230), st.data())
def test_generic_orbits_have_distinct_sites(number, data):
    w = data.draw(st.sampled_from(SpaceGroup(number).wyckoff_positions))
    # Parameters away from special values (multiples of 1/24) give `multiplicity` distinct sites.
    params = np.array(data.draw(st.lists(st.floats(0.0, 1.0), min_size=w.dof, max_size=w.dof)))
    params = np.floor(params * 24) / 24 + 0.0123 + 0.0017 * np.arange(w.dof)
    sites = w.orbit(params)
    diff = sites[:, None] - sites[None]
    diff -= np.round(diff)
    distance = np.abs(diff).max(axis=-1) + np.eye(len(sites))
    assert distance.min() > 1e-6


def test_orbit_batched_and_torch():
    w = SpaceGroup(194).wyckoff("k")  # x,2x,z
    rng = np.random.default_rng(0)
    params = rng.uniform(0, 1, (5, 4, w.dof))
    batch = w.orbit(params)
    assert batch.shape == (5, 4, w.multiplicity, 3)
    assert np.allclose(batch[2, 3], w.orbit(params[2, 3]))
    t64 = w.orbit(torch.as_tensor(params))
    assert t64.dtype == torch.float64 and torch.allclose(t64, torch.as_tensor(batch))
    t32 = w.orbit(torch.as_tensor(params, dtype=torch.float32))
    assert t32.dtype == torch.float32
    diff = t32.double() - t64
    assert torch.all((diff - diff.round()).abs() < 1e-5)
    # dof 0: no parameters needed, a batch of empty parameter vectors gives a batch of orbits
    a = SpaceGroup(194).wyckoff("c")
    assert a.orbit().shape == (2, 3) and a.orbit(np.zeros((7, 0))).shape == (7, 2, 3)
    assert np.allclose(sorted(a.orbit().tolist()), [[1 / 3, 2 / 3, 1 / 4], [2 / 3, 1 / 3, 3 / 4]])


def test_first_site_is_the_representative():
    for number in (1, 62, 141, 166, 194, 225, 227, 230):
        for w in SpaceGroup(number).wyckoff_positions:
            params = np.full(w.dof, 0.3)
            assert np.allclose(w.orbit(params)[0], np.mod(w.representative + params @ w.basis, 1.0))


pyxtal_symmetry = pytest.importorskip("pyxtal.symmetry", reason="PyXtal is part of the test extra")


@pytest.mark.parametrize("number", ALL_GROUPS)
def test_positions_match_pyxtal_tables(number):
    """Letters, multiplicities and orbits equal PyXtal's Wyckoff tables (from the Bilbao server)."""
    group = SpaceGroup(number)
    reference = pyxtal_symmetry.Group(group.hall_number, use_hall=True)
    by_letter = {wp.letter: wp for wp in reference.Wyckoff_positions}
    assert sorted(by_letter) == sorted(w.letter for w in group.wyckoff_positions)
    rng = np.random.default_rng(number)
    for w in group.wyckoff_positions:
        wp = by_letter[w.letter]
        assert wp.multiplicity == w.multiplicity
        sites = w.orbit(rng.uniform(0, 1, w.dof))
        # the site of our orbit that lies on PyXtal's first coordinate triplet generates PyXtal's orbit
        first = [s for s in sites if _same_point(wp.ops[0].operate(s), s)]
        assert first, w
        theirs = np.array([op.operate(first[0]) for op in wp.ops])
        assert _same_set(theirs, sites), w


def _same_point(a, b) -> bool:
    d = np.asarray(a) - np.asarray(b)
    return bool(np.all(np.abs(d - np.round(d)) < 1e-8))


def _same_set(a: np.ndarray, b: np.ndarray) -> bool:
    if len(a) != len(b):
        return False
    d = a[:, None] - b[None]
    d = np.abs(d - np.round(d)).max(axis=-1)
    return bool(np.all(d.min(axis=0) < 1e-8) and np.all(d.min(axis=1) < 1e-8))


def test_public_names():
    assert xs.symmetry.SpaceGroup is SpaceGroup and xs.symmetry.WyckoffPosition is WyckoffPosition
    assert isinstance(SpaceGroup(2).wyckoff_positions[0], WyckoffPosition)


def test_find_wyckoff_sites_in_a_known_structure():
    """Rutile TiO2 (P4_2/mnm): Ti on 2a, O on 4f — by the Tables, independent of the derivation."""
    a, c, u = 4.594, 2.959, 0.3048
    frac = [[0, 0, 0], [0.5, 0.5, 0.5], [u, u, 0], [-u, -u, 0],
            [0.5 + u, 0.5 - u, 0.5], [0.5 - u, 0.5 + u, 0.5]]
    lattice = np.diag([a, a, c])
    sites = xs.symmetry.find_wyckoff_sites(lattice, frac, [22, 22, 8, 8, 8, 8])
    assert [(s.position.space_group, s.position.label, s.atoms) for s in sites] == [
        (136, "2a", (0, 1)),
        (136, "4f", (2, 3, 4, 5)),
    ]
    with pytest.raises(ValueError, match="frac_coords"):
        xs.symmetry.find_wyckoff_sites(lattice, [0, 0, 0], [1])


def test_find_wyckoff_sites_recovers_sampled_positions():
    """Atoms put on a derived position are found on that position again."""
    rng = np.random.default_rng(7)
    for number in (14, 62, 141, 167, 194, 227):
        group = SpaceGroup(number)
        for w in group.wyckoff_positions[:-1]:
            sites = w.orbit(generic_parameters(rng, w.dof))
            general = group.wyckoff_positions[-1].orbit(generic_parameters(rng, 3))
            found = xs.symmetry.find_wyckoff_sites(
                random_lattice(group.lattice_system, rng), np.concatenate([sites, general]),
                np.repeat([1, 2], [len(sites), len(general)]),
            )
            assert found[0].position is w
            assert found[0].atoms == tuple(range(w.multiplicity))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 230), st.data())
def test_random_operations_compose_and_invert_within_the_group(number, data):
    """Property form of the group axioms: g·h and g⁻¹ of random operations are operations (mod lattice)."""
    rotations, translations = SpaceGroup(number).operations
    keys = {_op_key(r, t) for r, t in zip(rotations, translations, strict=True)}
    i = data.draw(st.integers(0, len(rotations) - 1))
    j = data.draw(st.integers(0, len(rotations) - 1))
    product = rotations[i] @ rotations[j], rotations[i] @ translations[j] + translations[i]
    inverse_rotation = np.round(np.linalg.inv(rotations[i])).astype(np.int64)
    inverse = inverse_rotation, -inverse_rotation @ translations[i]
    assert _op_key(*product) in keys
    assert _op_key(*inverse) in keys


def test_crystal_system_of_group_is_the_index_of_each_groups_system() -> None:
    from xrdsynth.symmetry import CRYSTAL_SYSTEM_OF_GROUP, CRYSTAL_SYSTEMS, crystal_system

    assert len(CRYSTAL_SYSTEM_OF_GROUP) == 230
    for n, k in enumerate(CRYSTAL_SYSTEM_OF_GROUP, start=1):
        assert CRYSTAL_SYSTEMS[k] == crystal_system(n)
    # The boundaries of the International Tables: 2, 15, 74, 142, 167, 194.
    assert [CRYSTAL_SYSTEM_OF_GROUP.count(k) for k in range(7)] == [2, 13, 59, 68, 25, 27, 36]
