"""Measured against simulated: do the laboratory preset's patterns look like RRUFF's measured ones?

    python scripts/compare_realism.py ../shared/data/rruff-dev ../shared/data/amcsd-dev \
        [--structures 449] [--preset laboratory-cu] [--plot docs/_static/realism.png] [--json out.json]

Real mineral structures (a random choice from amcsd-dev, one per mineral) are simulated with the preset on
RRUFF's own grid (5–89.99° in steps of 0.01°), and each pattern, measured or simulated, is described by what a
person looks at:

- ``fwhm_low`` / ``fwhm_high``: median FWHM (degrees 2θ) of its clear peaks below / above 50° 2θ;
- ``noise``: the point-to-point scatter (median absolute second difference / √6, a Gaussian σ) relative
  to the strongest peak;
- ``background``: the median intensity relative to the strongest peak;
- ``peaks``: the number of visible peaks (prominence above 2 % of the strongest and 5 noise σ, 3 points
  wide at least); clear peaks (for the widths) stand 10 % and 10 σ out;
- ``doublet``: for clear peaks above 40° 2θ, the median intensity at the Kα2 position (Δ2θ = 2 tanθ Δλ/λ)
  relative to the peak (about 0.5 for a resolved Kα doublet, less for a Kα1 scan or broad peaks);
- ``top10``: the share of the integrated intensity in the 10 % brightest points (peaky or flat).

For each it prints the quantiles of both sets, the two-sample Kolmogorov–Smirnov distance and the share of
measured values that fall inside the simulated 2.5–97.5 % range.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from scipy import signal, stats
from tqdm.auto import tqdm

import xrdsynth as xs

KALPHA1, KALPHA2 = 1.540593, 1.544414
METRICS = ("fwhm_low", "fwhm_high", "noise", "background", "peaks", "doublet", "top10")


def describe(two_theta: np.ndarray, intensity: np.ndarray) -> dict[str, float]:
    """The metrics of one pattern (see the module docstring); NaN where a pattern has no clear peak."""
    y = np.clip(np.asarray(intensity, dtype=np.float64), 0.0, None)
    peak = y.max()
    y = y / peak
    step = float(two_theta[1] - two_theta[0])
    noise = float(np.median(np.abs(np.diff(y, 2))) / math.sqrt(6.0))
    # Peaks must stand out of the noise (5 σ, 2 % of the strongest at least) and span 3 points.
    found, props = signal.find_peaks(y, prominence=max(0.02, 5 * noise), width=3)
    clear = found[props["prominences"] > max(0.1, 10 * noise)]
    widths = signal.peak_widths(y, clear, rel_height=0.5)[0] * step
    at = two_theta[clear]
    theta = np.radians(at / 2)
    offset = np.degrees(2 * np.tan(theta) * (KALPHA2 - KALPHA1) / KALPHA1)
    high = clear[at > 40]
    doublet = [
        y[min(len(y) - 1, round(i + o / step))] / y[i]
        for i, o in zip(high, offset[at > 40], strict=True)
    ]
    bright = np.sort(y)[::-1]
    return {
        "fwhm_low": float(np.median(widths[at < 50])) if np.any(at < 50) else math.nan,
        "fwhm_high": float(np.median(widths[at >= 50])) if np.any(at >= 50) else math.nan,
        "noise": noise,
        "background": float(np.median(y)),
        "peaks": float(len(found)),
        "doublet": float(np.median(doublet)) if doublet else math.nan,
        "top10": float(bright[: max(1, len(y) // 10)].sum() / max(bright.sum(), 1e-12)),
    }


def one_per_mineral(folder: Path, n: int, seed: int) -> list[xs.Crystal]:
    with open(folder / "index.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rng = np.random.default_rng(seed)
    rng.shuffle(rows)
    seen, crystals = set(), []
    for row in rows:
        if row["mineral"] in seen:
            continue
        try:
            crystal = xs.Crystal.from_cif(folder / row["file"])
        except ValueError:
            continue
        if crystal.numbers.max() > 98 or len(crystal.numbers) > 400:
            continue
        seen.add(row["mineral"])
        crystals.append(crystal)
        if len(crystals) == n:
            break
    return crystals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rruff", type=Path, help="rruff-dev folder (rruff-dev.npz)")
    parser.add_argument("amcsd", type=Path, help="amcsd-dev folder (index.csv, cifs/)")
    parser.add_argument("--structures", type=int, default=449)
    parser.add_argument("--preset", default="laboratory-cu", choices=xs.transforms.PRESETS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--preset-overrides",
        type=json.loads,
        default=None,
        help='other arguments for some of the preset\'s effects, as for xrdsynth train, e.g. '
        '\'{"PreferredOrientation": {"r": [0.35, 1.8], "p": 0.8}}\'',
    )
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    measured = np.load(args.rruff / "rruff-dev.npz")
    grid = measured["two_theta"]
    real = [describe(grid, y) for y in tqdm(measured["intensity"], desc="rruff-dev")]

    crystals = one_per_mineral(args.amcsd, args.structures, args.seed)
    augmented = xs.transforms.preset(
        args.preset, two_theta=grid, seed=args.seed, overrides=args.preset_overrides
    )
    simulated = []
    started = time.perf_counter()
    for i in tqdm(range(0, len(crystals), 32), desc=f"simulate ({args.preset})"):
        with torch.no_grad():
            patterns = augmented(crystals[i : i + 32]).numpy()
        simulated += [describe(grid, y) for y in patterns if y.max() > 0]
    print(
        f"{len(real)} measured and {len(simulated)} simulated patterns "
        f"({time.perf_counter() - started:.0f} s)"
    )

    table = {}
    print(
        f"{'metric':<11} {'measured q10 / q50 / q90':>28} {'simulated q10 / q50 / q90':>28} "
        f"{'KS':>6} {'inside':>7}"
    )
    for name in METRICS:
        a = np.array([r[name] for r in real])
        b = np.array([s[name] for s in simulated])
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        qa, qb = np.quantile(a, [0.1, 0.5, 0.9]), np.quantile(b, [0.1, 0.5, 0.9])
        lo, hi = np.quantile(b, [0.025, 0.975])
        inside = float(np.mean((a >= lo) & (a <= hi)))
        ks = float(stats.ks_2samp(a, b).statistic)
        table[name] = {"measured": qa.tolist(), "simulated": qb.tolist(), "ks": ks, "inside": inside}
        fa = " / ".join(f"{v:.3g}" for v in qa)
        fb = " / ".join(f"{v:.3g}" for v in qb)
        print(f"{name:<11} {fa:>28} {fb:>28} {ks:6.2f} {inside:7.0%}")
    if args.json is not None:
        args.json.write_text(
            json.dumps({"preset": args.preset, "metrics": table}, indent=2) + "\n", encoding="utf-8"
        )
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, 4, figsize=(15, 6.5))
        log_scale = {"fwhm_low", "fwhm_high", "noise", "background"}
        for ax, name in zip(axes.flat, METRICS, strict=False):
            a = np.array([r[name] for r in real])
            b = np.array([s[name] for s in simulated])
            a, b = a[np.isfinite(a) & (a > 0)], b[np.isfinite(b) & (b > 0)]
            both = np.concatenate([a, b])
            if name in log_scale:
                bins = np.geomspace(both.min(), both.max(), 30)
                ax.set_xscale("log")
            else:
                bins = np.linspace(both.min(), both.max(), 30)
            ax.hist(a, bins, alpha=0.6, density=True, label="RRUFF (measured)")
            ax.hist(b, bins, alpha=0.6, density=True, label=f"{args.preset} (simulated)")
            ax.set_title(f"{name}  (KS {table[name]['ks']:.2f})")
        axes.flat[-1].axis("off")
        axes.flat[0].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=90)
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
