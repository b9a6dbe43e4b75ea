"""Statistics of real crystals that the sampler draws from: fit them from any CIF collection, save, load.

What is counted, per crystal, in the setting spglib finds (symprec ``FIT_SYMPREC``):

- its space group;
- its elements (one per Wyckoff site: the element with the largest occupancy there, so mixed and partially
  occupied sites count as their main element), and how many distinct elements it has;
- per element, how many Wyckoff sites it occupies;
- per space group, how often each Wyckoff letter is occupied;
- its packing fraction, sum over atoms of occupancy x (4/3) pi r^3 (covalent radii, :mod:`._radii`)
  divided by the cell volume;
- the shape of its standardised conventional cell: log length ratios and free angles per lattice system.

Everything is stored as plain counts (and a mean/covariance per lattice system), so the JSON file is easy to
read and to merge; the smoothing that turns counts into sampling probabilities lives in
:mod:`._probabilities` and is applied by the sampler.
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

from .._elements import element_symbol
from .._errors import CIFError
from .._lattice import parameters_from_lattice
from .._math import periodic_distances
from .._spglib import symmetry_dataset
from ..structure import Crystal
from ..symmetry import lattice_system
from ._radii import atomic_volumes, covalent_radii

__all__ = [
    "DEFAULT_STATISTICS_FILE",
    "FIT_SYMPREC",
    "LATTICE_VARIABLES",
    "MAX_ELEMENTS",
    "MAX_SITES_PER_ELEMENT",
    "SamplerStatistics",
    "default_statistics",
    "fit_statistics",
    "lattice_variables",
]

FORMAT = "xrdsynth-sampler-statistics"
VERSION = 1
DEFAULT_STATISTICS_FILE = "default_statistics.json"
FIT_SYMPREC = 1e-2  # Å; published coordinates often have 3-4 decimals, too coarse for 1e-3
MAX_ELEMENTS = 8  # distinct elements per crystal; larger counts are pooled into the last bin
MAX_SITES_PER_ELEMENT = 12  # Wyckoff sites per element; larger counts are pooled into the last bin

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
        wyckoff_counts: space group -> Wyckoff letter -> number of occupied sites with that letter.
        packing_fraction_log_mean, packing_fraction_log_std: mean and standard deviation of the natural
            log of the packing fraction (sum of atomic volumes / cell volume).
        lattice: lattice system -> :class:`LatticeShape`.
        summary: quantiles for documentation (volume per atom, atoms per cell, packing fraction,
            nearest-neighbour distance over the sum of covalent radii); not used for sampling.
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
            "summary": dict(self.summary),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> SamplerStatistics:
        """Statistics from the content of a statistics file; ValueError names what is wrong."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ValueError(f"{source}: not an xrdsynth sampler statistics file (format != {FORMAT!r})")
        if data.get("version") != VERSION:
            raise ValueError(f"{source}: statistics version {data.get('version')!r}, expected {VERSION}")
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
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{source}: malformed statistics ({type(exc).__name__}: {exc})") from None
        _validate(stats, source)
        return stats


def _validate(stats: SamplerStatistics, source: str) -> None:
    if len(stats.num_elements_counts) != MAX_ELEMENTS:
        raise ValueError(f"{source}: num_elements_counts must have {MAX_ELEMENTS} bins")
    if any(
        not 1 <= g <= 230 for g in (*stats.space_group_counts, *stats.element_counts, *stats.wyckoff_counts)
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


@functools.cache
def default_statistics() -> SamplerStatistics:
    """The statistics shipped with the package (fitted on amcsd-dev; see PROVENANCE.md next to the file)."""
    with resources.as_file(resources.files(__package__).joinpath(DEFAULT_STATISTICS_FILE)) as path:
        return SamplerStatistics.load(path)


# ---------------------------------------------------------------------------------------------------------
# Fitting


@dataclass
class _Counts:
    space_group: dict[int, int] = field(default_factory=dict)
    num_elements: list[int] = field(default_factory=lambda: [0] * MAX_ELEMENTS)
    elements: dict[int, dict[str, int]] = field(default_factory=dict)
    sites_per_element: dict[str, list[int]] = field(default_factory=dict)
    wyckoff: dict[int, dict[str, int]] = field(default_factory=dict)
    log_packing: list[float] = field(default_factory=list)
    shapes: dict[str, list[list[float]]] = field(default_factory=lambda: {s: [] for s in LATTICE_VARIABLES})
    volume_per_atom: list[float] = field(default_factory=list)
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
        letters = counts.wyckoff.setdefault(number, {})
        letters[str(data.wyckoffs[rep])] = letters.get(str(data.wyckoffs[rep]), 0) + 1

    counts.space_group[number] = counts.space_group.get(number, 0) + 1
    counts.num_elements[min(len(sites_of_element), MAX_ELEMENTS) - 1] += 1
    per_group = counts.elements.setdefault(number, {})
    for z, n_sites in sites_of_element.items():
        symbol = element_symbol(z)
        per_group[symbol] = per_group.get(symbol, 0) + 1
        histogram = counts.sites_per_element.setdefault(symbol, [0] * MAX_SITES_PER_ELEMENT)
        histogram[min(n_sites, MAX_SITES_PER_ELEMENT) - 1] += 1

    volume = crystal.volume
    atom_volume = float(np.sum(crystal.occupancies * atomic_volumes()[crystal.numbers]))
    counts.log_packing.append(math.log(atom_volume / volume))
    system = lattice_system(number)
    counts.shapes[system].append(lattice_variables(system, np.asarray(data.std_lattice)))
    n_atoms = float(np.sum(crystal.occupancies))
    counts.volume_per_atom.append(volume / n_atoms)
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
    progress: bool = True,
) -> SamplerStatistics:
    """Fit sampler statistics on a collection of crystal structures.

    Args:
        paths_or_crystals: a folder of CIF files (searched recursively for ``*.cif`` and ``*.cif.gz``), a
            CIF file, or an iterable mixing :class:`~xrdsynth.Crystal` objects, files and folders.
        source: description stored in the result (default: the paths given, or "N crystals").
        progress: show a tqdm progress bar over the structures (thousands of files take minutes).

    Returns:
        The fitted statistics. Files that cannot be read and structures spglib cannot analyse (at
        symprec ``FIT_SYMPREC``) are skipped and counted in ``num_skipped``.

    Raises:
        ValueError: a path does not exist, or no structure could be used.
    """
    from tqdm.auto import tqdm

    if isinstance(paths_or_crystals, (str, os.PathLike, Crystal)):
        items: list[Any] = [paths_or_crystals]
    else:
        items = list(paths_or_crystals)
    if source is None:
        paths = [os.fspath(p) for p in items if not isinstance(p, Crystal)]
        source = ", ".join(paths) if paths else f"{len(items)} crystals"
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
    return SamplerStatistics(
        source=source,
        num_structures=counts.used,
        num_skipped=counts.skipped,
        space_group_counts=dict(sorted(counts.space_group.items())),
        num_elements_counts=tuple(counts.num_elements),
        element_counts={g: dict(sorted(c.items())) for g, c in sorted(counts.elements.items())},
        sites_per_element_counts={k: tuple(v) for k, v in sorted(counts.sites_per_element.items())},
        wyckoff_counts={g: dict(sorted(c.items())) for g, c in sorted(counts.wyckoff.items())},
        packing_fraction_log_mean=float(log_packing.mean()),
        packing_fraction_log_std=float(max(log_packing.std(), 1e-3)),
        lattice={system: _fit_shape(system, rows) for system, rows in counts.shapes.items()},
        summary=_summary(counts),
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


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    q = np.quantile(np.asarray(values, dtype=np.float64), [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
    return {f"q{p:02d}": round(float(v), 4) for p, v in zip((1, 5, 25, 50, 75, 95, 99), q, strict=True)}


def _summary(counts: _Counts) -> dict[str, Any]:
    return {
        "volume_per_atom_A3": _quantiles(counts.volume_per_atom),
        "atoms_per_cell": _quantiles([float(n) for n in counts.atoms_per_cell]),
        "packing_fraction": _quantiles([math.exp(v) for v in counts.log_packing]),
        "nearest_neighbour_over_radii_sum_ordered": _quantiles(counts.nn_ratio),
    }
