"""What a powder pattern shows, real minerals against sampled crystals (docs/training.md, session 26).

    python scripts/compare_pattern_statistics.py ../shared/data/amcsd-dev [--cache /tmp/amcsd.pkl]
        [--b-iso 0.5 1.5] [--seed 5]

Clean patterns (Cu Kα1, Gaussian peaks of 20–100 nm crystallites, 5–90° on 4251 points) of the amcsd-dev
structures with at most 100 atoms, one per mineral, against as many crystals of
``SpaceGroupSampler(b_iso_range=--b-iso)`` drawn with the same space-group counts. Prints, per quantity, the
median and quartiles of each and the two-sample Kolmogorov–Smirnov distance: peaks (local maxima) above 1, 5
and 20 % of the strongest, the share of the intensity above 45°, the angle of the strongest peak and of the
first peak above 5 %, the heights of the 2nd, 5th and 10th strongest peaks, and the mean level.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from evaluate_classifier import amcsd_crystals, one_per_mineral, render
from plot_sampler_realism import ks_distance

import xrdsynth as xs

GRID = (5.0, 90.0, 4251)


def features(patterns: np.ndarray, two_theta: np.ndarray) -> dict[str, np.ndarray]:
    """Per-pattern quantities of (n, P) patterns on the grid ``two_theta`` (degrees)."""
    p = patterns / patterns.max(axis=1, keepdims=True)
    inner = p[:, 1:-1]
    peak = (inner > p[:, :-2]) & (inner >= p[:, 2:])
    heights = -np.sort(-np.where(peak, inner, 0.0), axis=1)
    above = peak & (inner > 0.05)
    first = np.where(above.any(axis=1), two_theta[1:-1][above.argmax(axis=1)], np.nan)
    return {
        **{f"peaks above {t:.0%}": (peak & (inner > t)).sum(axis=1) for t in (0.01, 0.05, 0.2)},
        "intensity share above 45°": p[:, two_theta > 45.0].sum(axis=1) / p.sum(axis=1),
        "strongest peak 2θ (°)": two_theta[p.argmax(axis=1)],
        "first peak above 5 % 2θ (°)": first,
        **{f"{k}th strongest peak" if k > 2 else "2nd strongest peak": heights[:, k - 1] for k in (2, 5, 10)},
        "mean level": p.mean(axis=1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="amcsd-dev folder")
    parser.add_argument("--cache", type=Path, default=None, help="pickle of the read amcsd-dev structures")
    parser.add_argument("--b-iso", type=float, nargs=2, default=(0.5, 1.5), help="the sampler's B range, Å²")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    crystals, labels, ids = amcsd_crystals(args.folder, args.cache)
    keep = [i for i in one_per_mineral(args.folder, ids) if crystals[i].num_atoms <= 100]
    real = [crystals[i] for i in keep]
    counts = np.bincount(labels[keep], minlength=231)[1:].astype(float)
    simulator = xs.PowderSimulator(
        two_theta=GRID, wavelength="CuKa1", crystallite_size_nm=(20.0, 100.0), seed=3
    )
    sampler = xs.SpaceGroupSampler(
        seed=args.seed, space_group_weights=list(counts), b_iso_range=tuple(args.b_iso)
    )
    sampled = sampler.sample(len(real)).to_crystals()
    two_theta = np.linspace(*GRID[:2], GRID[2])
    ours = features(render(simulator, real, 128, desc="real").numpy(), two_theta)
    theirs = features(render(simulator, sampled, 128, desc="sampled").numpy(), two_theta)
    print(f"{len(real)} amcsd-dev minerals (one structure each, <= 100 atoms) against {len(sampled)} sampled")
    print(
        f"crystals with the same space-group counts, B {args.b_iso[0]}-{args.b_iso[1]} Å²; median [quartiles]"
    )

    def spread(x: np.ndarray) -> str:
        return f"{np.nanmedian(x):7.3f} [{np.nanpercentile(x, 25):.3f}, {np.nanpercentile(x, 75):.3f}]"

    for name in ours:
        a, b = ours[name].astype(float), theirs[name].astype(float)
        print(f"  {name:<28} real {spread(a)}  sampled {spread(b)}  KS {ks_distance(a, b):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
