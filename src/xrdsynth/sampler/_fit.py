"""Fitting :class:`~._statistics.SamplerStatistics` from a collection of crystals (CIF files or Crystals).

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

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._elements import element_symbol
from .._errors import CIFError
from .._math import periodic_distances
from .._spglib import symmetry_dataset
from ..structure import Crystal
from ..symmetry import CRYSTAL_SYSTEMS, crystal_system, lattice_system
from ._radii import atomic_volumes, covalent_radii
from ._statistics import (
    _FALLBACK_MEAN,
    _FALLBACK_STD,
    _MIN_CELLS_PER_SYSTEM,
    ANIONS,
    FIT_SYMPREC,
    FULL_OCCUPANCY,
    LATTICE_VARIABLES,
    MAX_ELEMENTS,
    MAX_SITES_PER_ELEMENT,
    MIN_CELL_EDGE_QUANTILE,
    MIN_DISTANCE_FLOOR,
    MIN_DISTANCE_QUANTILE,
    MIN_PAIR_STRUCTURES,
    MIN_VOLUME_FRACTION,
    V1_MIN_DISTANCE_RADII_SCALE,
    VOLUME_QUANTILE_LEVELS,
    VOLUME_RIDGE,
    LatticeShape,
    SamplerStatistics,
    lattice_variables,
    pair_key,
)

__all__ = [
    "compound_formula",
    "fit_element_volumes",
    "fit_statistics",
    "resolve_min_distances",
    "shortest_pair_distances",
]


# ---------------------------------------------------------------------------------------------------------
# Fitting


@dataclass
class _Counts:
    space_group: dict[int, int] = field(default_factory=dict)
    num_elements: list[int] = field(default_factory=lambda: [0] * MAX_ELEMENTS)
    elements: dict[int, dict[str, int]] = field(default_factory=dict)
    element_sets: dict[str, dict[str, int]] = field(default_factory=dict)
    sites_per_element: dict[str, list[int]] = field(default_factory=dict)
    sites_by_system: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    wyckoff: dict[int, dict[str, int]] = field(default_factory=dict)
    anion_wyckoff: dict[int, dict[str, int]] = field(default_factory=dict)
    log_packing: list[float] = field(default_factory=list)
    shapes: dict[str, list[list[float]]] = field(default_factory=lambda: {s: [] for s in LATTICE_VARIABLES})
    shapes_by_group: dict[int, list[list[float]]] = field(default_factory=dict)
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
    repeats: int = 0  # structures left out as further copies of a compound (max_per_compound)
    compounds: dict[tuple[int, str], int] = field(default_factory=dict)


def _add_crystal(counts: _Counts, crystal: Crystal, max_per_compound: int | None = None) -> bool | None:
    """Count one crystal; False when spglib cannot analyse it, None when it is left out as one more copy of a
    compound already counted ``max_per_compound`` times."""
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
    if max_per_compound is not None:
        key = (number, compound_formula(main_element))
        if counts.compounds.get(key, 0) >= max_per_compound:
            return None
        counts.compounds[key] = counts.compounds.get(key, 0) + 1
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
        by_system = counts.sites_by_system.setdefault(crystal_system(number), {})
        histogram = by_system.setdefault(symbol, [0] * MAX_SITES_PER_ELEMENT)
        histogram[min(n_sites, MAX_SITES_PER_ELEMENT) - 1] += 1

    volume = crystal.volume
    atom_volume = float(np.sum(crystal.occupancies * atomic_volumes()[crystal.numbers]))
    counts.log_packing.append(math.log(atom_volume / volume))
    system = lattice_system(number)
    std_lattice = np.asarray(data.std_lattice)
    counts.shapes[system].append(lattice_variables(system, std_lattice))
    counts.shapes_by_group.setdefault(number, []).append(counts.shapes[system][-1])
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


def compound_formula(elements: Iterable[int]) -> str:
    """The reduced formula of a list of atomic numbers, one per atom (or site) of a cell, elements in
    alphabetical order: ``[8, 14, 8] -> "O2Si"``, and the same for any multiple of the cell, so that a
    conventional and a primitive cell of one compound agree."""
    tally: dict[str, int] = {}
    for z in elements:
        symbol = element_symbol(int(z))
        tally[symbol] = tally.get(symbol, 0) + 1
    if not tally:
        return ""
    divisor = math.gcd(*tally.values())
    return "".join(f"{e}{n // divisor if n // divisor > 1 else ''}" for e, n in sorted(tally.items()))


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
    max_per_compound: int | None = None,
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
        max_per_compound: count at most this many structures of one compound, a space group (as spglib
            finds it) with one formula of the sites' main elements (:func:`compound_formula`), the first
            ones in the order given; None counts every structure. Databases hold many refinements of a
            few compounds (amcsd-dev: 60 of its 71 Pmmm structures are YBa₂Cu₃O₇₋δ, 72 of its 196 R-3c
            ones calcite or rhodochrosite), which otherwise dominate their group's cells, elements and
            Wyckoff positions. The number left out is ``summary["repeats_left_out"]``.
        progress: show a tqdm progress bar over the structures (thousands of files take minutes).

    Returns:
        The fitted statistics. Files that cannot be read and structures spglib cannot analyse (at
        symprec ``FIT_SYMPREC``) are skipped and counted in ``num_skipped``.

    Raises:
        ValueError: a path does not exist, no structure could be used, a quantile outside [0, 1), or
            ``max_per_compound`` below 1.
    """
    if max_per_compound is not None and (isinstance(max_per_compound, bool) or int(max_per_compound) < 1):
        raise ValueError(f"max_per_compound must be a positive integer or None, got {max_per_compound!r}")
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
        added = _add_crystal(counts, crystal, max_per_compound)
        if added is None:
            counts.repeats += 1
        elif added:
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
        sites_by_system_counts={
            system: {k: tuple(v) for k, v in sorted(counts.sites_by_system[system].items())}
            for system in CRYSTAL_SYSTEMS
            if system in counts.sites_by_system
        },
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
        cells_by_group={
            g: _rounded_cells(np.asarray(rows, dtype=np.float64))
            for g, rows in sorted(counts.shapes_by_group.items())
            if len(rows) >= GROUP_KERNEL_MIN_CELLS and len(rows[0]) > 0
        },
    )


#: Fewest fitted cells of a lattice system for which the statistics keep the cells themselves (the sampler
#: then draws from a kernel density over them); with fewer (amcsd-dev has 52 triclinic cells), a kernel
#: would return little more than those cells, and the Gaussian is drawn from instead.
KERNEL_MIN_CELLS = 200
#: Fewest fitted cells of one space group for which the statistics keep them apart (``cells_by_group``):
#: the group then draws its cell shapes from its own cells. Fewer would stand for a handful of structures;
#: amcsd-dev has 48 groups with at least this many, holding 4,447 of its 7,607 structures (cubic cells have
#: no shape to keep).
GROUP_KERNEL_MIN_CELLS = 20


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
        _kernel_cells(x),
    )


def _kernel_cells(x: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """The fitted cells (m, k) kept for the sampler's kernel density, or none where they are too few to
    stand for the system's cells."""
    if x.shape[1] == 0 or x.shape[0] < KERNEL_MIN_CELLS:
        return ()
    return _rounded_cells(x)


def _rounded_cells(x: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """Cells (m, k) as stored: 4 decimals, 0.01 % in a length ratio, 1e-4 degree."""
    return tuple(tuple(round(float(v), 4) for v in row) for row in x)


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
        "repeats_left_out": counts.repeats,
    }
