"""Pymatgen stick-pattern references for the powder simulator: storage, comparison and a brute-force check.

Used by ``tests/test_simulate_pymatgen.py`` (stored references), ``benchmarks/fidelity.py`` and
``benchmarks/simulate.py`` (live pymatgen over amcsd-dev) and ``scripts/make_pymatgen_references.py`` (writes
the stored references). Nothing here imports the simulator; pymatgen (an optional dependency, in the
``test`` extra) is imported only by the functions that call it.

Conventions of the comparison (issue 3):

- Both codes see the identical structure: the ``Crystal`` is converted with ``Crystal.to_pymatgen()``, with
  B = 0 and no charges on both sides (:func:`reference_crystal`). pymatgen takes Debye–Waller factors only per
  element and ignores oxidation states in its form factors, and amcsd-dev carries neither B nor charges, so
  B = 0 with neutral atoms is the one setting both codes can describe identically.
- Cu Kα1, λ = 1.540593 Å (passed to pymatgen as a float), 2θ from 5 to 90°.
- Positions: every reference peak of at least 1% of the strongest has a peak of ours within 1e-4° 2θ, and
  every peak of ours of at least 1% has a reference peak within 1e-4° (:func:`compare`).
- Intensities: both stick lists rendered with one Gaussian (FWHM 0.1° on the 5–90° grid of 8501 points)
  agree with cosine >= 0.999 (:func:`render`, :func:`cosine`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gemmi
import numpy as np
import numpy.typing as npt

from ..structure import Crystal

WAVELENGTH = 1.540593  # Å, Cu Kα1 as in DESIGN.md
TWO_THETA_RANGE = (5.0, 90.0)  # degrees
GRID = (5.0, 90.0, 8501)  # start, stop (degrees), points: the simulator's default grid
FWHM = 0.1  # degrees 2θ, the Gaussian both stick lists are rendered with
POSITION_TOLERANCE = 1e-4  # degrees 2θ
MIN_RELATIVE_INTENSITY = 1.0  # percent of the strongest peak: peaks that must be matched
MIN_COSINE = 0.999
MIN_SHARE_WITHIN_COSINE = 0.99

# pymatgen merges reflections whose 2θ round to the same multiple of this (degrees) and drops peaks below
# this many percent of the strongest (AbstractDiffractionPatternCalculator.TWO_THETA_TOL and
# SCALED_INTENSITY_TOL); the brute-force calculator below does the same.
PYMATGEN_TWO_THETA_TOL = 1e-5
PYMATGEN_SCALED_INTENSITY_TOL = 1e-3
# f(s) = Z - MOTT_BETHE_CONSTANT s² Σ a_i exp(-b_i s²): pymatgen's form of the X-ray form factor.
MOTT_BETHE_CONSTANT = 41.78214

_CHUNK_ENTRIES = 1 << 20  # atoms × reflections held at once in the structure-factor sum


@dataclasses.dataclass(frozen=True)
class Sticks:
    """A stick pattern, peaks in increasing 2θ.

    Attributes:
        two_theta: (n,) float64, degrees.
        intensity: (n,) float64, the strongest peak is 100.
        hkl: (n, 3) int64, one representative reflection per peak (three-index form also for hexagonal
            lattices).
        d: (n,) float64, Å.
        multiplicity: (n,) int64, number of reflections (hkl and -h-k-l counted separately) in the peak.
    """

    two_theta: npt.NDArray[np.float64]
    intensity: npt.NDArray[np.float64]
    hkl: npt.NDArray[np.int64]
    d: npt.NDArray[np.float64]
    multiplicity: npt.NDArray[np.int64]

    @classmethod
    def from_peaks(cls, peaks: Any) -> Sticks:
        """From any object with the same fields (the simulator's ``PeakList``), sorted by 2θ."""
        two_theta = np.asarray(peaks.two_theta, dtype=np.float64).reshape(-1)
        order = np.argsort(two_theta, kind="stable")
        multiplicity = getattr(peaks, "multiplicity", None)
        n = two_theta.size
        return cls(
            two_theta=two_theta[order],
            intensity=np.asarray(peaks.intensity, dtype=np.float64).reshape(-1)[order],
            hkl=np.asarray(peaks.hkl, dtype=np.int64).reshape(n, 3)[order],
            d=np.asarray(peaks.d, dtype=np.float64).reshape(-1)[order],
            multiplicity=(
                np.zeros(n, dtype=np.int64)
                if multiplicity is None
                else np.asarray(multiplicity, dtype=np.int64).reshape(-1)[order]
            ),
        )


@dataclasses.dataclass(frozen=True)
class Reference:
    """One stored structure and pymatgen's stick pattern of it; ``note`` says why a structure was added by
    name (a regression case) and is empty for the sampled ones."""

    name: str
    crystal: Crystal
    sticks: Sticks
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Result of :func:`compare`.

    Attributes:
        cosine: cosine similarity of the two rendered patterns.
        missing: (k,) 2θ of reference peaks >= 1% with no peak of ours within the position tolerance.
        missing_hkl: (k, 3) their hkl.
        extra: (m,) 2θ of our peaks >= 1% with no reference peak within the position tolerance.
        extra_hkl: (m, 3) their hkl.
        max_offset: largest distance (degrees) from a reference peak >= 1% to the nearest peak of ours, and
            from a peak of ours >= 1% to the nearest reference peak.
    """

    cosine: float
    missing: npt.NDArray[np.float64]
    missing_hkl: npt.NDArray[np.int64]
    extra: npt.NDArray[np.float64]
    extra_hkl: npt.NDArray[np.int64]
    max_offset: float

    @property
    def positions_ok(self) -> bool:
        """Every peak of at least 1% has a partner within the position tolerance, both ways."""
        return self.missing.size == 0 and self.extra.size == 0

    @property
    def cosine_ok(self) -> bool:
        """The rendered patterns agree with cosine >= :data:`MIN_COSINE`."""
        return self.cosine >= MIN_COSINE


# -----------------------------------------------------------------------------------------------------------
# The structure both codes see, and pymatgen's pattern of it


def reference_crystal(crystal: Crystal) -> Crystal:
    """The crystal as both codes are compared on it: B = 0, no charges, occupancies capped at 1.

    pymatgen sites cannot hold more than full occupancy (``Crystal.to_pymatgen`` caps refined values up to
    1.1 at 1), so the cap is applied here to the crystal itself and both codes see the same atoms.
    """
    return dataclasses.replace(
        crystal,
        occupancies=np.minimum(crystal.occupancies, 1.0),
        b_iso=np.zeros(crystal.num_atoms),
        charges=np.zeros(crystal.num_atoms),
    )


def pymatgen_sticks(crystal: Crystal) -> Sticks:
    """pymatgen's ``XRDCalculator(wavelength=1.540593).get_pattern(scaled=True, two_theta_range=(5, 90))``.

    The crystal is used as given (pass it through :func:`reference_crystal` first); a structure that
    ``to_pymatgen`` would have to change (capped occupancies) raises ``ValueError``.
    """
    from pymatgen.analysis.diffraction.xrd import XRDCalculator

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        try:
            structure = crystal.to_pymatgen()
        except UserWarning as exc:
            raise ValueError(f"to_pymatgen changed the structure: {exc}") from exc
    pattern = XRDCalculator(wavelength=WAVELENGTH).get_pattern(
        structure, scaled=True, two_theta_range=TWO_THETA_RANGE
    )
    n = len(pattern.x)
    hkl = np.zeros((n, 3), dtype=np.int64)
    multiplicity = np.zeros(n, dtype=np.int64)
    for i, families in enumerate(pattern.hkls):
        first = families[0]["hkl"]
        # Hexagonal lattices come in Miller–Bravais form (h, k, i, l) with i = -h-k.
        hkl[i] = (first[0], first[1], first[-1])
        multiplicity[i] = sum(int(family["multiplicity"]) for family in families)
    return Sticks(
        two_theta=np.asarray(pattern.x, dtype=np.float64),
        intensity=np.asarray(pattern.y, dtype=np.float64),
        hkl=hkl,
        d=np.asarray(pattern.d_hkls, dtype=np.float64),
        multiplicity=multiplicity,
    )


def pymatgen_version() -> str:
    """Installed pymatgen version, with that of the separate ``pymatgen-core`` distribution where present."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{version('pymatgen')} (pymatgen-core {version('pymatgen-core')})"
    except PackageNotFoundError:
        return version("pymatgen")


# -----------------------------------------------------------------------------------------------------------
# Storage: one compressed .npz, ragged arrays with offsets


def save_references(path: str | Path, references: Sequence[Reference], **metadata: str) -> None:
    """Write references to one compressed .npz (no pickles): crystals and sticks concatenated, with
    ``atom_offsets`` and ``peak_offsets`` of length S + 1; string metadata stored as 0-d arrays."""
    crystals = [ref.crystal for ref in references]
    sticks = [ref.sticks for ref in references]
    arrays: dict[str, Any] = {
        "names": np.array([ref.name for ref in references]),
        "notes": np.array([ref.note for ref in references]),
        "lattice": np.stack([c.lattice for c in crystals]),
        "space_group": np.array([c.space_group for c in crystals], dtype=np.int64),
        "atom_offsets": np.concatenate([[0], np.cumsum([c.num_atoms for c in crystals])]).astype(np.int64),
        "frac_coords": np.concatenate([c.frac_coords for c in crystals]),
        "numbers": np.concatenate([c.numbers for c in crystals]).astype(np.int16),
        "occupancies": np.concatenate([c.occupancies for c in crystals]),
        "b_iso": np.concatenate([c.b_iso for c in crystals]),
        "charges": np.concatenate([c.charges for c in crystals]),
        "peak_offsets": np.concatenate([[0], np.cumsum([s.two_theta.size for s in sticks])]).astype(np.int64),
        "two_theta": np.concatenate([s.two_theta for s in sticks]),
        "intensity": np.concatenate([s.intensity for s in sticks]),
        "hkl": np.concatenate([s.hkl for s in sticks]).astype(np.int16),
        "d": np.concatenate([s.d for s in sticks]),
        "multiplicity": np.concatenate([s.multiplicity for s in sticks]).astype(np.int32),
        "wavelength": np.float64(WAVELENGTH),
        "two_theta_range": np.array(TWO_THETA_RANGE),
    }
    for key, value in metadata.items():
        arrays[key] = np.array(str(value))
    np.savez_compressed(path, **arrays)


def load_references(path: str | Path) -> tuple[list[Reference], dict[str, str]]:
    """Read a file written by :func:`save_references`: the references and the string metadata (for example
    ``pymatgen_version``)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    if float(arrays["wavelength"]) != WAVELENGTH or tuple(arrays["two_theta_range"]) != TWO_THETA_RANGE:
        raise ValueError(f"{path}: made for another wavelength or 2θ range than this module compares")
    atoms, peaks = arrays["atom_offsets"], arrays["peak_offsets"]
    references = []
    for i, name in enumerate(arrays["names"]):
        a = slice(int(atoms[i]), int(atoms[i + 1]))
        p = slice(int(peaks[i]), int(peaks[i + 1]))
        crystal = Crystal(
            lattice=arrays["lattice"][i],
            frac_coords=arrays["frac_coords"][a],
            numbers=arrays["numbers"][a].astype(np.int64),
            occupancies=arrays["occupancies"][a],
            b_iso=arrays["b_iso"][a],
            charges=arrays["charges"][a],
            space_group=int(arrays["space_group"][i]),
        )
        sticks = Sticks(
            two_theta=arrays["two_theta"][p],
            intensity=arrays["intensity"][p],
            hkl=arrays["hkl"][p].astype(np.int64),
            d=arrays["d"][p],
            multiplicity=arrays["multiplicity"][p].astype(np.int64),
        )
        references.append(Reference(str(name), crystal, sticks, str(arrays["notes"][i])))
    metadata = {
        key: str(value) for key, value in arrays.items() if value.ndim == 0 and value.dtype.kind == "U"
    }
    return references, metadata


# -----------------------------------------------------------------------------------------------------------
# Comparison maths


def grid(spec: tuple[float, float, int] = GRID) -> npt.NDArray[np.float64]:
    """(P,) float64 2θ grid in degrees, endpoints included."""
    return np.linspace(spec[0], spec[1], spec[2])


def render(
    two_theta: npt.NDArray[np.float64],
    intensity: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    fwhm: float = FWHM,
) -> npt.NDArray[np.float64]:
    """Sticks (n,) at ``two_theta`` (degrees) with ``intensity`` as Gaussians of height ``intensity`` and
    full width ``fwhm`` (degrees) on the uniform grid ``x`` (P,); each peak is evaluated within ±8σ only
    (exp(-32) ≈ 1e-14 of its height beyond)."""
    sigma = fwhm / math.sqrt(8.0 * math.log(2.0))
    step = (x[-1] - x[0]) / (x.size - 1)
    half = math.ceil(8.0 * sigma / step)
    centre = np.rint((two_theta - x[0]) / step).astype(np.int64)
    index = centre[:, None] + np.arange(-half, half + 1)[None, :]  # (n, window)
    inside = (index >= 0) & (index < x.size)
    index = np.clip(index, 0, x.size - 1)
    values = intensity[:, None] * np.exp(-0.5 * ((x[index] - two_theta[:, None]) / sigma) ** 2)
    out = np.zeros_like(x)
    np.add.at(out, index[inside], values[inside])
    return out


def cosine(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    """Cosine similarity of two patterns; 0 where either is all zeros."""
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norm) if norm > 0 else 0.0


def _nearest_distance(points: npt.NDArray[np.float64], sorted_targets: npt.NDArray[np.float64]) -> Any:
    """For each point, the distance to the nearest of ``sorted_targets`` (inf when there are none)."""
    if sorted_targets.size == 0:
        return np.full(points.shape, np.inf)
    j = np.searchsorted(sorted_targets, points)
    left = sorted_targets[np.clip(j - 1, 0, sorted_targets.size - 1)]
    right = sorted_targets[np.clip(j, 0, sorted_targets.size - 1)]
    return np.minimum(np.abs(points - left), np.abs(points - right))


def compare(ours: Sticks, reference: Sticks, x: npt.NDArray[np.float64] | None = None) -> Comparison:
    """Positions within :data:`POSITION_TOLERANCE` both ways for peaks >= 1%, and the cosine of the two
    patterns rendered with the same Gaussian on ``x`` (default :data:`GRID`)."""
    x = grid() if x is None else x
    ours_sorted = np.sort(ours.two_theta)
    reference_sorted = np.sort(reference.two_theta)
    strong_ref = reference.intensity >= MIN_RELATIVE_INTENSITY * reference.intensity.max() / 100.0
    strong_ours = ours.intensity >= MIN_RELATIVE_INTENSITY * ours.intensity.max() / 100.0
    ref_distance = _nearest_distance(reference.two_theta[strong_ref], ours_sorted)
    our_distance = _nearest_distance(ours.two_theta[strong_ours], reference_sorted)
    missing = ref_distance > POSITION_TOLERANCE
    extra = our_distance > POSITION_TOLERANCE
    return Comparison(
        cosine=cosine(
            render(ours.two_theta, ours.intensity, x), render(reference.two_theta, reference.intensity, x)
        ),
        missing=reference.two_theta[strong_ref][missing],
        missing_hkl=reference.hkl[strong_ref][missing],
        extra=ours.two_theta[strong_ours][extra],
        extra_hkl=ours.hkl[strong_ours][extra],
        max_offset=float(np.max(np.concatenate([ref_distance, our_distance, [0.0]]))),
    )


def joint_clusters(
    a: Sticks, b: Sticks, tolerance: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], Any, Any]:
    """Peaks of both lists grouped together wherever neighbours (of either list) are within ``tolerance``
    degrees, so that two codes that merge near-coincident reflections differently compare equal.

    Returns:
        position: (C,) float64 lowest 2θ of each cluster; intensity_a, intensity_b: (C,) summed intensities;
        multiplicity_a, multiplicity_b: (C,) int64 summed multiplicities (0 where a list has no peak).
    """
    two_theta = np.concatenate([a.two_theta, b.two_theta])
    order = np.argsort(two_theta, kind="stable")
    cluster = np.empty(two_theta.size, dtype=np.int64)
    cluster[order] = np.concatenate([[0], np.cumsum(np.diff(two_theta[order]) > tolerance)])
    n = int(cluster.max()) + 1 if two_theta.size else 0
    in_a = np.arange(two_theta.size) < a.two_theta.size
    position = np.full(n, np.inf)
    np.minimum.at(position, cluster, two_theta)

    def summed(values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        return np.bincount(cluster[mask], weights=values, minlength=n)

    return (
        position,
        summed(a.intensity, in_a),
        summed(b.intensity, ~in_a),
        summed(a.multiplicity.astype(np.float64), in_a).astype(np.int64),
        summed(b.multiplicity.astype(np.float64), ~in_a).astype(np.int64),
    )


# -----------------------------------------------------------------------------------------------------------
# A brute-force kinematic calculator in numpy, to tell form-factor effects from simulator errors


def _form_factors(numbers: npt.NDArray[np.int64], s2: npt.NDArray[np.float64], table: str) -> Any:
    """(E, M) form factors of the elements ``numbers`` (E,) at s² = (sinθ/λ)² (M,), Å⁻²."""
    if table == "it92":
        rows = []
        for z in numbers:
            coef = gemmi.Element(int(z)).it92
            a, b = np.array(coef.a), np.array(coef.b)
            rows.append(np.exp(-b[:, None] * s2[None, :]).T @ a + coef.c)
        return np.array(rows)
    if table == "pymatgen":
        from pymatgen.analysis.diffraction.xrd import ATOMIC_SCATTERING_PARAMS

        rows = []
        for z in numbers:
            coef = np.asarray(ATOMIC_SCATTERING_PARAMS[gemmi.Element(int(z)).name])
            rows.append(
                z - MOTT_BETHE_CONSTANT * s2 * (np.exp(-coef[:, 1][None, :] * s2[:, None]) @ coef[:, 0])
            )
        return np.array(rows)
    raise ValueError(f"unknown form-factor table {table!r}, expected 'it92' or 'pymatgen'")


def kinematic_sticks(crystal: Crystal, table: str = "it92") -> Sticks:
    """Stick pattern by brute force over every hkl of the limiting sphere, in float64 numpy.

    F(hkl) = Σ_j occ_j f_j(s) exp(-B_j s²) exp(2πi h·x_j), I = ``|F|²`` (1 + cos² 2θ) / (sin² θ cos θ), summed
    over every reflection (so multiplicities come out of the enumeration), merged and thresholded like
    pymatgen.
    ``table`` is "it92" (gemmi's coefficients, the simulator's convention) or "pymatgen" (its Mott–Bethe
    coefficients; reproduces ``XRDCalculator``). Independent of the simulator: a diagnostic reference.
    """
    lattice = crystal.lattice
    reciprocal = np.linalg.inv(lattice).T  # rows a*, b*, c* (crystallographic, no 2π)
    g_min, g_max = (2.0 * math.sin(math.radians(t / 2.0)) / WAVELENGTH for t in TWO_THETA_RANGE)
    limits = [math.floor(g_max * np.linalg.norm(row)) for row in lattice]
    axes = [np.arange(-n, n + 1) for n in limits]
    hkl = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    g = np.linalg.norm(hkl @ reciprocal, axis=1)
    keep = (g >= g_min) & (g <= g_max) & np.any(hkl != 0, axis=1)
    hkl, g = hkl[keep], g[keep]
    s2 = (g / 2.0) ** 2
    elements, index = np.unique(crystal.numbers, return_inverse=True)
    f = _form_factors(elements, s2, table)  # (E, M)
    weight = crystal.occupancies[:, None] * np.exp(-crystal.b_iso[:, None] * s2[None, :])  # (N, M)
    structure_factor = np.zeros(g.size, dtype=np.complex128)
    chunk = max(1, _CHUNK_ENTRIES // crystal.num_atoms)
    for start in range(0, g.size, chunk):
        rows = slice(start, start + chunk)
        phase = np.exp(2j * np.pi * (crystal.frac_coords @ hkl[rows].T))  # (N, chunk)
        structure_factor[rows] = np.sum(f[index, rows] * weight[:, rows] * phase, axis=0)
    theta = np.arcsin(WAVELENGTH * g / 2.0)
    lorentz_polarisation = (1.0 + np.cos(2.0 * theta) ** 2) / (np.sin(theta) ** 2 * np.cos(theta))
    intensity = np.abs(structure_factor) ** 2 * lorentz_polarisation
    two_theta = np.degrees(2.0 * theta)
    _, first, inverse = np.unique(
        np.rint(two_theta / PYMATGEN_TWO_THETA_TOL).astype(np.int64), return_index=True, return_inverse=True
    )
    summed = np.bincount(inverse, weights=intensity)
    counts = np.bincount(inverse)
    keep = summed / summed.max() * 100.0 > PYMATGEN_SCALED_INTENSITY_TOL
    return Sticks(
        two_theta=two_theta[first][keep],
        intensity=summed[keep] / summed.max() * 100.0,
        hkl=hkl[first][keep],
        d=1.0 / g[first][keep],
        multiplicity=counts[keep].astype(np.int64),
    )
