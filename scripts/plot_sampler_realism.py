"""Sampled crystals against real ones (amcsd-dev), side by side, with two-sample Kolmogorov-Smirnov distances.

    python scripts/plot_sampler_realism.py ../shared/data/amcsd-dev [--crystals 10000] [--cache real.npz]

Real: the CIFs of the folder with at most ``--max-atoms`` atoms per cell (the sampler's cap, 100 by
default), standardised by spglib (symprec 1e-2 Å). Sampled: ``--crystals`` crystals from the default
sampler with groups weighted as in the statistics (the like-for-like comparison), from the default sampler
with groups uniform (what a classifier trains on), and from the version-1 statistics shipped before
(``statistics="default-v1"``, groups as in its statistics), standardised by spglib at 1e-3 Å.

Quantities per crystal: volume per atom, density, shortest interatomic distance (overall and by pair class:
cation-anion, anion-anion, cation-cation, pairs with hydrogen; real crystals only where every site is fully
occupied), the closest pair in units of its fitted distance (the smallest ratio, over the crystal's pairs of
elements, of their shortest distance to the pair distance of the default statistics: one fixed ruler for
every column; the sampler enforces 0.85 of it and pushes toward 1), cell edges a, b, c and angles of the
conventional cell (pooled), atoms per cell, distinct
elements, the multiplicities of the occupied Wyckoff positions (pooled), and for monoclinic crystals how
far from 90° the most nearly orthogonal cell choice is (small for pseudo-orthorhombic cells, whatever their
setting). For each sampler the table
gives the median and the KS distance to the real distribution (the largest gap between the two cumulative
distributions: 0 identical, 1 disjoint). Atoms per cell again per crystal system, where a sampler can be off
in every system and still match when pooled.

Then the checks on the sampled crystals (every sampler): pairs closer than their minimum distance
(``sampler.min_distance_table()``, by a brute-force search over the 27 neighbouring cells, independent of
the sampler's placement code), the share of element pairs below the fitted distance they are pushed
toward, cell edges below 2 Å, and the sampler's redraws, overall and for the groups with most redraws. Writes
docs/_static/sampler/realism.png (histograms) and space_groups.png. Needs matplotlib.

``--cache FILE.npz`` stores the real crystals' properties after the first run (reading and analysing
7,607 CIFs takes a few minutes) and reads them back afterwards.
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import spglib
import torch

from xrdsynth import CIFError, Crystal
from xrdsynth.sampler import FULL_OCCUPANCY, SpaceGroupSampler, shortest_pair_distances
from xrdsynth.symmetry import CRYSTAL_SYSTEMS, crystal_system

OUT = Path(__file__).resolve().parents[1] / "docs" / "_static" / "sampler"

#: Elements counted as anions in the pair classes (hydrogen is a class of its own).
ANIONS = frozenset({7, 8, 9, 16, 17, 34, 35, 52, 53})
PAIR_CLASSES = ("cation-anion", "anion-anion", "cation-cation", "with H")
#: Per-crystal quantities (one value per crystal) and pooled ones (several values per crystal).
SCALARS = (
    "volume_per_atom",
    "density",
    "shortest_distance",
    *(f"shortest {name}" for name in PAIR_CLASSES),
    "closest_pair_ratio",
    "atoms_per_cell",
    "distinct_elements",
    "shortest_edge",
    "monoclinic_obliquity",
)
POOLED = ("cell_edges", "angles", "wyckoff_multiplicity")
LABELS = {
    "volume_per_atom": "volume per atom (Å³)",
    "density": "density (g/cm³)",
    "shortest_distance": "shortest distance (Å)",
    "closest_pair_ratio": "closest pair / its fitted distance (default statistics)",
    "atoms_per_cell": "atoms per cell",
    "distinct_elements": "distinct elements",
    "shortest_edge": "shortest cell edge (Å)",
    "monoclinic_obliquity": "monoclinic cells: most orthogonal cell choice, deviation of β from 90° (°)",
    "cell_edges": "cell edges a, b, c (Å)",
    "angles": "cell angles (°)",
    "wyckoff_multiplicity": "occupied Wyckoff multiplicity",
}
KS_TARGETS = {"volume_per_atom": 0.15, "shortest_distance": 0.15, "cell_edges": 0.15}
SHORT_EDGE = 2.0  # Å


@functools.cache
def fitted_pair_distances() -> np.ndarray:
    """(119, 119) Å the default statistics' pair distances (what the default sampler pushes pairs toward)."""
    return SpaceGroupSampler().target_distance_table()


def pair_class(a: int, b: int) -> str:
    if a == 1 or b == 1:
        return "with H"
    anions = (a in ANIONS) + (b in ANIONS)
    return ("cation-cation", "cation-anion", "anion-anion")[anions]


def spglib_sites(crystal: Crystal, symprec: float) -> tuple[list[int], list[int]]:
    """One atom per position (atoms closer than max(symprec, 3e-3) Å share a site, as in mixed sites) and
    each site's species label (equal labels = equal content of element and occupancy), for spglib."""
    near = crystal.distances() < max(symprec, 3e-3)
    site_of = -np.ones(crystal.num_atoms, dtype=np.int64)
    sites: list[int] = []
    for i in range(crystal.num_atoms):
        if site_of[i] < 0:
            site_of[near[i] & (site_of < 0)] = len(sites)
            sites.append(i)
    labels: dict[tuple[tuple[int, float], ...], int] = {}
    types = []
    for site in range(len(sites)):
        members = np.flatnonzero(site_of == site)
        content = ((int(crystal.numbers[m]), round(float(crystal.occupancies[m]), 4)) for m in members)
        key = tuple(sorted(content))
        types.append(labels.setdefault(key, len(labels) + 1))
    return sites, types


def most_orthogonal_deviation(lattice: np.ndarray) -> float:
    """|90° - angle| in degrees of the most nearly orthogonal basis of the plane of a monoclinic cell's two
    oblique edges (Gauss reduction of that 2D lattice): small for a pseudo-orthorhombic cell in whatever
    setting it is written (P2₁/c standard or P2₁/n)."""
    v = [np.asarray(x, dtype=np.float64) for x in lattice]

    def cosine(pair: tuple[int, int]) -> float:
        x, y = v[pair[0]], v[pair[1]]
        return abs(float(x @ y)) / float(np.linalg.norm(x) * np.linalg.norm(y))

    i, j = max([(1, 2), (0, 2), (0, 1)], key=cosine)
    x, y = v[i], v[j]
    for _ in range(100):
        if x @ x > y @ y:
            x, y = y, x
        m = np.round((x @ y) / (x @ x))
        if m == 0:
            break
        y = y - m * x
    return float(np.degrees(np.arcsin(min(1.0, abs(x @ y) / (np.linalg.norm(x) * np.linalg.norm(y))))))


def properties(crystal: Crystal, symprec: float) -> tuple[dict[str, float], dict[str, list[float]]] | None:
    """One crystal's scalar and pooled quantities (None when spglib cannot analyse it)."""
    sites, types = spglib_sites(crystal, symprec)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="spglib")
        try:
            cell = (crystal.lattice, crystal.frac_coords[sites], np.asarray(types, dtype=np.intc))
            data = spglib.get_symmetry_dataset(cell, symprec=symprec)
        except spglib.SpglibError:
            data = None
    if data is None:
        return None
    std = np.asarray(data.std_lattice)
    a, b, c = np.linalg.norm(std, axis=1)
    angles = [
        float(
            np.degrees(np.arccos(np.dot(std[i], std[j]) / (np.linalg.norm(std[i]) * np.linalg.norm(std[j]))))
        )
        for i, j in ((1, 2), (0, 2), (0, 1))
    ]
    # Multiplicity of each orbit in the conventional cell: its atoms in this cell, scaled by the volumes.
    ratio = abs(np.linalg.det(std)) / crystal.volume
    _, orbit_sizes = np.unique(np.asarray(data.equivalent_atoms), return_counts=True)
    scalars = {
        "volume_per_atom": crystal.volume / float(np.sum(crystal.occupancies)),
        "density": crystal.density,
        "atoms_per_cell": float(crystal.num_atoms),
        "distinct_elements": float(len(set(crystal.numbers.tolist()))),
        "shortest_edge": float(min(a, b, c)),
        "monoclinic_obliquity": most_orthogonal_deviation(std) if 3 <= int(data.number) <= 15 else np.nan,
    }
    for name in ("shortest_distance", *(f"shortest {k}" for k in PAIR_CLASSES), "closest_pair_ratio"):
        scalars[name] = np.nan
    if np.all(crystal.occupancies >= FULL_OCCUPANCY):
        pairs = shortest_pair_distances(crystal)
        if pairs:
            scalars["shortest_distance"] = min(pairs.values())
            fitted = fitted_pair_distances()
            scalars["closest_pair_ratio"] = min(d / fitted[za, zb] for (za, zb), d in pairs.items())
        for (za, zb), d in pairs.items():
            key = f"shortest {pair_class(za, zb)}"
            scalars[key] = float(np.nanmin([scalars[key], d]))
    pooled = {
        "cell_edges": [float(a), float(b), float(c)],
        "angles": angles,
        "wyckoff_multiplicity": [float(round(n * ratio)) for n in orbit_sizes],
    }
    return scalars, pooled


def collect(crystals: list[Crystal], symprec: float) -> dict[str, np.ndarray]:
    scalars: dict[str, list[float]] = {k: [] for k in (*SCALARS, "space_group")}
    pooled: dict[str, list[float]] = {k: [] for k in POOLED}
    for crystal in crystals:
        result = properties(crystal, symprec)
        if result is None:
            continue
        for k, v in result[0].items():
            scalars[k].append(v)
        scalars["space_group"].append(float(crystal.space_group))
        for k, values in result[1].items():
            pooled[k].extend(values)
    return {k: np.asarray(v, dtype=np.float64) for k, v in {**scalars, **pooled}.items()}


def read_real(folder: Path, max_files: int | None, max_atoms: int, seed: int) -> dict[str, np.ndarray]:
    files = sorted(folder.rglob("*.cif"))
    random.Random(seed).shuffle(files)
    crystals = []
    for file in files[:max_files]:
        try:
            crystal = Crystal.from_cif(file)
        except (CIFError, OSError):
            continue
        if crystal.num_atoms <= max_atoms:
            crystals.append(crystal)
    return collect(crystals, symprec=1e-2)


def ks_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs (NaNs dropped)."""
    x, y = np.sort(x[np.isfinite(x)]), np.sort(y[np.isfinite(y)])
    if len(x) == 0 or len(y) == 0:
        return float("nan")
    grid = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, grid, side="right") / len(x)
    cdf_y = np.searchsorted(y, grid, side="right") / len(y)
    return float(np.max(np.abs(cdf_x - cdf_y)))


def violations(
    crystals: list[Crystal], table: np.ndarray, target: np.ndarray
) -> tuple[int, int, float, float]:
    """(crystals with a pair closer than its minimum, element pairs checked, smallest distance / minimum,
    share of the element pairs whose shortest distance is below the distance the sampler pushes toward)."""
    bad, checked, worst, short = 0, 0, np.inf, 0
    for crystal in crystals:
        pairs = shortest_pair_distances(crystal, 0.0)
        ratios = [d / table[a, b] for (a, b), d in pairs.items() if table[a, b] > 0]
        short += sum(d < target[a, b] for (a, b), d in pairs.items())
        checked += len(pairs)
        worst = min(worst, *ratios) if ratios else worst
        bad += any(r < 1.0 - 1e-9 for r in ratios)
    return bad, checked, float(worst), short / max(checked, 1)


def sample(sampler: SpaceGroupSampler, n: int, batch: int = 1000) -> list[Crystal]:
    crystals: list[Crystal] = []
    while len(crystals) < n:
        crystals += sampler.sample(min(batch, n - len(crystals))).to_crystals()
    return crystals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="folder of real CIFs, e.g. ../shared/data/amcsd-dev")
    parser.add_argument("--crystals", type=int, default=10_000, help="sampled crystals per sampler")
    parser.add_argument("--max-files", type=int, default=None, help="real CIFs read (random subset)")
    parser.add_argument("--max-atoms", type=int, default=100, help="largest real cell kept (sampler's cap)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None, help="npz file for the real crystals' properties")
    parser.add_argument("--no-v1", action="store_true", help="leave out the version-1 statistics")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()

    if args.cache is not None and args.cache.is_file():
        real = dict(np.load(args.cache))
    if args.cache is None or not args.cache.is_file() or set(SCALARS + POOLED) - set(real):
        # No cache, or one written before a quantity was added: read the real crystals again.
        real = read_real(args.folder, args.max_files, args.max_atoms, args.seed)
        if args.cache is not None:
            np.savez_compressed(args.cache, **real)
    samplers = {
        "sampled, groups as in statistics": SpaceGroupSampler(
            seed=args.seed, space_group_weights="statistics"
        ),
        "sampled, groups uniform (default)": SpaceGroupSampler(seed=args.seed + 1),
    }
    if not args.no_v1:
        samplers["before: default-v1 statistics, groups as in them"] = SpaceGroupSampler(
            statistics="default-v1", seed=args.seed, space_group_weights="statistics"
        )
    results, checks = {}, {}
    for name, sampler in samplers.items():
        crystals = sample(sampler, args.crystals)
        results[name] = collect(crystals, symprec=1e-3)
        table, target = sampler.min_distance_table(), sampler.target_distance_table()
        edges = np.concatenate([np.linalg.norm(c.lattice, axis=1) for c in crystals])
        checks[name] = (
            violations(crystals, table, target),
            int(np.sum(edges < SHORT_EDGE)),
            sampler.counters,
        )

    names = list(samplers)
    real_count = len(real["space_group"])
    print(f"real: {args.folder} ({real_count} structures with <= {args.max_atoms} atoms per cell)")
    print()
    header = "| quantity | real median | " + " | ".join(f"{n}: median, KS" for n in names) + " |"
    print(header)
    print("|" + " --- |" * (2 + len(names)))
    for key in (*SCALARS, *POOLED):
        label = LABELS.get(key, key.replace("shortest ", "shortest distance, ") + " (Å)")
        cells = [f"{np.nanmedian(real[key]):.3g}"]
        for name in names:
            values = results[name][key]
            ks = ks_distance(real[key], values)
            target = KS_TARGETS.get(key)
            mark = "" if target is None else (" ✓" if ks <= target else f" ✗ (> {target})")
            cells.append(f"{np.nanmedian(values):.3g}, {ks:.3f}{mark}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()
    # Pooled over all groups, atoms per cell can match while each crystal system is off (too few sites in
    # low symmetry, too many atoms on the large orbits of high symmetry): the same per crystal system.
    print("atoms per cell by crystal system (median, KS to the real ones of that system):")
    print()
    print("| crystal system | real: n, median | " + " | ".join(f"{n}: median, KS" for n in names) + " |")
    print("|" + " --- |" * (2 + len(names)))

    def systems(groups: np.ndarray) -> np.ndarray:
        return np.array([crystal_system(int(g)) for g in groups])

    real_system = systems(real["space_group"])
    sampled_system = {name: systems(results[name]["space_group"]) for name in names}
    for system in CRYSTAL_SYSTEMS:
        mine = real["atoms_per_cell"][real_system == system]
        cells = [f"{len(mine)}, {np.median(mine):.0f}"]
        for name in names:
            theirs = results[name]["atoms_per_cell"][sampled_system[name] == system]
            cells.append(f"{np.median(theirs):.0f}, {ks_distance(mine, theirs):.3f}" if len(theirs) else "-")
        print(f"| {system} | " + " | ".join(cells) + " |")
    print()
    for name in names:
        (bad, checked, worst, short), short_edges, counters = checks[name]
        n = len(results[name]["space_group"])
        print(
            f"{name}: {n} crystals; {bad} with a pair closer than its minimum distance ({checked} element "
            f"pairs checked, smallest distance / minimum {worst:.4f}; {short:.1%} of them closer than the "
            f"fitted distance they are pushed toward); {short_edges} cell edges below {SHORT_EDGE} Å"
        )
        print(f"  redraws: {counters.summary()}")
        worst_groups = sorted(counters.by_group().items(), key=lambda item: -item[1][1])[:5]
        print(
            "  most geometries per crystal: "
            + ", ".join(f"{g}: {geo:.2f} ({exp:.2f} expansions)" for g, (_, geo, exp) in worst_groups)
        )
    print(f"({time.perf_counter() - start:.0f} s)")
    plot(real, results, args.out)
    return 0


def plot(real: dict[str, np.ndarray], results: dict[str, dict[str, np.ndarray]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    colours = ["tab:blue", "tab:orange", "tab:grey"]
    panels = [
        ("volume_per_atom", np.linspace(0, 50, 51)),
        ("density", np.linspace(0, 10, 51)),
        ("shortest_distance", np.linspace(0, 4, 41)),
        ("shortest cation-anion", np.linspace(0, 4, 41)),
        ("shortest anion-anion", np.linspace(0, 5, 51)),
        ("shortest cation-cation", np.linspace(0, 6, 61)),
        ("cell_edges", np.linspace(0, 30, 61)),
        ("angles", np.linspace(55, 125, 71)),
        ("atoms_per_cell", np.arange(0, 105, 4)),
        ("distinct_elements", np.arange(0.5, 9.5, 1)),
        ("wyckoff_multiplicity", np.arange(0.5, 97.5, 2)),
        ("shortest_edge", np.linspace(0, 15, 61)),
    ]
    fig, axes = plt.subplots(4, 3, figsize=(13, 12))
    for ax, (key, bins) in zip(axes.flat, panels, strict=True):
        ax.hist(
            real[key][np.isfinite(real[key])],
            bins=bins,
            density=True,
            histtype="stepfilled",
            color="0.8",
            label="amcsd-dev (real)",
        )
        for (name, data), colour in zip(results.items(), colours, strict=False):
            values = data[key][np.isfinite(data[key])]
            ks = ks_distance(real[key], data[key])
            ax.hist(
                values,
                bins=bins,
                density=True,
                histtype="step",
                color=colour,
                lw=1.4,
                label=f"{name.split(':')[0].split(',')[-1].strip()}: KS {ks:.2f}",
            )
        ax.set_xlabel(LABELS.get(key, key.replace("shortest ", "shortest distance, ") + " (Å)"))
        ax.legend(fontsize=6.5)
    fig.tight_layout()
    fig.savefig(out / "realism.png", dpi=80)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.2))
    groups = np.arange(1, 231)
    counts = np.bincount(real["space_group"].astype(int), minlength=231)[1:]
    ax.plot(groups, counts / counts.sum(), drawstyle="steps-mid", color="black", lw=1.0, label="amcsd-dev")
    for (name, data), colour in zip(results.items(), colours, strict=False):
        counts = np.bincount(data["space_group"].astype(int), minlength=231)[1:]
        ax.plot(groups, counts / counts.sum(), drawstyle="steps-mid", color=colour, lw=0.8, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("space group (spglib)")
    ax.set_ylabel("frequency")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "space_groups.png", dpi=80)
    plt.close(fig)
    print(f"wrote realism.png and space_groups.png to {out}")


if __name__ == "__main__":
    sys.exit(main())
