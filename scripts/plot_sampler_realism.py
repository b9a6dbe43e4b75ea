"""Plots comparing SpaceGroupSampler's crystals with real ones (amcsd-dev), for docs/sampler.md.

    python scripts/plot_sampler_realism.py ../shared/data/amcsd-dev [--crystals 3000] [--max-files 3000]

Writes PNGs to docs/_static/sampler/: volume per atom, atoms per cell, density, nearest-neighbour distance
(the shortest interatomic distance of each crystal), and space-group frequencies. Sampled crystals come from
the default sampler twice: with groups weighted as in the statistics (the like-for-like comparison of the
other quantities) and uniform over the 230 groups (the default, what a classifier trains on). Real crystals
with partial occupancies are left out of the distance plot. Needs matplotlib.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
import torch

import xrdsynth as xs
from xrdsynth import Crystal
from xrdsynth.sampler import SpaceGroupSampler

OUT = Path(__file__).resolve().parents[1] / "docs" / "_static" / "sampler"


def properties(crystals: list[Crystal]) -> dict[str, np.ndarray]:
    """Per-crystal volume per atom (Å³), atoms per cell, density (g/cm³), shortest distance (Å, NaN where
    some occupancy is below 1), space group."""
    rows = []
    for c in crystals:
        atoms = float(np.sum(c.occupancies))
        shortest = np.nan
        if np.all(c.occupancies == 1.0) and c.num_atoms > 1:
            d = c.distances()
            np.fill_diagonal(d, np.inf)
            shortest = float(min(d.min(), np.linalg.norm(c.lattice, axis=1).min()))
        rows.append((c.volume / atoms, c.num_atoms, c.density, shortest, c.space_group))
    table = np.array(rows, dtype=np.float64)
    names = ("volume_per_atom", "atoms_per_cell", "density", "shortest_distance", "space_group")
    return {name: table[:, k] for k, name in enumerate(names)}


def read_real(folder: Path, max_files: int, seed: int) -> list[Crystal]:
    files = sorted(folder.rglob("*.cif"))
    random.Random(seed).shuffle(files)
    crystals = []
    for file in files[:max_files]:
        try:
            crystals.append(Crystal.from_cif(file))
        except (xs.CIFError, OSError):
            continue
    return crystals


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="folder of real CIFs, e.g. ../shared/data/amcsd-dev")
    parser.add_argument("--crystals", type=int, default=3000, help="sampled crystals per sampler")
    parser.add_argument("--max-files", type=int, default=3000, help="real CIFs read (random subset)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    real = properties(read_real(args.folder, args.max_files, args.seed))
    weighted = properties(
        SpaceGroupSampler(seed=args.seed, space_group_weights="statistics")
        .sample(args.crystals)
        .to_crystals()
    )
    uniform = properties(SpaceGroupSampler(seed=args.seed).sample(args.crystals).to_crystals())
    sets = [
        ("amcsd-dev (real)", real, "black"),
        ("sampled, groups as in statistics", weighted, "tab:blue"),
        ("sampled, groups uniform (default)", uniform, "tab:orange"),
    ]

    plots = [
        ("volume_per_atom", "volume per atom (Å³)", np.linspace(0, 60, 61)),
        ("atoms_per_cell", "atoms per conventional cell", np.arange(0, 210, 5)),
        ("density", "density (g/cm³)", np.linspace(0, 10, 51)),
        ("shortest_distance", "shortest interatomic distance (Å)", np.linspace(0, 4, 41)),
    ]
    for key, label, bins in plots:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for name, data, colour in sets:
            values = data[key][np.isfinite(data[key])]
            median = float(np.median(values))
            ax.hist(
                values,
                bins=bins,
                density=True,
                histtype="step",
                color=colour,
                lw=1.6,
                label=f"{name}: median {median:.2f}",
            )
        ax.set_xlabel(label)
        ax.set_ylabel("fraction (density)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.out / f"{key}.png", dpi=110)
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3.6))
    groups = np.arange(1, 231)
    for name, data, colour in sets:
        counts = np.bincount(data["space_group"].astype(int), minlength=231)[1:]
        ax.plot(groups, counts / counts.sum(), drawstyle="steps-mid", color=colour, lw=1.0, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("space group")
    ax.set_ylabel("frequency")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / "space_groups.png", dpi=110)
    plt.close(fig)

    for name, data, _ in sets:
        summary = ", ".join(
            f"{key} median {np.nanmedian(data[key]):.2f}"
            for key in ("volume_per_atom", "atoms_per_cell", "density", "shortest_distance")
        )
        print(f"{name} ({len(data['space_group'])} crystals): {summary}")
    print(f"wrote {len(plots) + 1} plots to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
