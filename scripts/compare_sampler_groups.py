"""Sampled crystals against real ones, group by group: atoms per cell, cell volume and occupied sites.

    python scripts/compare_sampler_groups.py ../shared/data/amcsd-dev \
        [--statistics default old_statistics.json] [--groups 2,14,15,12,62,166,225,227] [--per-group 200]

Pooled over all groups, atoms per cell and volumes can match while every group is off: until the sampler
drew each element's sites given the crystal system, P-1 and P2₁/c crystals came out with too few atoms and
cubic ones with too many, which cancelled. For each group this prints the median number of atoms per cell,
cell volume (Å³) and occupied Wyckoff sites (orbits) of the folder's structures of that group (its
``index.csv`` gives the groups, so only those CIFs are read) and of ``--per-group`` crystals sampled in that
group with each statistics (a name such as ``default``, or a statistics file, e.g. an earlier one written
out with ``git show REV:src/xrdsynth/sampler/default_statistics.json > old.json``). Sites are counted by
spglib (symprec 1e-2 Å for the real structures, as when fitting; 1e-3 Å for the sampled ones) on at most
60 crystals per group and statistics.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from xrdsynth import Crystal
from xrdsynth.sampler import SpaceGroupSampler

SITE_CRYSTALS = 60


def medians(crystals: list[Crystal], symprec: float) -> tuple[float, float, float]:
    """Median atoms per cell, cell volume (Å³) and occupied sites of ``crystals``."""
    atoms = np.median([c.num_atoms for c in crystals])
    volume = np.median([c.volume for c in crystals])
    sites = np.median([len(c.wyckoff_sites(symprec)) for c in crystals[:SITE_CRYSTALS]])
    return float(atoms), float(volume), float(sites)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="folder with index.csv and its CIFs, e.g. amcsd-dev")
    parser.add_argument("--statistics", nargs="+", default=["default"], help="statistics names or files")
    parser.add_argument("--groups", default="2,14,15,12,62,166,225,227", help="comma-separated groups")
    parser.add_argument("--per-group", type=int, default=200, help="sampled crystals per group")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    groups = [int(g) for g in args.groups.split(",")]
    if not all(1 <= g <= 230 for g in groups):
        parser.error(f"space groups must be in 1..230, got {args.groups}")

    with open(args.folder / "index.csv", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["space_group"] and int(r["space_group"]) in groups]
    real: dict[int, list[Crystal]] = {g: [] for g in groups}
    for row in rows:
        try:
            real[int(row["space_group"])].append(Crystal.from_cif(args.folder / row["file"]))
        except ValueError as error:
            print(f"skipped {row['file']}: {error}", file=sys.stderr)

    samplers = {name: SpaceGroupSampler(statistics=name, seed=args.seed) for name in args.statistics}
    header = "| group | real: structures, atoms, volume, sites | "
    print(header + " | ".join(f"{name}: atoms, volume, sites" for name in samplers) + " |")
    print("|" + " --- |" * (2 + len(samplers)))
    for g in groups:
        cells = (
            [f"{len(real[g])}, " + ", ".join(f"{v:.4g}" for v in medians(real[g], 1e-2))]
            if real[g]
            else ["-"]
        )
        for sampler in samplers.values():
            crystals = sampler.sample(args.per_group, space_group=g).to_crystals()
            cells.append(", ".join(f"{v:.4g}" for v in medians(crystals, 1e-3)))
        print(f"| {g} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
