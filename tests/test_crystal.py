"""Crystal: validation, derived quantities against independent references, round trips through CIF,
pymatgen and ase."""

from __future__ import annotations

import dataclasses
import pickle
import warnings

import gemmi
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import xrdsynth as xs
from xrdsynth import examples

NACL_FRAC = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]


def rock_salt(a: float = 5.64, **kwargs: object) -> xs.Crystal:
    """NaCl: Na on 4a, Cl on 4b of Fm-3m."""
    frac = np.array(NACL_FRAC + [[x + 0.5, y, z] for x, y, z in NACL_FRAC])
    return xs.Crystal.from_parameters(
        a, a, a, 90, 90, 90, frac, ["Na"] * 4 + ["Cl"] * 4, space_group=225, **kwargs
    )


# ---------------------------------------------------------------------------------------------------------
# Construction and validation


def test_defaults_dtypes_and_read_only_arrays() -> None:
    crystal = rock_salt()
    assert crystal.lattice.dtype == np.float64
    assert crystal.frac_coords.shape == (8, 3)
    assert crystal.numbers.dtype == np.int64
    np.testing.assert_array_equal(crystal.occupancies, 1.0)
    np.testing.assert_array_equal(crystal.b_iso, 0.0)
    np.testing.assert_array_equal(crystal.charges, 0.0)
    for name in ("lattice", "frac_coords", "numbers", "occupancies", "b_iso", "charges"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(crystal, name)[0] = 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        crystal.space_group = 1  # type: ignore[misc]


def test_inputs_are_copied() -> None:
    frac = np.array([[0.1, 0.2, 0.3]])
    crystal = xs.Crystal(np.eye(3) * 4, frac, np.array([26]))
    frac[0, 0] = 0.9
    assert crystal.frac_coords[0, 0] == 0.1
    assert frac.flags.writeable


def test_coordinates_are_wrapped_into_the_unit_cell() -> None:
    crystal = xs.Crystal(np.eye(3) * 4, [[-0.25, 1.5, -1e-18]], [26])
    np.testing.assert_allclose(crystal.frac_coords, [[0.75, 0.5, 0.0]])
    assert np.all(crystal.frac_coords < 1.0)


def test_rotated_lattice_is_stored_in_the_standard_orientation() -> None:
    lattice = xs.Crystal.lattice_from_parameters(5, 6, 7, 80, 95, 110)
    rotation = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    rotation *= np.sign(np.linalg.det(rotation))
    crystal = xs.Crystal(lattice @ rotation.T, [[0.1, 0.2, 0.3]], [8])
    np.testing.assert_allclose(crystal.lattice, lattice, atol=1e-12)
    assert crystal.lattice[0, 1] == crystal.lattice[0, 2] == crystal.lattice[1, 2] == 0.0
    np.testing.assert_allclose(crystal.frac_coords, [[0.1, 0.2, 0.3]])


BAD_CRYSTALS = {
    "lattice shape": (dict(lattice=np.eye(2)), "lattice must have shape"),
    "lattice nan": (dict(lattice=np.diag([4, 4, np.nan])), "non-finite"),
    "flat lattice": (dict(lattice=np.diag([4, 4, 0.0])), "positive volume"),
    "left-handed": (dict(lattice=np.diag([4, 4, -4.0])), "right-handed"),
    "coords shape": (dict(frac_coords=np.zeros((2, 2))), "frac_coords must have shape"),
    "no atoms": (dict(frac_coords=np.zeros((0, 3)), numbers=np.zeros(0, dtype=int)), "at least one atom"),
    "coords inf": (dict(frac_coords=[[0, 0, np.inf], [0.5, 0.5, 0.5]]), "non-finite"),
    "numbers length": (dict(numbers=[26]), "numbers must have shape"),
    "number 0": (dict(numbers=[0, 8]), "1..118"),
    "number 119": (dict(numbers=[119, 8]), "1..118"),
    "fractional number": (dict(numbers=[26.5, 8]), "integers"),
    "occupancy 0": (dict(occupancies=[0.0, 1.0]), "occupancies must be in"),
    "occupancy 1.2": (dict(occupancies=[1.2, 1.0]), "occupancies must be in"),
    "occupancy shape": (dict(occupancies=[1.0]), "occupancies must have shape"),
    "b nan": (dict(b_iso=[np.nan, 0.0]), "b_iso contains non-finite"),
    "charges shape": (dict(charges=[1.0, 2.0, 3.0]), "charges must have shape"),
    "space group 0": (dict(space_group=0), "1..230"),
    "space group 231": (dict(space_group=231), "1..230"),
    "space group float": (dict(space_group=14.0), "must be an int"),
}


@pytest.mark.parametrize("case", sorted(BAD_CRYSTALS))
def test_invalid_crystals_raise_clear_value_errors(case: str) -> None:
    changes, message = BAD_CRYSTALS[case]
    fields = dict(lattice=np.eye(3) * 4, frac_coords=[[0, 0, 0], [0.5, 0.5, 0.5]], numbers=[26, 8])
    fields.update(changes)
    with pytest.raises(ValueError, match=message):
        xs.Crystal(**fields)


def test_slightly_overfull_refined_occupancy_is_accepted() -> None:
    crystal = xs.Crystal(np.eye(3) * 4, [[0, 0, 0]], [28], occupancies=[1.079])
    assert crystal.occupancies[0] == pytest.approx(1.079)


def test_from_parameters_accepts_symbols_and_numbers() -> None:
    a = xs.Crystal.from_parameters(4, 4, 4, 90, 90, 90, [[0, 0, 0], [0.5, 0.5, 0.5]], ["Cs", "Cl"])
    b = xs.Crystal.from_parameters(4, 4, 4, 90, 90, 90, [[0, 0, 0], [0.5, 0.5, 0.5]], [55, 17])
    assert a.allclose(b)
    with pytest.raises(ValueError, match="unknown element"):
        xs.Crystal.from_parameters(4, 4, 4, 90, 90, 90, [[0, 0, 0]], ["Qq"])


# ---------------------------------------------------------------------------------------------------------
# Derived quantities against independent references


def test_cell_geometry_matches_gemmi() -> None:
    params = (5.1, 6.2, 7.3, 81.0, 97.0, 112.0)
    crystal = xs.Crystal(xs.Crystal.lattice_from_parameters(*params), [[0.1, 0.2, 0.3]], [8])
    cell = gemmi.UnitCell(*params)
    assert crystal.volume == pytest.approx(cell.volume, rel=1e-12)
    np.testing.assert_allclose(crystal.cell_parameters, params, rtol=1e-12)
    np.testing.assert_allclose(
        crystal.cartesian_coords[0], cell.orthogonalize(gemmi.Fractional(0.1, 0.2, 0.3)).tolist()
    )


@pytest.mark.parametrize("name", examples.names())
def test_density_and_composition_match_pymatgen(name: str) -> None:
    crystal = xs.Crystal.from_cif(examples.cif_path(name))
    structure = crystal.to_pymatgen()
    assert crystal.density == pytest.approx(float(structure.density), rel=1e-4)
    reference = {el.symbol: amount for el, amount in structure.composition.items()}
    assert crystal.composition == pytest.approx(reference)


def test_formula_and_repr() -> None:
    quartz = xs.Crystal.from_cif(examples.cif_path("quartz"))
    assert quartz.formula == "O6 Si3"
    text = repr(quartz)
    assert "O6 Si3" in text
    assert "space_group=154" in text
    assert "4.9160" in text
    organic = xs.Crystal.from_parameters(
        5, 5, 5, 90, 90, 90, np.random.default_rng(0).random((4, 3)), ["O", "H", "C", "N"]
    )
    assert organic.formula == "C H N O"  # Hill order: C, H, then alphabetical


def test_num_atoms_counts_mixed_site_members() -> None:
    rutile = xs.Crystal.from_cif(examples.cif_path("rutile"))
    assert rutile.num_atoms == 12  # 2 metal positions x 4 elements + 4 O


def test_allclose_ignores_atom_order_and_sees_differences() -> None:
    crystal = rock_salt()
    order = np.random.default_rng(3).permutation(crystal.num_atoms)
    shuffled = dataclasses.replace(
        crystal, frac_coords=crystal.frac_coords[order], numbers=crystal.numbers[order]
    )
    assert crystal.allclose(shuffled)
    moved = dataclasses.replace(crystal, frac_coords=crystal.frac_coords + np.array([0.01, 0, 0]))
    assert not crystal.allclose(moved)
    assert not crystal.allclose(dataclasses.replace(crystal, space_group=1))


def test_pickle_round_trip_keeps_arrays_read_only() -> None:
    crystal = rock_salt(b_iso=np.full(8, 0.5))
    restored = pickle.loads(pickle.dumps(crystal))
    assert restored.allclose(crystal, atol=0.0)
    assert not restored.frac_coords.flags.writeable


# ---------------------------------------------------------------------------------------------------------
# Symmetry detection


def test_detect_space_group_of_rock_salt() -> None:
    assert rock_salt().detect_space_group() == 225


def test_partial_occupancy_is_a_distinct_species_for_spglib() -> None:
    # Half-occupying one of the four Na sites breaks the F centring: the group drops to Pm-3m (221).
    occupancies = np.ones(8)
    occupancies[0] = 0.5
    assert rock_salt(occupancies=occupancies).detect_space_group() == 221
    # The same on every Na site keeps Fm-3m.
    assert rock_salt(occupancies=[0.5] * 4 + [1.0] * 4).detect_space_group() == 225


def test_mixed_sites_do_not_confuse_spglib() -> None:
    # Each Na position shared by Na 0.9 and K 0.1: two atoms at one place, one site for spglib.
    base = rock_salt()
    frac = np.concatenate([base.frac_coords, base.frac_coords[:4]])
    numbers = np.concatenate([base.numbers, [19] * 4])
    occupancies = np.concatenate([[0.9] * 4, [1.0] * 4, [0.1] * 4])
    mixed = xs.Crystal(base.lattice, frac, numbers, occupancies, space_group=225)
    assert mixed.detect_space_group() == 225


# ---------------------------------------------------------------------------------------------------------
# Round trips


@st.composite
def crystals(draw: st.DrawFn) -> xs.Crystal:
    """Random valid crystals: any cell shape, 1-12 atoms, partial occupancies, B values and charges."""
    lengths = draw(hnp.arrays(np.float64, 3, elements=st.floats(2.0, 30.0)))
    while True:
        angles = draw(hnp.arrays(np.float64, 3, elements=st.floats(50.0, 130.0)))
        cos = np.cos(np.radians(angles))
        if 1 - (cos**2).sum() + 2 * cos.prod() > 0.05:  # a cell of reasonable volume
            break
    n = draw(st.integers(1, 12))
    frac = draw(hnp.arrays(np.float64, (n, 3), elements=st.floats(0.0, 1.0, exclude_max=True)))
    numbers = draw(hnp.arrays(np.int64, n, elements=st.integers(1, 118)))
    occupancies = draw(hnp.arrays(np.float64, n, elements=st.floats(0.01, 1.0)))
    b_iso = draw(hnp.arrays(np.float64, n, elements=st.floats(0.0, 5.0)))
    charges = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0, -1.0, 2.0, -2.0, 3.0, 2.5])))
    space_group = draw(st.integers(1, 230))
    lattice = xs.Crystal.lattice_from_parameters(*lengths, *angles)
    return xs.Crystal(lattice, frac, numbers, occupancies, b_iso, charges, space_group)


@settings(max_examples=150, deadline=None)
@given(crystals())
def test_cif_round_trip_keeps_the_crystal(crystal: xs.Crystal) -> None:
    restored = xs.Crystal.from_cif_string(crystal.to_cif())
    np.testing.assert_allclose(restored.lattice, crystal.lattice, atol=1e-8)
    assert restored.space_group == crystal.space_group
    # Same multiset of (element, coordinates, occupancy, B, charge), atoms in the same order.
    np.testing.assert_array_equal(restored.numbers, crystal.numbers)
    np.testing.assert_array_equal(restored.frac_coords, crystal.frac_coords)
    np.testing.assert_array_equal(restored.occupancies, crystal.occupancies)
    np.testing.assert_array_equal(restored.b_iso, crystal.b_iso)
    np.testing.assert_array_equal(restored.charges, crystal.charges)


# Not rutile: its mixed site sums to 1.01, which pymatgen's reader rescales to 1.
@pytest.mark.parametrize("name", ["pyrite", "quartz"])
def test_to_cif_is_read_identically_by_pymatgen(name: str) -> None:
    from pymatgen.io.cif import CifParser

    crystal = xs.Crystal.from_cif(examples.cif_path(name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen reports rounding coordinates near 1/3 to exactly 1/3
        structure = CifParser.from_str(crystal.to_cif()).parse_structures(primitive=False)[0]
    reference = {el.symbol: amount for el, amount in structure.composition.items()}
    assert crystal.composition == pytest.approx(reference)
    np.testing.assert_allclose(structure.lattice.abc, crystal.cell_parameters[:3], rtol=1e-12)


def test_charges_survive_to_cif_with_fractional_values() -> None:
    crystal = rock_salt(charges=[1.0] * 4 + [-1.0] * 4)
    text = crystal.to_cif()
    assert " Na1+ " in text and " Cl1- " in text
    odd = dataclasses.replace(crystal, charges=[2.5] * 8)
    assert xs.Crystal.from_cif_string(odd.to_cif()).charges.tolist() == [2.5] * 8


@pytest.mark.parametrize("name", examples.names())
def test_pymatgen_round_trip(name: str) -> None:
    crystal = xs.Crystal.from_cif(examples.cif_path(name))
    # B as a function of position, so that the atoms of a mixed site share it (one pymatgen site, one B).
    crystal = dataclasses.replace(crystal, b_iso=0.3 + crystal.frac_coords @ [1.0, 0.1, 0.01])
    structure = crystal.to_pymatgen()
    assert structure.properties["space_group"] == crystal.space_group
    assert xs.Crystal.from_pymatgen(structure).allclose(crystal, atol=1e-9)


def test_from_pymatgen_reads_disorder_and_oxidation_states() -> None:
    from pymatgen.core import Lattice, Species, Structure

    structure = Structure(
        Lattice.cubic(4.2),
        [{Species("Mg", 2): 0.7, Species("Fe", 2): 0.3}, {Species("O", -2): 1.0}],
        [[0, 0, 0], [0.5, 0.5, 0.5]],
    )
    crystal = xs.Crystal.from_pymatgen(structure)
    assert crystal.num_atoms == 3
    assert sorted(
        zip(crystal.numbers.tolist(), crystal.occupancies.tolist(), crystal.charges.tolist(), strict=True)
    ) == [
        (8, 1.0, -2.0),
        (12, 0.7, 2.0),
        (26, 0.3, 2.0),
    ]
    assert crystal.space_group == 221  # detected by spglib: CsCl type


def test_from_pymatgen_left_handed_lattice_describes_the_same_atoms() -> None:
    from pymatgen.core import Lattice, Structure

    structure = Structure(Lattice(np.diag([4.0, 5.0, -6.0])), ["Fe", "O"], [[0.1, 0.2, 0.3], [0.5, 0.5, 0.5]])
    crystal = xs.Crystal.from_pymatgen(structure)
    np.testing.assert_allclose(crystal.cell_parameters, [4, 5, 6, 90, 90, 90])
    fe = crystal.frac_coords[crystal.numbers == 26][0]
    np.testing.assert_allclose(fe, [0.9, 0.8, 0.7])  # (-0.1, -0.2, -0.3) in the negated basis, wrapped
    # Same atoms in space: the Fe-O distance is unchanged.
    assert crystal.to_pymatgen().get_distance(0, 1) == pytest.approx(structure.get_distance(0, 1))


def test_to_pymatgen_caps_overfull_occupancy_with_a_warning() -> None:
    crystal = xs.Crystal(np.eye(3) * 4, [[0, 0, 0]], [28], occupancies=[1.05])
    with pytest.warns(UserWarning, match="capped"):
        structure = crystal.to_pymatgen()
    assert structure.composition["Ni"] == pytest.approx(1.0)


@pytest.mark.parametrize("name", examples.names())
def test_ase_round_trip(name: str) -> None:
    crystal = xs.Crystal.from_cif(examples.cif_path(name))
    crystal = dataclasses.replace(crystal, b_iso=np.linspace(0.2, 1.0, crystal.num_atoms))
    atoms = crystal.to_ase()
    assert len(atoms) == crystal.num_atoms
    np.testing.assert_allclose(atoms.cell.cellpar(), crystal.cell_parameters)
    assert xs.Crystal.from_ase(atoms).allclose(crystal, atol=1e-9)


def test_from_ase_without_extras_detects_the_group() -> None:
    from ase.build import bulk

    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)
    crystal = xs.Crystal.from_ase(atoms)
    assert crystal.space_group == 225
    assert crystal.composition == {"Cl": 4.0, "Na": 4.0}


def test_public_names() -> None:
    assert set(xs.__all__) >= {"CIFError", "Crystal", "CrystalBatch", "__version__", "io", "symmetry"}
    assert issubclass(xs.CIFError, ValueError)
    assert set(xs.io.__all__) >= {"parse_cif_text", "write_cif", "read_pattern", "MeasuredPattern"}


def test_wyckoff_sites_of_rutile_and_quartz():
    """Occupied Wyckoff positions as the International Tables give them for two textbook structures."""
    rutile = xs.Crystal.from_cif(xs.examples.cif_path("rutile"))
    sites = rutile.wyckoff_sites()
    found = sorted(
        (s.position.space_group, s.position.label, sorted({int(rutile.numbers[i]) for i in s.atoms}))
        for s in sites
    )
    assert found[-1] == (136, "4f", [8])
    assert all(label == "2a" for _, label, _ in found[:-1])  # Ti (and any atom mixed in) on 2a
    assert sum(len(s.atoms) for s in sites) == rutile.num_atoms
    quartz = xs.Crystal.from_cif(xs.examples.cif_path("quartz"))
    labels = {(s.position.label, int(quartz.numbers[s.atoms[0]])) for s in quartz.wyckoff_sites()}
    assert labels == {("3a", 14), ("6c", 8)}
