"""Statistics of real crystals that the sampler draws from: the record (:class:`SamplerStatistics`), its JSON
file format, validation and loading (the shipped and named statistics). What is counted, and how it is
fitted from any CIF collection, is in :mod:`._fit`.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .._elements import atomic_number, element_symbol
from .._lattice import parameters_from_lattice
from ..symmetry import CRYSTAL_SYSTEMS, lattice_system
from ._radii import covalent_radii

__all__ = [
    "ANIONS",
    "CELL_KERNEL_WIDTH",
    "DEFAULT_STATISTICS_FILE",
    "FIT_SYMPREC",
    "FORMER_CELL_KERNEL_WIDTH",
    "LATTICE_VARIABLES",
    "MAX_ELEMENTS",
    "MAX_SITES_PER_ELEMENT",
    "MAX_VOLUME_SHIFT",
    "MIN_CELL_EDGE_QUANTILE",
    "MIN_DISTANCE_FLOOR",
    "MIN_DISTANCE_QUANTILE",
    "MIN_PAIR_STRUCTURES",
    "NAMED_STATISTICS",
    "V1_MIN_DISTANCE_RADII_SCALE",
    "VOLUME_QUANTILE_LEVELS",
    "SamplerStatistics",
    "default_statistics",
    "lattice_variables",
    "named_statistics",
    "pair_key",
]

FORMAT = "xrdsynth-sampler-statistics"
VERSION = 2
READABLE_VERSIONS = (1, 2)
DEFAULT_STATISTICS_FILE = "default_statistics.json"
#: Statistics shipped with the package, by name: ``"default"`` (the current fit) and ``"default-v1"`` (the
#: version-1 statistics shipped before effective volumes and pair distances, kept to compare with).
NAMED_STATISTICS = {"default": DEFAULT_STATISTICS_FILE, "default-v1": "default_statistics_v1.json"}
FIT_SYMPREC = 1e-2  # Å; published coordinates often have 3-4 decimals, too coarse for 1e-3
MAX_ELEMENTS = 8  # distinct elements per crystal; larger counts are pooled into the last bin
MAX_SITES_PER_ELEMENT = 12  # Wyckoff sites per element; larger counts are pooled into the last bin
# The largest |volume_shift| statistics may hold: a factor e^2 (7.4) on the drawn volumes either way.
MAX_VOLUME_SHIFT = 2.0
# Cell shapes are drawn from a kernel density over the fitted cells: a random fitted cell plus Gaussian
# noise of this fraction of the fitted covariance's square root (about 0.25° in monoclinic beta and 1 % in
# a length ratio for amcsd-dev): close to the real cells, whose precise ratios make them harder to classify
# than nearby ones (an A/B on rruff-dev: 27.6 % against 25.2 % with 0.1, McNemar p = 0.007; docs/sampler.md),
# keeping the correlations a Gaussian loses (a pseudo-orthorhombic monoclinic cell stays one); no sampled
# cell repeats a real one exactly. Statistics may set another (``SamplerStatistics.cell_kernel_width``).
CELL_KERNEL_WIDTH = 0.02
# Statistics files written before the width was a field were drawn with this one, and still are.
FORMER_CELL_KERNEL_WIDTH = 0.1
#: Atomic numbers counted as anions (N, O, F, S, Cl, Se, Br, Te, I): Wyckoff letters are counted for them
#: apart, and pairs of two non-anions are cation pairs for the sampler's minimum distances.
ANIONS = frozenset({7, 8, 9, 16, 17, 34, 35, 52, 53})
#: A pair's distance is this quantile of its per-structure shortest distances: in 15 % of the structures
#: holding both elements (fully occupied sites only), the pair comes closer than it. The sampler pushes pairs
#: toward it and enforces ``MIN_DISTANCE_FLOOR`` of it. The 15 % quantile (not a lower one) because bonds
#: (cation-anion pairs) have narrow distributions, where 5 % and 15 % differ by a few hundredths of an Å,
#: while like-ion pairs (O-O, cation-cation) spread widely: at 5 %, sampled O-O and cation-cation contacts
#: came out ~0.4 Å shorter than real ones (median) and the shortest distance of a crystal had a KS distance
#: of 0.18 to the real one; at 15 % it is 0.13 (docs/sampler.md). The lowest few percent are mostly disorder
#: written as full occupancy, X-ray hydrogen positions, errors.
MIN_DISTANCE_QUANTILE = 0.15
#: The sampler never lets a pair come closer than this fraction of its distance (it pushes pairs toward the
#: full distance where the crystal leaves room). Random coordinates pushed apart cannot reach the order
#: that lets real crystals keep every pair beyond its quantile at their density.
MIN_DISTANCE_FLOOR = 0.85
#: Pairs seen in fewer structures fall back to the radii rule (at most their shortest observed distance).
MIN_PAIR_STRUCTURES = 5
#: The shortest allowed cell edge is this quantile of the shortest edge of the standardised cells.
MIN_CELL_EDGE_QUANTILE = 0.001
#: Probability levels at which the volume residual's quantiles are stored (the sampler interpolates
#: between them, so residuals beyond the 1st and 99th percentiles are not drawn).
VOLUME_QUANTILE_LEVELS = tuple(float(x) for x in np.linspace(0.01, 0.99, 50))
#: Weight of the prior (covalent-sphere volume x a common factor) in the element-volume fit, in structures.
VOLUME_RIDGE = 1.0
#: Smallest effective volume relative to the prior (keeps every fitted volume positive).
MIN_VOLUME_FRACTION = 0.1
#: Occupancy from which an atom counts as fully occupied (for distances).
FULL_OCCUPANCY = 0.99
#: The minimum distance of version-1 statistics: this times the sum of covalent radii.
V1_MIN_DISTANCE_RADII_SCALE = 0.5

#: Variables describing the cell shape of each lattice system (lengths as log ratios, angles in degrees).
LATTICE_VARIABLES: dict[str, tuple[str, ...]] = {
    "triclinic": ("log_b_over_a", "log_c_over_a", "alpha", "beta", "gamma"),
    "monoclinic": ("log_b_over_a", "log_c_over_a", "beta"),
    "orthorhombic": ("log_b_over_a", "log_c_over_a"),
    "tetragonal": ("log_c_over_a",),
    "rhombohedral": ("log_c_over_a",),
    "hexagonal": ("log_c_over_a",),
    "cubic": (),
}

# Used for a lattice system with fewer than _MIN_CELLS_PER_SYSTEM fitted cells: broad, plausible shapes.
_MIN_CELLS_PER_SYSTEM = 10
_FALLBACK_MEAN = {"log_b_over_a": 0.1, "log_c_over_a": 0.2, "alpha": 95.0, "beta": 102.0, "gamma": 95.0}
_FALLBACK_STD = {"log_b_over_a": 0.3, "log_c_over_a": 0.4, "alpha": 8.0, "beta": 8.0, "gamma": 8.0}


def lattice_variables(system: str, lattice: np.ndarray) -> list[float]:
    """The shape variables of :data:`LATTICE_VARIABLES` for one (3, 3) lattice (Å) of a lattice system.

    Monoclinic cells are described with an obtuse beta (beta and 180° - beta are the same cell with c
    reversed).
    """
    a, b, c, alpha, beta, gamma = parameters_from_lattice(lattice)
    values = {
        "log_b_over_a": math.log(b / a),
        "log_c_over_a": math.log(c / a),
        "alpha": alpha,
        "beta": max(beta, 180.0 - beta) if system == "monoclinic" else beta,
        "gamma": gamma,
    }
    return [values[name] for name in LATTICE_VARIABLES[system]]


@dataclass(frozen=True)
class LatticeShape:
    """The cell shapes of one lattice system: the fitted cells' shape variables, and their Gaussian.

    Where ``samples`` holds the fitted cells, the sampler draws a random one of them plus Gaussian noise
    whose covariance is ``cell_kernel_width``² (0.02² in new fits) times ``cov`` (a kernel density
    estimate, see :class:`SamplerStatistics`); without samples
    (statistics saved before they were kept, or fewer than ``KERNEL_MIN_CELLS`` cells) it draws from the
    Gaussian. The kernel keeps what a Gaussian
    loses: real monoclinic cells whose standard setting has beta far from 90° often have another cell
    choice with beta within a few degrees of 90° (pseudo-orthorhombic; P2₁/n settings of P2₁/c), a quarter
    of them in amcsd-dev against a tenth of Gaussian draws.

    Attributes:
        variables: names, see :data:`LATTICE_VARIABLES`.
        mean: (k,) means (log ratios, degrees).
        cov: (k, k) covariance.
        count: number of cells fitted (0 for the fallback).
        samples: (m, k) the fitted cells' shape variables (empty: Gaussian only).
    """

    variables: tuple[str, ...]
    mean: tuple[float, ...]
    cov: tuple[tuple[float, ...], ...]
    count: int
    samples: tuple[tuple[float, ...], ...] = ()


@dataclass(frozen=True)
class SamplerStatistics:
    """Counts and distributions of real crystals that :class:`~xrdsynth.SpaceGroupSampler` draws from.

    Fit with :func:`fit_statistics`; save with :meth:`save` and read with :meth:`load` (one JSON file).
    Mappings are keyed by space-group number (int) or element symbol (str); counts are ints.

    Attributes:
        source: free text saying what the statistics were fitted on.
        num_structures: crystals used.
        num_skipped: crystals that could not be analysed (unreadable CIF, spglib failure).
        space_group_counts: space group -> number of crystals.
        num_elements_counts: (MAX_ELEMENTS,) crystals with 1, 2, ... distinct elements (last bin: more).
        element_counts: space group -> element -> number of crystals of that group containing it.
        sites_per_element_counts: element -> (MAX_SITES_PER_ELEMENT,) how often it occupies 1, 2, ... sites.
        sites_by_system_counts: crystal system -> element -> (MAX_SITES_PER_ELEMENT,) the same counts split
            by crystal system (they sum to ``sites_per_element_counts``): low symmetry needs more sites
            for the same formula (a triclinic silicate has several O sites where a cubic oxide has one).
            Empty in statistics fitted before it existed (the sampler then ignores the system).
        element_set_counts: crystal system -> element set (symbols in order of atomic number, separated by
            spaces, e.g. ``"O Mg Si"``) -> number of crystals with exactly these elements; empty in
            version-1 statistics (the sampler then draws the elements one by one from ``element_counts``).
        wyckoff_counts: space group -> Wyckoff letter -> number of occupied sites with that letter.
        anion_wyckoff_counts: the same for the sites whose main element is an anion (:data:`ANIONS`);
            empty in version-1 statistics (the sampler then draws every element's positions alike).
        packing_fraction_log_mean, packing_fraction_log_std: mean and standard deviation of the natural
            log of the packing fraction (sum of covalent-sphere volumes / cell volume); the sampler uses
            them only when ``element_volumes`` is empty (version-1 statistics).
        lattice: lattice system -> :class:`LatticeShape`.
        summary: quantiles for documentation (volume per atom, atoms per cell, packing fraction,
            nearest-neighbour distance over the sum of covalent radii, shortest edge, ...); not used for
            sampling.
        element_volumes: element -> effective volume in Å³ per atom (:func:`fit_element_volumes`), for the
            elements of the collection; empty in version-1 statistics.
        volume_prior_factor: effective volume of an element absent from ``element_volumes``, as a multiple
            of its covalent-sphere volume (the fit's prior).
        volume_residual_quantiles: quantiles of log(V / sum_Z n_Z v_Z) over the collection at the levels
            :data:`VOLUME_QUANTILE_LEVELS` (what the element volumes do not explain: packing, hydrogen left
            out of the structure, open frameworks); empty exactly when ``element_volumes`` is.
        volume_shift: added to the log volume residual when sampling (0 unless calibrated with
            :func:`~xrdsynth.sampler.calibrate_volume_shift`: random arrangements need more room than
            ordered ones, so the sampler's crowded cells grow and the sampled volumes come out larger
            than the statistics' unless the drawn ones are a little smaller).
        min_distances: ``"A-B"`` (symbols in order of atomic number, :func:`pair_key`) -> the pair's
            minimum distance in Å (:func:`resolve_min_distances`).
        min_distance_structures: ``"A-B"`` -> number of structures the pair's distance was measured in.
        min_distance_radii_scale: a pair absent from ``min_distances`` gets this times the sum of the two
            covalent radii.
        min_distance_quantile: the quantile the pair distances were fitted at (None: not fitted).
        min_distance_floor: the sampler pushes pairs toward their distance and never lets them come
            closer than this fraction of it (1.0 in version-1 statistics).
        min_cell_edge: shortest allowed edge of a conventional cell in Å (0: no floor).
        cells_by_group: space group -> (m, k) the shape variables (:data:`LATTICE_VARIABLES` of its lattice
            system) of the group's own fitted cells, for groups with at least ``GROUP_KERNEL_MIN_CELLS``
            of them. The sampler draws a listed group's cell shapes from the kernel density over these
            (with its lattice system's noise) instead of over the whole system's cells: the standard
            setting ties the symmetry elements to the axes, and real crystals of a group share how their
            cells sit relative to them (the c glide of P2₁/c runs along the longest edge in 64 % of
            amcsd-dev's P2₁/c structures, in 38 % of cells drawn from all monoclinic cells), which
            changes which reflections a powder pattern loses. Empty in statistics fitted before it
            existed (then every group draws from its system's cells, as before).
        cell_kernel_width: the kernel density's noise over the fitted cells, as a fraction of the lattice
            system's fitted standard deviations (``CELL_KERNEL_WIDTH``, 0.02, in new fits; 0.1 in files
            written before it was a field):
            smaller keeps the sampled cells closer to the real ones (and their near-coincidences of
            reflections), larger spreads them.
    """

    source: str
    num_structures: int
    num_skipped: int
    space_group_counts: Mapping[int, int]
    num_elements_counts: tuple[int, ...]
    element_counts: Mapping[int, Mapping[str, int]]
    sites_per_element_counts: Mapping[str, tuple[int, ...]]
    wyckoff_counts: Mapping[int, Mapping[str, int]]
    packing_fraction_log_mean: float
    packing_fraction_log_std: float
    lattice: Mapping[str, LatticeShape]
    summary: Mapping[str, Any] = field(default_factory=dict)
    element_set_counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    anion_wyckoff_counts: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    element_volumes: Mapping[str, float] = field(default_factory=dict)
    volume_prior_factor: float = 1.0
    volume_residual_quantiles: tuple[float, ...] = ()
    volume_shift: float = 0.0
    min_distances: Mapping[str, float] = field(default_factory=dict)
    min_distance_structures: Mapping[str, int] = field(default_factory=dict)
    min_distance_radii_scale: float = V1_MIN_DISTANCE_RADII_SCALE
    min_distance_quantile: float | None = None
    min_distance_floor: float = 1.0
    min_cell_edge: float = 0.0
    sites_by_system_counts: Mapping[str, Mapping[str, tuple[int, ...]]] = field(default_factory=dict)
    cells_by_group: Mapping[int, tuple[tuple[float, ...], ...]] = field(default_factory=dict)
    cell_kernel_width: float = CELL_KERNEL_WIDTH

    def min_distance(self, a: str | int, b: str | int) -> float:
        """The minimum distance in Å the sampler keeps between elements ``a`` and ``b`` (symbols or atomic
        numbers): the fitted value of the pair, else ``min_distance_radii_scale`` x (r_a + r_b)."""
        za, zb = (atomic_number(x) if isinstance(x, str) else int(x) for x in (a, b))
        key = pair_key(za, zb)
        if key in self.min_distances:
            return float(self.min_distances[key])
        radii = covalent_radii()
        return float(self.min_distance_radii_scale * (radii[za] + radii[zb]))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the statistics as one human-readable JSON file."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SamplerStatistics:
        """Read statistics written by :meth:`save`.

        Raises:
            ValueError: the file does not exist or is not a statistics file of a known version.
        """
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"statistics file {str(path)!r} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read statistics file {str(path)!r}: {exc}") from None
        return cls.from_dict(data, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready content (what :meth:`save` writes)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "source": self.source,
            "num_structures": self.num_structures,
            "num_skipped": self.num_skipped,
            "space_group_counts": {str(k): v for k, v in sorted(self.space_group_counts.items())},
            "num_elements_counts": list(self.num_elements_counts),
            "element_counts": {
                str(g): dict(sorted(c.items())) for g, c in sorted(self.element_counts.items())
            },
            "sites_per_element_counts": {
                k: list(v) for k, v in sorted(self.sites_per_element_counts.items())
            },
            "wyckoff_counts": {
                str(g): dict(sorted(c.items())) for g, c in sorted(self.wyckoff_counts.items())
            },
            "packing_fraction_log_mean": self.packing_fraction_log_mean,
            "packing_fraction_log_std": self.packing_fraction_log_std,
            "lattice": {
                system: {
                    "variables": list(shape.variables),
                    "mean": list(shape.mean),
                    "cov": [list(row) for row in shape.cov],
                    "count": shape.count,
                    "samples": [list(row) for row in shape.samples],
                }
                for system, shape in self.lattice.items()
            },
            "element_set_counts": {
                system: dict(sorted(c.items(), key=lambda item: (-item[1], item[0])))
                for system, c in self.element_set_counts.items()
            },
            "anion_wyckoff_counts": {
                str(g): dict(sorted(c.items())) for g, c in sorted(self.anion_wyckoff_counts.items())
            },
            "element_volumes": dict(sorted(self.element_volumes.items())),
            "volume_prior_factor": self.volume_prior_factor,
            "volume_residual_quantiles": list(self.volume_residual_quantiles),
            "volume_shift": self.volume_shift,
            "min_distances": dict(_by_pair(self.min_distances)),
            "min_distance_structures": dict(_by_pair(self.min_distance_structures)),
            "min_distance_radii_scale": self.min_distance_radii_scale,
            "min_distance_quantile": self.min_distance_quantile,
            "min_distance_floor": self.min_distance_floor,
            "min_cell_edge": self.min_cell_edge,
            "sites_by_system_counts": {
                system: {k: list(v) for k, v in sorted(c.items())}
                for system, c in self.sites_by_system_counts.items()
            },
            "cells_by_group": {
                str(g): [list(row) for row in rows] for g, rows in sorted(self.cells_by_group.items())
            },
            "cell_kernel_width": self.cell_kernel_width,
            "summary": dict(self.summary),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> SamplerStatistics:
        """Statistics from the content of a statistics file; ValueError names what is wrong."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ValueError(f"{source}: not an xrdsynth sampler statistics file (format != {FORMAT!r})")
        version = data.get("version")
        if version not in READABLE_VERSIONS:
            raise ValueError(
                f"{source}: statistics version {version!r}, expected one of {list(READABLE_VERSIONS)}"
            )
        try:
            lattice = {
                system: LatticeShape(
                    tuple(entry["variables"]),
                    tuple(float(v) for v in entry["mean"]),
                    tuple(tuple(float(v) for v in row) for row in entry["cov"]),
                    int(entry["count"]),
                    tuple(tuple(float(v) for v in row) for row in entry.get("samples", ())),
                )
                for system, entry in data["lattice"].items()
            }
            stats = cls(
                source=str(data["source"]),
                num_structures=int(data["num_structures"]),
                num_skipped=int(data["num_skipped"]),
                space_group_counts={int(k): int(v) for k, v in data["space_group_counts"].items()},
                num_elements_counts=tuple(int(v) for v in data["num_elements_counts"]),
                element_counts={
                    int(g): {str(z): int(n) for z, n in c.items()} for g, c in data["element_counts"].items()
                },
                sites_per_element_counts={
                    str(k): tuple(int(n) for n in v) for k, v in data["sites_per_element_counts"].items()
                },
                wyckoff_counts={
                    int(g): {str(w): int(n) for w, n in c.items()} for g, c in data["wyckoff_counts"].items()
                },
                packing_fraction_log_mean=float(data["packing_fraction_log_mean"]),
                packing_fraction_log_std=float(data["packing_fraction_log_std"]),
                lattice=lattice,
                summary=dict(data.get("summary", {})),
                **(_fields_of_version_2(data) if version >= 2 else {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{source}: malformed statistics ({type(exc).__name__}: {exc})") from None
        _validate(stats, source)
        return stats


def _validate(stats: SamplerStatistics, source: str) -> None:
    if len(stats.num_elements_counts) != MAX_ELEMENTS:
        raise ValueError(f"{source}: num_elements_counts must have {MAX_ELEMENTS} bins")
    if any(
        not 1 <= g <= 230
        for g in (
            *stats.space_group_counts,
            *stats.element_counts,
            *stats.wyckoff_counts,
            *stats.anion_wyckoff_counts,
        )
    ):
        raise ValueError(f"{source}: space-group keys must be in 1..230")
    if any(len(v) != MAX_SITES_PER_ELEMENT for v in stats.sites_per_element_counts.values()):
        raise ValueError(f"{source}: sites_per_element_counts must have {MAX_SITES_PER_ELEMENT} bins")
    if not set(stats.sites_by_system_counts) <= set(CRYSTAL_SYSTEMS):
        raise ValueError(f"{source}: sites_by_system_counts must be keyed by crystal systems")
    if any(
        len(v) != MAX_SITES_PER_ELEMENT for c in stats.sites_by_system_counts.values() for v in c.values()
    ):
        raise ValueError(f"{source}: sites_by_system_counts must have {MAX_SITES_PER_ELEMENT} bins")
    if set(stats.lattice) != set(LATTICE_VARIABLES):
        raise ValueError(f"{source}: lattice must describe the systems {sorted(LATTICE_VARIABLES)}")
    for system, shape in stats.lattice.items():
        k = len(LATTICE_VARIABLES[system])
        cov = np.asarray(shape.cov, dtype=np.float64)
        if shape.variables != LATTICE_VARIABLES[system] or cov.size != k * k or len(shape.mean) != k:
            raise ValueError(f"{source}: lattice[{system!r}] must have variables {LATTICE_VARIABLES[system]}")
        if (
            any(len(row) != k for row in shape.samples)
            or not np.isfinite(np.asarray(shape.samples, dtype=np.float64)).all()
        ):
            raise ValueError(f"{source}: lattice[{system!r}] samples must be finite rows of {k} values")
    for group, rows in stats.cells_by_group.items():
        if not 1 <= group <= 230:
            raise ValueError(f"{source}: cells_by_group keys must be in 1..230, got {group}")
        k = len(LATTICE_VARIABLES[lattice_system(group)])
        if k == 0 or not rows or any(len(row) != k for row in rows):
            raise ValueError(
                f"{source}: cells_by_group[{group}] must be rows of the {k} shape variables of its system"
            )
        if not np.isfinite(np.asarray(rows, dtype=np.float64)).all():
            raise ValueError(f"{source}: cells_by_group[{group}] must be finite")
    if not (np.isfinite(stats.packing_fraction_log_mean) and stats.packing_fraction_log_std > 0):
        raise ValueError(f"{source}: packing fraction parameters must be finite with a positive std")
    if stats.num_structures < 1 or sum(stats.num_elements_counts) < 1:
        raise ValueError(f"{source}: statistics of no structures")
    for system, sets in stats.element_set_counts.items():
        if system not in CRYSTAL_SYSTEMS:
            raise ValueError(f"{source}: element_set_counts has an unknown crystal system {system!r}")
        for key, count in sets.items():
            symbols = key.split()
            if not symbols or count < 0:
                raise ValueError(f"{source}: bad element set {key!r}: {count}")
            for symbol in symbols:
                atomic_number(symbol)
    for symbol, volume in stats.element_volumes.items():
        atomic_number(symbol)
        if not (math.isfinite(volume) and volume > 0):
            raise ValueError(f"{source}: element volume of {symbol} must be finite and > 0, got {volume}")
    quantiles = np.asarray(stats.volume_residual_quantiles, dtype=np.float64)
    if stats.element_volumes and (
        len(quantiles) != len(VOLUME_QUANTILE_LEVELS)
        or not np.all(np.isfinite(quantiles))
        or np.any(np.diff(quantiles) < 0)
    ):
        raise ValueError(
            f"{source}: volume_residual_quantiles must be {len(VOLUME_QUANTILE_LEVELS)} finite, "
            "non-decreasing numbers when element_volumes are given"
        )
    if not stats.element_volumes and len(quantiles):
        raise ValueError(f"{source}: volume_residual_quantiles without element_volumes")
    if not (math.isfinite(stats.volume_shift) and abs(stats.volume_shift) < MAX_VOLUME_SHIFT):
        raise ValueError(f"{source}: volume_shift must be finite and within ±{MAX_VOLUME_SHIFT:g}")
    if not (math.isfinite(stats.volume_prior_factor) and stats.volume_prior_factor > 0):
        raise ValueError(f"{source}: volume_prior_factor must be finite and > 0")
    for key, distance in stats.min_distances.items():
        _parse_pair_key(key, source)
        if not (math.isfinite(distance) and distance >= 0):
            raise ValueError(f"{source}: min_distances[{key!r}] must be finite and >= 0, got {distance}")
    if not 0.0 < stats.min_distance_floor <= 1.0:
        raise ValueError(f"{source}: min_distance_floor must be in (0, 1]")
    if not 0.0 <= stats.min_distance_radii_scale < 2.0:
        raise ValueError(f"{source}: min_distance_radii_scale must be in [0, 2)")
    if not (math.isfinite(stats.min_cell_edge) and 0.0 <= stats.min_cell_edge < 10.0):
        raise ValueError(f"{source}: min_cell_edge must be in [0, 10) Å")
    if not (math.isfinite(stats.cell_kernel_width) and 0.0 <= stats.cell_kernel_width <= 1.0):
        raise ValueError(f"{source}: cell_kernel_width must be in [0, 1], got {stats.cell_kernel_width}")


def _fields_of_version_2(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that version 2 added, from a file's content."""
    quantile = data.get("min_distance_quantile")
    return {
        "element_set_counts": {
            str(system): {str(k): int(v) for k, v in c.items()}
            for system, c in data["element_set_counts"].items()
        },
        "anion_wyckoff_counts": {
            int(g): {str(w): int(n) for w, n in c.items()} for g, c in data["anion_wyckoff_counts"].items()
        },
        "element_volumes": {str(k): float(v) for k, v in data["element_volumes"].items()},
        "volume_prior_factor": float(data["volume_prior_factor"]),
        "volume_residual_quantiles": tuple(float(v) for v in data["volume_residual_quantiles"]),
        "volume_shift": float(data["volume_shift"]),
        "min_distances": {str(k): float(v) for k, v in data["min_distances"].items()},
        "min_distance_structures": {str(k): int(v) for k, v in data["min_distance_structures"].items()},
        "min_distance_radii_scale": float(data["min_distance_radii_scale"]),
        "min_distance_quantile": None if quantile is None else float(quantile),
        "min_distance_floor": float(data["min_distance_floor"]),
        "min_cell_edge": float(data["min_cell_edge"]),
        # Added within version 2: absent from the files written before.
        "sites_by_system_counts": {
            str(system): {str(k): tuple(int(n) for n in v) for k, v in c.items()}
            for system, c in data.get("sites_by_system_counts", {}).items()
        },
        "cells_by_group": {
            int(g): tuple(tuple(float(v) for v in row) for row in rows)
            for g, rows in data.get("cells_by_group", {}).items()
        },
        "cell_kernel_width": float(data.get("cell_kernel_width", FORMER_CELL_KERNEL_WIDTH)),
    }


def pair_key(a: int, b: int) -> str:
    """``"A-B"``: the symbols of atomic numbers ``a`` and ``b``, the lighter element first (``"O-Si"``)."""
    low, high = sorted((int(a), int(b)))
    return f"{element_symbol(low)}-{element_symbol(high)}"


def _parse_pair_key(key: str, source: str) -> tuple[int, int]:
    try:
        a, b = (atomic_number(x) for x in key.split("-"))
    except ValueError:
        raise ValueError(f"{source}: {key!r} is not a pair of element symbols 'A-B'") from None
    return a, b


def _by_pair(mapping: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Items of a mapping keyed by pair, in order of the atomic numbers."""
    return sorted(mapping.items(), key=lambda item: _parse_pair_key(item[0], "<statistics>"))


def default_statistics() -> SamplerStatistics:
    """The statistics shipped with the package (fitted on amcsd-dev; see PROVENANCE.md next to the file)."""
    return named_statistics("default")


@functools.cache
def named_statistics(name: str) -> SamplerStatistics:
    """Statistics shipped with the package, by name (:data:`NAMED_STATISTICS`).

    ``"default"`` is the current fit on amcsd-dev; ``"default-v1"`` the version-1 statistics shipped
    before effective volumes and pair distances (covalent-sphere volumes over a log-normal packing
    fraction, 0.5 x the radii sum as minimum distance, no edge floor), kept so that the two can be compared.

    Raises:
        ValueError: an unknown name.
    """
    if name not in NAMED_STATISTICS:
        raise ValueError(f"unknown statistics name {name!r}; shipped: {sorted(NAMED_STATISTICS)}")
    with resources.as_file(resources.files(__package__).joinpath(NAMED_STATISTICS[name])) as path:
        return SamplerStatistics.load(path)
