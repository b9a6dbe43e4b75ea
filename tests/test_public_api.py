"""Guards the public surface: the names users rely on exist, are documented, and the quickstart runs.

Removing a name from the expected lists below is an API break: do it on purpose, with a changelog entry.
"""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Names that must stay public (each package may export more).
EXPECTED = {
    "xrdsynth": [
        "CIFError",
        "Crystal",
        "CrystalBatch",
        "PeakList",
        "PowderSimulator",
        "SpaceGroupSampler",
        "__version__",
        "data",
        "io",
        "models",
        "sampler",
        "simulate",
        "symmetry",
    ],
    "xrdsynth.sampler": [
        "FULL_OCCUPANCY",
        "LatticeShape",
        "SamplerCounters",
        "SamplerStatistics",
        "SpaceGroupSampler",
        "default_statistics",
        "fit_statistics",
        "shortest_pair_distances",
        "write_wyckoff_tables",
    ],
    "xrdsynth.simulate": [
        "KALPHA2_RATIO",
        "PROFILES",
        "SCHERRER_K",
        "WAVELENGTHS",
        "PeakList",
        "PowderSimulator",
        "PatternParameters",
        "Radiation",
        "compilation_failure",
        "functional",
        "peak_widths",
        "resolve_wavelength",
    ],
    "xrdsynth.simulate.functional": [
        "Atoms",
        "LaueTables",
        "Reflections",
        "Widths",
        "amorphous_hump",
        "axial_divergence_sticks",
        "chebyshev_background",
        "d_from_two_theta",
        "enumerate_reflections",
        "form_factor_table",
        "form_factors",
        "gaussian_noise",
        "inverse_d_squared",
        "lattice_symmetry",
        "laue_classes",
        "laue_tables",
        "limiting_sphere_radius",
        "line_sticks",
        "lorentz_polarisation",
        "march_dollase",
        "peak_shift",
        "peak_widths",
        "poisson_noise",
        "profile_margins",
        "q_from_two_theta",
        "render",
        "scatterer_types",
        "scattering_factors",
        "sticks",
        "structure_factors_squared",
        "two_theta_from_d",
        "two_theta_from_q",
    ],
    "xrdsynth.symmetry": [
        "CRYSTAL_SYSTEMS",
        "LATTICE_SYSTEMS",
        "Operations",
        "SpaceGroup",
        "WyckoffPosition",
        "WyckoffSite",
        "crystal_system",
        "find_wyckoff_sites",
        "format_operation",
        "generic_lattice",
        "generic_parameters",
        "lattice_system",
        "space_group_number",
        "wyckoff_positions",
    ],
    "xrdsynth.io": [
        "MeasuredPattern",
        "ParsedStructure",
        "PatternFileError",
        "format_cif",
        "parse_cif_text",
        "read_cif_text",
        "write_xy",
        "read_pattern",
        "write_cif",
    ],
    "xrdsynth.plot": ["pattern", "prediction"],
    "xrdsynth.data": ["LABELS", "ShardDataset", "StructureDataset", "SyntheticPowderDataset", "write_shards"],
    "xrdsynth.models": [
        "ARCHITECTURES",
        "DEFAULT_MODEL",
        "Classifier",
        "InputSpec",
        "Prediction",
        "PretrainedBundle",
        "available_models",
        "build_model",
        "load_pretrained",
        "pretrained_bundles",
        "save_pretrained",
    ],
    "xrdsynth.train": [
        "PRECISIONS",
        "TrainConfig",
        "build_data",
        "build_parser",
        "config_from_args",
        "describe_hardware",
        "main",
        "train",
    ],
    "xrdsynth.testing": [
        "Sticks",
        "assert_atom_order_invariant",
        "assert_batch_consistent",
        "assert_origin_shift_invariant",
        "assert_space_group_labels",
        "compare",
        "generic_lattice",
        "generic_parameters",
        "kinematic_sticks",
        "load_references",
        "pymatgen_sticks",
        "reference_crystal",
        "render",
        "save_references",
    ],
    "xrdsynth.examples": ["cif_path", "measured_names", "measured_path", "measured_space_group", "names"],
}
MODULES = sorted(EXPECTED)


def _public(module_name: str) -> list[tuple[str, object]]:
    module = importlib.import_module(module_name)
    return [(name, getattr(module, name)) for name in module.__all__]


@pytest.mark.parametrize("module_name", MODULES)
def test_all_names_exist(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert len(module.__all__) == len(set(module.__all__)), f"{module_name}.__all__ has duplicates"
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{module_name}.__all__ lists names the module lacks: {missing}"


@pytest.mark.parametrize("module_name", MODULES)
def test_expected_names_are_public(module_name: str) -> None:
    module = importlib.import_module(module_name)
    gone = sorted(set(EXPECTED[module_name]) - set(module.__all__))
    assert not gone, f"public names disappeared from {module_name}.__all__: {gone}"


def test_version_is_a_string() -> None:
    import xrdsynth

    assert isinstance(xrdsynth.__version__, str)
    assert xrdsynth.__version__


def test_plot_is_an_attribute_without_importing_it() -> None:
    code = "import sys, xrdsynth as xs; assert 'xrdsynth.plot' not in sys.modules; print(xs.plot.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "xrdsynth.plot"
    import xrdsynth

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        xrdsynth.nothing  # noqa: B018


def _own_members(cls: type) -> list[tuple[str, object]]:
    """Public methods and properties defined in ``cls`` itself (inherited ones are checked where defined)."""
    members = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property) or inspect.isfunction(value):
            members.append((name, value))
    return members


def _undocumented(module_name: str) -> list[str]:
    missing = []
    for name, obj in _public(module_name):
        if inspect.ismodule(obj) or not (inspect.isclass(obj) or callable(obj)):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(f"{module_name}.{name}")
        if inspect.isclass(obj):
            for member_name, member in _own_members(obj):
                doc = member.fget.__doc__ if isinstance(member, property) else member.__doc__
                if not (doc or "").strip():
                    missing.append(f"{module_name}.{name}.{member_name}")
    return missing


@pytest.mark.parametrize("module_name", MODULES)
def test_public_objects_have_docstrings(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert (module.__doc__ or "").strip(), f"{module_name} has no module docstring"
    missing = _undocumented(module_name)
    assert not missing, f"public objects without a docstring: {missing}"


def test_quickstart_example_runs() -> None:
    script = ROOT / "examples" / "quickstart.py"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # The bundled quartz is alpha-quartz in P3_221 (154): Si on 3a (site symmetry .2.), O on the general 6c.
    assert "space group: 154 P3_221 (trigonal)" in out
    assert "O6 Si3" in out
    assert "note:" not in out, "spglib finds another group than the CIF states"
    sites = [line.split() for line in out.splitlines() if line.startswith("  ") and "Wyckoff" not in line]
    rows = {(fields[0], fields[1], fields[2], fields[-1]) for fields in sites}
    # Coordinate triplets as the International Tables write them for P3_221.
    assert ("3a", ".2.", "x,0,2/3", "Si") in rows
    assert ("6c", "1", "x,y,z", "O") in rows
