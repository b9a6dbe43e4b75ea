"""Checks and references for testing code that simulates or classifies powder patterns.

What xrdsynth's own tests, scripts and benchmarks use, shipped so that users can run the same checks on their
simulators, pipelines and models (as e3nn ships ``assert_equivariant``):

- **property checks** (:func:`assert_origin_shift_invariant`, :func:`assert_atom_order_invariant`,
  :func:`assert_batch_consistent`, :func:`assert_space_group_labels`): physics and labels, no pinned numbers;
- **generic symmetry inputs** (:func:`generic_lattice`, :func:`generic_parameters`): cells without accidental
  metric symmetry and free Wyckoff parameters away from special values, for tests of symmetry code;
- **the pymatgen reference** (:func:`pymatgen_sticks`, :func:`kinematic_sticks`, :func:`compare`,
  :func:`render`, :func:`save_references`, :func:`load_references`, ...): stick patterns of pymatgen's
  ``XRDCalculator`` and of a brute-force numpy calculator, and the comparison conventions (positions within
  :data:`POSITION_TOLERANCE`, rendered cosine at least :data:`MIN_COSINE`). pymatgen is an optional
  dependency (``pip install xrdsynth[test]``), imported only by the functions that call it.

Example:
    >>> import torch, xrdsynth as xs
    >>> from xrdsynth import testing
    >>> sim = xs.PowderSimulator(crystallite_size_nm=50.0, dtype=torch.float64)
    >>> testing.assert_origin_shift_invariant(sim, xs.Crystal.from_cif("quartz.cif"))
"""

from ..symmetry import generic_lattice, generic_parameters
from ._properties import (
    assert_atom_order_invariant,
    assert_batch_consistent,
    assert_origin_shift_invariant,
    assert_space_group_labels,
)
from ._pymatgen import (
    FWHM,
    GRID,
    MIN_COSINE,
    MIN_RELATIVE_INTENSITY,
    MIN_SHARE_WITHIN_COSINE,
    MOTT_BETHE_CONSTANT,
    POSITION_TOLERANCE,
    PYMATGEN_SCALED_INTENSITY_TOL,
    PYMATGEN_TWO_THETA_TOL,
    TWO_THETA_RANGE,
    WAVELENGTH,
    Comparison,
    Reference,
    Sticks,
    compare,
    cosine,
    grid,
    joint_clusters,
    kinematic_sticks,
    load_references,
    pymatgen_sticks,
    pymatgen_version,
    reference_crystal,
    render,
    save_references,
)

__all__ = [
    "FWHM",
    "GRID",
    "MIN_COSINE",
    "MIN_RELATIVE_INTENSITY",
    "MIN_SHARE_WITHIN_COSINE",
    "MOTT_BETHE_CONSTANT",
    "POSITION_TOLERANCE",
    "PYMATGEN_SCALED_INTENSITY_TOL",
    "PYMATGEN_TWO_THETA_TOL",
    "TWO_THETA_RANGE",
    "WAVELENGTH",
    "Comparison",
    "Reference",
    "Sticks",
    "assert_atom_order_invariant",
    "assert_batch_consistent",
    "assert_origin_shift_invariant",
    "assert_space_group_labels",
    "compare",
    "cosine",
    "generic_lattice",
    "generic_parameters",
    "grid",
    "joint_clusters",
    "kinematic_sticks",
    "load_references",
    "pymatgen_sticks",
    "pymatgen_version",
    "reference_crystal",
    "render",
    "save_references",
]
