"""Statistics of real crystals that the sampler draws from: fit them from any CIF collection, save, load.

What is counted, per crystal, in the setting spglib finds (symprec ``FIT_SYMPREC``):

- its space group;
- its elements (one per Wyckoff site: the element with the largest occupancy there, so mixed and partially
  occupied sites count as their main element), how many distinct elements it has, and which elements
  occur together (its *element set*, counted per crystal system);
- per element, how many Wyckoff sites it occupies;
- per space group, how often each Wyckoff letter is occupied, in all and by an anion (:data:`ANIONS`:
  anions sit on positions of higher multiplicity than cations, which is why real crystals are mostly
  anions by atom count);
- its packing fraction, sum over atoms of occupancy x (4/3) pi r^3 (covalent radii, :mod:`._radii`)
  divided by the cell volume (kept for version-1 statistics and the summary);
- its composition (occupancy-weighted atoms per element) and cell volume, from which an *effective volume*
  per element is fitted over the whole collection (:func:`fit_element_volumes`): a ridge-regularised least
  squares fit of V = sum_Z n_Z v_Z in relative error, pulled toward covalent-sphere volumes times one
  common factor where an element has few data. What the elements do not explain (packing, missing
  hydrogen, open frameworks) is the *volume residual* log(V / sum_Z n_Z v_Z), kept as its quantiles;
- per pair of elements, the shortest distance between two fully occupied atoms of the pair in the
  structure; the pair's distance is a low quantile of these per-structure shortest distances
  (:func:`resolve_min_distances`), toward which the sampler pushes the pair, never letting it come closer
  than ``min_distance_floor`` of it;
- the shape of its standardised conventional cell: log length ratios and free angles per lattice system,
  and its shortest edge (a low quantile becomes the sampler's shortest allowed cell edge).

Everything is stored as plain counts, moments, quantiles and fitted numbers, so the JSON file is easy to
read; the smoothing that turns counts into sampling probabilities lives in :mod:`._probabilities` and is
applied by the sampler.

Version-1 files (before effective volumes and pair distances) still load: they have no element sets,
element volumes, pair distances or shortest edge, and the sampler then draws the elements one by one,
uses covalent-sphere volumes over the log-normal packing fraction, 0.5 x the sum of covalent radii as
every pair's minimum distance, and no edge floor, as it did then.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .._elements import atomic_number, element_symbol
from .._errors import CIFError
from .._lattice import parameters_from_lattice
from .._math import periodic_distances
from .._spglib import symmetry_dataset
from ..structure import Crystal
from ..symmetry import CRYSTAL_SYSTEMS, crystal_system, lattice_system
from ._radii import atomic_volumes, covalent_radii

__all__ = [
    "ANIONS",
    "DEFAULT_STATISTICS_FILE",
    "FIT_SYMPREC",
    "LATTICE_VARIABLES",
    "MAX_ELEMENTS",
    "MAX_SITES_PER_ELEMENT",
    "MIN_CELL_EDGE_QUANTILE",
    "MIN_DISTANCE_FLOOR",
    "MIN_DISTANCE_QUANTILE",
    "MIN_PAIR_STRUCTURES",
    "NAMED_STATISTICS",
    "V1_MIN_DISTANCE_RADII_SCALE",
    "VOLUME_QUANTILE_LEVELS",
    "SamplerStatistics",
    "default_statistics",
    "fit_element_volumes",
    "fit_statistics",
    "lattice_variables",
    "named_statistics",
    "pair_key",
    "resolve_min_distances",
    "shortest_pair_distances",
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
#: Atomic numbers counted as anions (N, O, F, S, Cl, Se, Br, Te, I): Wyckoff letters are counted for them
#: apart, and pairs of two non-anions are cation pairs for the sampler's minimum distances.
ANIONS = frozenset({7, 8, 9, 16, 17, 34, 35, 52, 53})
#: A pair's minimum distance is this quantile of its per-structure shortest distances: in 5 % of the
#: structures holding both elements (fully occupied sites only), the pair comes closer than its minimum.
#: The lowest few percent are mostly disorder written as full occupancy, X-ray hydrogen positions, errors.
MIN_DISTANCE_QUANTILE = 0.05
#: The sampler never lets a pair come closer than this fraction of its distance (it pushes pairs toward the
#: full distance where the crystal leaves room). Random coordinates pushed apart cannot reach the order
#: that lets real crystals keep every pair beyond its 5 % quantile at their density: even of the real
#: ordered amcsd-dev structures, only about 76 % clear every pair's quantile.
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
    """A Gaussian over the cell-shape variables of one lattice system.

    Attributes:
        variables: names, see :data:`LATTICE_VARIABLES`.
        mean: (k,) means (log ratios, degrees).
        cov: (k, k) covariance.
        count: number of cells fitted (0 for the fallback).
    """

    variables: tuple[str, ...]
    mean: tuple[float, ...]
    cov: tuple[tuple[float, ...], ...]
    count: int


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
    if set(stats.lattice) != set(LATTICE_VARIABLES):
        raise ValueError(f"{source}: lattice must describe the systems {sorted(LATTICE_VARIABLES)}")
    for system, shape in stats.lattice.items():
        k = len(LATTICE_VARIABLES[system])
        cov = np.asarray(shape.cov, dtype=np.float64)
        if shape.variables != LATTICE_VARIABLES[system] or cov.size != k * k or len(shape.mean) != k:
            raise ValueError(f"{source}: lattice[{system!r}] must have variables {LATTICE_VARIABLES[system]}")
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
    if not (math.isfinite(stats.volume_shift) and abs(stats.volume_shift) < 2.0):
        raise ValueError(f"{source}: volume_shift must be finite and within ±2")
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


# ---------------------------------------------------------------------------------------------------------
# Fitting


@dataclass
class _Counts:
    space_group: dict[int, int] = field(default_factory=dict)
    num_elements: list[int] = field(default_factory=lambda: [0] * MAX_ELEMENTS)
    elements: dict[int, dict[str, int]] = field(default_factory=dict)
    element_sets: dict[str, dict[str, int]] = field(default_factory=dict)
    sites_per_element: dict[str, list[int]] = field(default_factory=dict)
    wyckoff: dict[int, dict[str, int]] = field(default_factory=dict)
    anion_wyckoff: dict[int, dict[str, int]] = field(default_factory=dict)
    log_packing: list[float] = field(default_factory=list)
    shapes: dict[str, list[list[float]]] = field(default_factory=lambda: {s: [] for s in LATTICE_VARIABLES})
    compositions: list[dict[int, float]] = field(default_factory=list)
    volumes: list[float] = field(default_factory=list)
    pair_minima: dict[tuple[int, int], list[float]] = field(default_factory=dict)
    shortest_edge: list[float] = field(default_factory=list)
    volume_per_atom: list[float] = field(default_factory=list)
    density: list[float] = field(default_factory=list)
    atoms_per_cell: list[int] = field(default_factory=list)
    nn_ratio: list[float] = field(default_factory=list)
    used: int = 0
    skipped: int = 0


def _add_crystal(counts: _Counts, crystal: Crystal) -> bool:
    """Count one crystal; False when spglib cannot analyse it."""
    # Atoms at one place (mixed or split sites) form one symmetry site, as in Crystal.detect_space_group.
    site_of, sites, types = crystal._symmetry_sites(FIT_SYMPREC)
    data = symmetry_dataset(crystal.lattice, crystal.frac_coords[sites], types, FIT_SYMPREC)
    if data is None:
        return False
    number = int(data.number)
    # Main element of each symmetry site (largest total occupancy over the atoms at that place).
    main_element = []
    for s in range(len(sites)):
        atoms = np.nonzero(site_of == s)[0]
        weights: dict[int, float] = {}
        for i in atoms:
            weights[int(crystal.numbers[i])] = (
                weights.get(int(crystal.numbers[i]), 0.0) + crystal.occupancies[i]
            )
        main_element.append(max(weights, key=lambda z: weights[z]))
    orbits = dict.fromkeys(int(i) for i in data.equivalent_atoms)  # one representative per orbit
    sites_of_element: dict[int, int] = {}
    for rep in orbits:
        z = main_element[rep]
        sites_of_element[z] = sites_of_element.get(z, 0) + 1
        letter = str(data.wyckoffs[rep])
        letters = counts.wyckoff.setdefault(number, {})
        letters[letter] = letters.get(letter, 0) + 1
        if z in ANIONS:
            letters = counts.anion_wyckoff.setdefault(number, {})
            letters[letter] = letters.get(letter, 0) + 1

    counts.space_group[number] = counts.space_group.get(number, 0) + 1
    counts.num_elements[min(len(sites_of_element), MAX_ELEMENTS) - 1] += 1
    per_group = counts.elements.setdefault(number, {})
    element_set = " ".join(element_symbol(z) for z in sorted(sites_of_element))
    per_system = counts.element_sets.setdefault(crystal_system(number), {})
    per_system[element_set] = per_system.get(element_set, 0) + 1
    for z, n_sites in sites_of_element.items():
        symbol = element_symbol(z)
        per_group[symbol] = per_group.get(symbol, 0) + 1
        histogram = counts.sites_per_element.setdefault(symbol, [0] * MAX_SITES_PER_ELEMENT)
        histogram[min(n_sites, MAX_SITES_PER_ELEMENT) - 1] += 1

    volume = crystal.volume
    atom_volume = float(np.sum(crystal.occupancies * atomic_volumes()[crystal.numbers]))
    counts.log_packing.append(math.log(atom_volume / volume))
    system = lattice_system(number)
    std_lattice = np.asarray(data.std_lattice)
    counts.shapes[system].append(lattice_variables(system, std_lattice))
    counts.shortest_edge.append(float(np.linalg.norm(std_lattice, axis=1).min()))
    composition: dict[int, float] = {}
    for z, occupancy in zip(crystal.numbers.tolist(), crystal.occupancies.tolist(), strict=True):
        composition[z] = composition.get(z, 0.0) + occupancy
    counts.compositions.append(composition)
    counts.volumes.append(volume)
    for pair, distance in shortest_pair_distances(crystal).items():
        counts.pair_minima.setdefault(pair, []).append(distance)
    n_atoms = float(np.sum(crystal.occupancies))
    counts.volume_per_atom.append(volume / n_atoms)
    counts.density.append(crystal.density)
    counts.atoms_per_cell.append(crystal.num_atoms)
    if np.all(crystal.occupancies == 1.0) and crystal.num_atoms > 1:
        counts.nn_ratio.append(_min_distance_ratio(crystal))
    return True


def _min_distance_ratio(crystal: Crystal) -> float:
    """Smallest interatomic distance divided by the sum of the two covalent radii (periodic)."""
    radii = covalent_radii()[crystal.numbers]
    d = periodic_distances(crystal.frac_coords, crystal.frac_coords, crystal.lattice)
    np.fill_diagonal(d, np.inf)
    return float(np.min(d / (radii[:, None] + radii[None, :])))


# The 27 lattice translations {-1, 0, 1}^3 around a rounded difference; index 13 is the zero shift.
_SHIFTS = np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1], indexing="ij"), dtype=np.float64)
_SHIFTS = _SHIFTS.reshape(3, -1).T
_ROWS_PER_CHUNK = 32


def shortest_pair_distances(
    crystal: Crystal, min_occupancy: float = FULL_OCCUPANCY
) -> dict[tuple[int, int], float]:
    """The shortest distance in Å between two atoms of each pair of elements in a crystal (periodic).

    Only atoms with occupancy >= ``min_occupancy`` count (partly occupied sites are often split positions
    a fraction of an ångström apart). An atom's own lattice translations count for its element's pair with
    itself. Distances are the minimum over the 27 cells around the nearest image by rounding, which is
    exact for every distance shorter than the cell's smallest interplanar spacing.

    Returns:
        (Z_a, Z_b) with Z_a <= Z_b -> distance, for every pair of elements present (one element alone on
        one atom gives its shortest lattice translation).
    """
    keep = crystal.occupancies >= min_occupancy
    frac, numbers, lattice = crystal.frac_coords[keep], crystal.numbers[keep], crystal.lattice
    n = len(frac)
    if n == 0:
        return {}
    elements, index = np.unique(numbers, return_inverse=True)
    k = len(elements)
    best = np.full((k, k), np.inf)
    shifts = _SHIFTS @ lattice  # (27, 3) Cartesian translations
    for start in range(0, n, _ROWS_PER_CHUNK):
        rows = np.arange(start, min(start + _ROWS_PER_CHUNK, n))
        delta = frac[rows, None, :] - frac[None, :, :]
        delta -= np.round(delta)
        cart = (delta @ lattice)[:, :, None, :] + shifts  # (r, n, 27, 3)
        d2 = np.einsum("rnsx,rnsx->rns", cart, cart)
        d2[np.arange(len(rows)), rows, 13] = np.inf  # an atom and itself
        nearest = d2.min(axis=2)  # (r, n)
        # Per row, the nearest atom of each element; then per element of the row, the minimum.
        per_element = np.full((len(rows), k), np.inf)
        for e in range(k):
            columns = index == e
            per_element[:, e] = nearest[:, columns].min(axis=1)
        np.minimum.at(best, index[rows], per_element)
    best = np.minimum(best, best.T)
    return {
        (int(elements[i]), int(elements[j])): float(math.sqrt(best[i, j]))
        for i in range(k)
        for j in range(i, k)
        if np.isfinite(best[i, j])
    }


def fit_element_volumes(
    compositions: list[Mapping[int, float]], volumes: list[float], ridge: float = VOLUME_RIDGE
) -> tuple[dict[int, float], float, np.ndarray]:
    """Effective volume per element from cell volumes and compositions: V ≈ sum_Z n_Z v_Z.

    The fit minimises sum over structures of (sum_Z n_Z v_Z / V - 1)² (relative errors, so large cells do
    not dominate) plus ``ridge`` x sum over elements of (v_Z / p_Z - 1)², where the prior p_Z is the
    element's covalent-sphere volume times the collection's median ratio of cell volume to sphere volume:
    elements seen in few structures stay near their prior, and the system is solved in closed form (normal
    equations over the elements present). Volumes are kept at least ``MIN_VOLUME_FRACTION`` x p_Z.

    Args:
        compositions: per structure, atomic number -> atoms per cell (occupancy-weighted).
        volumes: per structure, cell volume in Å³.
        ridge: weight of the prior, in structures.

    Returns:
        (atomic number -> effective volume in Å³ for every element present, the prior factor, (S,) log
        residuals log(V / sum_Z n_Z v_Z) of the structures).
    """
    sphere = atomic_volumes()
    present = sorted({z for c in compositions for z in c})
    column = {z: i for i, z in enumerate(present)}
    counts = np.zeros((len(volumes), len(present)))
    for s, composition in enumerate(compositions):
        for z, n in composition.items():
            counts[s, column[z]] += n
    volume = np.asarray(volumes, dtype=np.float64)
    factor = float(np.median(volume / (counts @ sphere[present])))
    prior = factor * sphere[present]
    design = counts / volume[:, None]  # relative: row s of the system design @ v = 1
    lhs = design.T @ design + ridge * np.diag(1.0 / prior**2)
    rhs = design.sum(axis=0) + ridge / prior
    fitted = np.maximum(np.linalg.solve(lhs, rhs), MIN_VOLUME_FRACTION * prior)
    residual = np.log(volume / (counts @ fitted))
    return {z: float(fitted[column[z]]) for z in present}, factor, residual


def resolve_min_distances(
    pair_minima: Mapping[tuple[int, int], list[float]],
    quantile: float = MIN_DISTANCE_QUANTILE,
    min_structures: int = MIN_PAIR_STRUCTURES,
) -> tuple[dict[tuple[int, int], float], float]:
    """Minimum distance per pair of elements from the pair's shortest distance in each structure.

    A pair seen in at least ``min_structures`` structures gets the ``quantile`` of its per-structure
    shortest distances (linear interpolation). The radii scale s is the median, over those pairs, of that
    distance over the sum of the two covalent radii; a rarer pair gets s x (r_a + r_b), but never more than
    its shortest observed distance (what was seen is not forbidden). Pairs never seen are left to the
    sampler's rule s x (r_a + r_b).

    Returns:
        ((Z_a, Z_b) -> distance in Å for the pairs seen, the radii scale s).
    """
    radii = covalent_radii()
    fitted = {
        pair: float(np.quantile(np.asarray(values), quantile))
        for pair, values in pair_minima.items()
        if len(values) >= min_structures
    }
    ratios = [d / (radii[a] + radii[b]) for (a, b), d in fitted.items()]
    scale = float(np.median(ratios)) if ratios else V1_MIN_DISTANCE_RADII_SCALE
    resolved = dict(fitted)
    for pair, values in pair_minima.items():
        if pair not in fitted:
            a, b = pair
            resolved[pair] = float(min(scale * (radii[a] + radii[b]), min(values)))
    return resolved, scale


def _sources(items: Iterable[Crystal | str | os.PathLike[str]]) -> list[Crystal | Path]:
    """Crystal objects and CIF files, folders expanded (searched recursively), in order."""
    sources: list[Crystal | Path] = []
    for item in items:
        if isinstance(item, Crystal):
            sources.append(item)
            continue
        path = Path(item)
        if path.is_dir():
            files = sorted([*path.rglob("*.cif"), *path.rglob("*.cif.gz")])
            if not files:
                raise ValueError(f"no .cif files under {str(path)!r}")
            sources.extend(files)
        elif path.is_file():
            sources.append(path)
        else:
            raise ValueError(f"{str(path)!r} is neither a Crystal, a CIF file nor a folder")
    return sources


def _crystals(sources: Iterable[Crystal | Path], counts: _Counts) -> Iterable[Crystal]:
    """The crystals of :func:`_sources`, files read one by one."""
    for source in sources:
        if isinstance(source, Crystal):
            yield source
            continue
        try:
            yield Crystal.from_cif(source)
        except (CIFError, OSError):
            # A collection of thousands of files always has a few broken ones; they are counted in
            # num_skipped (stored in the statistics) rather than stopping the fit.
            counts.skipped += 1


def fit_statistics(
    paths_or_crystals: Iterable[Crystal | str | os.PathLike[str]] | str | os.PathLike[str],
    source: str | None = None,
    *,
    min_distance_quantile: float = MIN_DISTANCE_QUANTILE,
    min_distance_floor: float = MIN_DISTANCE_FLOOR,
    min_cell_edge_quantile: float = MIN_CELL_EDGE_QUANTILE,
    progress: bool = True,
) -> SamplerStatistics:
    """Fit sampler statistics on a collection of crystal structures.

    Args:
        paths_or_crystals: a folder of CIF files (searched recursively for ``*.cif`` and ``*.cif.gz``), a
            CIF file, or an iterable mixing :class:`~xrdsynth.Crystal` objects, files and folders.
        source: description stored in the result (default: the paths given, or "N crystals").
        min_distance_quantile: quantile of the per-structure shortest distances that becomes a pair's
            minimum distance (:func:`resolve_min_distances`); lower is more permissive.
        min_distance_floor: fraction of a pair's distance below which the sampler never lets the pair
            come (stored in the result).
        min_cell_edge_quantile: quantile of the standardised cells' shortest edges that becomes the
            shortest allowed cell edge.
        progress: show a tqdm progress bar over the structures (thousands of files take minutes).

    Returns:
        The fitted statistics. Files that cannot be read and structures spglib cannot analyse (at
        symprec ``FIT_SYMPREC``) are skipped and counted in ``num_skipped``.

    Raises:
        ValueError: a path does not exist, no structure could be used, or a quantile outside [0, 1).
    """
    for name, q in (
        ("min_distance_quantile", min_distance_quantile),
        ("min_cell_edge_quantile", min_cell_edge_quantile),
    ):
        if not 0.0 <= float(q) < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {q!r}")
    if not 0.0 < float(min_distance_floor) <= 1.0:
        raise ValueError(f"min_distance_floor must be in (0, 1], got {min_distance_floor!r}")
    if isinstance(paths_or_crystals, (str, os.PathLike, Crystal)):
        items: list[Any] = [paths_or_crystals]
    else:
        items = list(paths_or_crystals)
    if source is None:
        paths = [os.fspath(p) for p in items if not isinstance(p, Crystal)]
        source = ", ".join(paths) if paths else f"{len(items)} crystals"
    from tqdm.auto import tqdm

    sources = _sources(items)
    counts = _Counts()
    bar = tqdm(sources, unit="structure", desc="fit_statistics", disable=not progress)
    for crystal in _crystals(bar, counts):
        if _add_crystal(counts, crystal):
            counts.used += 1
        else:
            counts.skipped += 1
    bar.close()
    if counts.used == 0:
        raise ValueError(f"no usable structure in {source}")
    log_packing = np.array(counts.log_packing)
    volumes, prior_factor, residual = fit_element_volumes(counts.compositions, counts.volumes)
    min_distances, radii_scale = resolve_min_distances(counts.pair_minima, min_distance_quantile)
    return SamplerStatistics(
        source=source,
        num_structures=counts.used,
        num_skipped=counts.skipped,
        space_group_counts=dict(sorted(counts.space_group.items())),
        num_elements_counts=tuple(counts.num_elements),
        element_counts={g: dict(sorted(c.items())) for g, c in sorted(counts.elements.items())},
        sites_per_element_counts={k: tuple(v) for k, v in sorted(counts.sites_per_element.items())},
        element_set_counts={
            s: dict(counts.element_sets[s]) for s in CRYSTAL_SYSTEMS if s in counts.element_sets
        },
        wyckoff_counts={g: dict(sorted(c.items())) for g, c in sorted(counts.wyckoff.items())},
        anion_wyckoff_counts={g: dict(sorted(c.items())) for g, c in sorted(counts.anion_wyckoff.items())},
        packing_fraction_log_mean=float(log_packing.mean()),
        packing_fraction_log_std=float(max(log_packing.std(), 1e-3)),
        lattice={system: _fit_shape(system, rows) for system, rows in counts.shapes.items()},
        summary=_summary(counts, residual),
        # Rounded to what the data support, so that the file stays readable (and saves and loads exactly).
        element_volumes={element_symbol(z): round(v, 3) for z, v in sorted(volumes.items())},
        volume_prior_factor=round(prior_factor, 4),
        volume_residual_quantiles=tuple(
            round(float(v), 4) for v in np.quantile(residual, VOLUME_QUANTILE_LEVELS)
        ),
        min_distances={pair_key(*pair): round(d, 3) for pair, d in sorted(min_distances.items())},
        min_distance_structures={
            pair_key(*pair): len(counts.pair_minima[pair]) for pair in sorted(min_distances)
        },
        min_distance_radii_scale=round(radii_scale, 4),
        min_distance_quantile=float(min_distance_quantile),
        min_distance_floor=float(min_distance_floor),
        min_cell_edge=round(float(np.quantile(counts.shortest_edge, min_cell_edge_quantile)), 3),
    )


def _fit_shape(system: str, rows: list[list[float]]) -> LatticeShape:
    names = LATTICE_VARIABLES[system]
    k = len(names)
    if len(rows) < max(_MIN_CELLS_PER_SYSTEM, k + 2):
        return LatticeShape(
            names,
            tuple(_FALLBACK_MEAN[n] for n in names),
            tuple(
                tuple(_FALLBACK_STD[n] ** 2 if i == j else 0.0 for j, n in enumerate(names)) for i in range(k)
            ),
            0,
        )
    x = np.array(rows, dtype=np.float64).reshape(len(rows), k)
    cov = np.atleast_2d(np.cov(x, rowvar=False)) if k else np.zeros((0, 0))
    return LatticeShape(
        names,
        tuple(float(v) for v in x.mean(axis=0)),
        tuple(tuple(float(v) for v in row) for row in cov),
        len(x),
    )


def _quantiles(values: list[float] | np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {}
    q = np.quantile(np.asarray(values, dtype=np.float64), [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
    return {f"q{p:02d}": round(float(v), 4) for p, v in zip((1, 5, 25, 50, 75, 95, 99), q, strict=True)}


def _summary(counts: _Counts, volume_residual: np.ndarray) -> dict[str, Any]:
    return {
        "volume_per_atom_A3": _quantiles(counts.volume_per_atom),
        "density_g_cm3": _quantiles(counts.density),
        "atoms_per_cell": _quantiles([float(n) for n in counts.atoms_per_cell]),
        "packing_fraction": _quantiles([math.exp(v) for v in counts.log_packing]),
        "nearest_neighbour_over_radii_sum_ordered": _quantiles(counts.nn_ratio),
        "shortest_cell_edge_A": _quantiles(counts.shortest_edge),
        "volume_residual_log": _quantiles(volume_residual),
        "volume_residual_log_std": round(float(np.std(volume_residual)), 4),
        "packing_fraction_log_std": round(float(np.std(counts.log_packing)), 4),
    }
