"""Do measured peak intensities fall off with angle as simulated ones do? Pairs RRUFF patterns with amcsd-dev
structures and compares their relative peak intensities as a function of 2θ.

    python scripts/measure_intensity_angle.py ../shared/data/rruff-dev ../shared/data/amcsd-dev \
        [--cache /tmp/amcsd.pkl] [--min-cosine 0.8] [--json out.json] [--plot docs/_static/intensity.png]

rruff-dev carries no mineral names, so each measured pattern is paired with the amcsd-dev structure of its
space group whose simulated pattern matches it best: both are background-subtracted, broadened to a common
width, square-rooted and compared by cosine similarity, the measured one resampled for lattice scales of
0.97–1.03 (the same mineral's cells differ with composition and temperature). Pairs above ``--min-cosine``
are kept.

For each kept pair, the simulated sticks (Cu Kα1, the structure's own cell scaled by the pair's factor) are
grouped into peaks that stand clear of their neighbours; the measured intensity integrated over the same
window (Kα2 included; background subtracted) is compared with the simulated one. Per pattern,
``log(measured / simulated)`` of its peaks is regressed on ``log(sin θ)``: a slope 0 means the measured
intensities follow the simulator's angular factors (Lorentz–polarisation without monochromator, the
structure's B), a slope +1 is what an automatic (variable) divergence slit gives, negative slopes what
absorption by a thin or low-density sample, surface roughness reversed, or a larger B give. Printed: the
quantiles of the per-pattern slopes and the median ratio per 2θ band (relative to each pattern's own median),
pooled over the pairs. Validation only: nothing here is trained on.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage, stats
from tqdm.auto import tqdm

import xrdsynth as xs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from evaluate_classifier import amcsd_crystals  # noqa: E402

KALPHA1, KALPHA2 = 1.540593, 1.544414
SCALES = np.linspace(0.97, 1.03, 25)
MATCH_FWHM = 0.35  # degrees: broad enough that small cell differences still overlap
BANDS = [(5, 15), (15, 25), (25, 35), (35, 45), (45, 55), (55, 65), (65, 75), (75, 90)]


def background(intensity: np.ndarray, step: float) -> np.ndarray:
    """(n, P) a smooth lower envelope: a running minimum over 3° followed by a running mean over 3°."""
    width = round(3.0 / step)
    low = ndimage.minimum_filter1d(intensity, width, axis=-1, mode="nearest")
    return ndimage.uniform_filter1d(low, width, axis=-1, mode="nearest")


def normalised(patterns: np.ndarray, step: float, extra_fwhm: float) -> np.ndarray:
    """Broadened by a Gaussian of ``extra_fwhm`` degrees, √, unit length (rows)."""
    sigma = extra_fwhm / 2.3548 / step
    broad = ndimage.gaussian_filter1d(np.clip(patterns, 0, None), sigma, axis=-1, mode="constant")
    root = np.sqrt(broad)
    return root / np.maximum(np.linalg.norm(root, axis=-1, keepdims=True), 1e-12)


def scaled_measured(measured: np.ndarray, two_theta: np.ndarray, wavelength: float) -> np.ndarray:
    """(len(SCALES), P) the measured pattern read on the simulation's axis for each lattice scale s: the
    simulated reflection at 2θ (d, Kα1) lies where d·s falls for the measured wavelength."""
    sin_sim = np.sin(np.radians(two_theta / 2))
    out = np.zeros((len(SCALES), len(two_theta)))
    for k, s in enumerate(SCALES):
        sin_meas = sin_sim * (wavelength / KALPHA1) / s
        inside = sin_meas < 1
        where = 2 * np.degrees(np.arcsin(np.clip(sin_meas, 0, 1)))
        out[k] = np.where(inside, np.interp(where, two_theta, measured, left=0.0, right=0.0), 0.0)
    return out


def peak_ratios(
    peaks: xs.simulate.PeakList,
    scale: float,
    measured: np.ndarray,
    two_theta: np.ndarray,
    wavelength: float,
    half_width: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """(k,) 2θ (degrees, measured axis) and log(measured / simulated) of the isolated peaks of one pair,
    each side normalised to its own strongest isolated peak."""
    step = two_theta[1] - two_theta[0]
    d = peaks.d * scale
    sin1 = wavelength / (2 * d)
    keep = sin1 < 0.999
    pos = 2 * np.degrees(np.arcsin(sin1[keep]))
    inten = peaks.intensity[keep]
    # Peaks closer than 0.12° are one; each window runs half_width below Kα1 to half_width above Kα2.
    order = np.argsort(pos)
    pos, inten = pos[order], inten[order]
    groups: list[list[int]] = []
    for i in range(len(pos)):
        if groups and pos[i] - pos[groups[-1][-1]] < 0.12:
            groups[-1].append(i)
        else:
            groups.append([i])
    centre = np.array([np.average(pos[g], weights=inten[g] + 1e-12) for g in groups])
    total = np.array([inten[g].sum() for g in groups])
    split = 2 * np.degrees(np.tan(np.radians(centre / 2))) * (KALPHA2 - KALPHA1) / KALPHA1
    lo, hi = centre - half_width, centre + split + half_width
    strongest = total.max()
    result_pos, result_sim, result_meas = [], [], []
    for j in range(len(groups)):
        if total[j] < 0.03 * strongest or lo[j] < two_theta[0] + 0.5 or hi[j] > two_theta[-1] - 0.5:
            continue
        # Isolated: no other peak above 1 % of this one's intensity within 0.25° of the window.
        near = (hi + 0.25 > lo[j]) & (lo - 0.25 < hi[j])
        near[j] = False
        if np.any(total[near] > 0.01 * total[j]):
            continue
        a, b = int((lo[j] - two_theta[0]) / step), int((hi[j] - two_theta[0]) / step) + 1
        result_pos.append(centre[j])
        result_sim.append(total[j])
        result_meas.append(measured[a:b].sum() * step)
    pos, sim, meas = np.array(result_pos), np.array(result_sim), np.array(result_meas)
    good = meas > 0
    if good.sum() < 4:
        return np.zeros(0), np.zeros(0)
    ratio = np.log(meas[good] / meas[good].max()) - np.log(sim[good] / sim[good].max())
    return pos[good], ratio


def displacement_fit(two_theta: np.ndarray, log_ratio: np.ndarray, wavelength: float) -> tuple[float, float]:
    """The extra isotropic displacement parameter B (Å²) that best explains ``log_ratio`` (measured over
    simulated peak intensities) as exp(-2 B s²), s = sin θ / λ (minus half the least-squares slope on s²),
    and the scatter of the peaks about that fit (median absolute residual of the natural log)."""
    s2 = (np.sin(np.radians(two_theta / 2)) / wavelength) ** 2
    slope, intercept = np.polyfit(s2, log_ratio, 1)
    return float(-0.5 * slope), float(np.median(np.abs(log_ratio - slope * s2 - intercept)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rruff", type=Path)
    parser.add_argument("amcsd", type=Path)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--min-cosine", type=float, default=0.9)
    parser.add_argument("--max-atoms", type=int, default=400)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--preset", default="laboratory-cu", choices=xs.transforms.PRESETS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--preset-overrides",
        type=json.loads,
        default=None,
        help="arguments for some of the preset's effects, as for xrdsynth train, e.g. "
        '\'{"PreferredOrientation": {"r": [0.35, 1.8], "p": 0.8}}\'',
    )
    parser.add_argument(
        "--preset-b", type=float, nargs="+", default=[0.0, 1.0, 2.0], help="B (Å²) of every atom"
    )
    parser.add_argument(
        "--half-width", type=float, default=0.25, help="degrees integrated below Kα1 and above Kα2 of a peak"
    )
    parser.add_argument("--pairs", type=Path, help="CSV of the pairs found")
    args = parser.parse_args()

    data = np.load(args.rruff / "rruff-dev.npz")
    two_theta, measured, groups = data["two_theta"], data["intensity"].astype(np.float64), data["space_group"]
    wavelength = float(data["wavelength"])
    step = float(two_theta[1] - two_theta[0])
    measured_flat = np.clip(measured - background(measured, step), 0, None)

    crystals, labels, ids = amcsd_crystals(args.amcsd, args.cache)
    with open(args.amcsd / "index.csv", encoding="utf-8") as handle:
        names = {r["amcsd_id"]: r["mineral"] for r in csv.DictReader(handle)}
    wanted = set(groups.tolist())
    chosen = [i for i, c in enumerate(crystals) if labels[i] in wanted and c.num_atoms <= args.max_atoms]
    sim = xs.PowderSimulator(
        two_theta=torch.tensor(two_theta),
        wavelength="CuKa1",
        crystallite_size_nm=(1e4, 1e4),
        instrument_fwhm=(0.1, 0.1),
        seed=0,
    )
    rendered = []
    with torch.no_grad():
        for start in tqdm(range(0, len(chosen), 128), desc="simulate amcsd-dev", unit="batch"):
            rendered.append(sim([crystals[i] for i in chosen[start : start + 128]]).double().numpy())
    simulated = normalised(np.concatenate(rendered), step, math.sqrt(MATCH_FWHM**2 - 0.1**2))
    chosen_labels = labels[chosen]
    position = {index: k for k, index in enumerate(chosen)}

    pairs = []
    for n in tqdm(range(len(measured)), desc="pair rruff-dev", unit="pattern"):
        candidates = np.flatnonzero(chosen_labels == groups[n])
        if len(candidates) == 0:
            pairs.append(None)
            continue
        flat = measured_flat[n]
        views = normalised(scaled_measured(flat, two_theta, wavelength), step, MATCH_FWHM)
        cosine = simulated[candidates] @ views.T  # (candidates, scales)
        best = np.unravel_index(np.argmax(cosine), cosine.shape)
        pairs.append((int(chosen[candidates[best[0]]]), float(SCALES[best[1]]), float(cosine[best])))

    cosines = np.array([p[2] for p in pairs if p is not None])
    print(
        f"paired {len(cosines)} of {len(measured)} patterns (the rest: no amcsd-dev structure of their group)"
    )
    print(
        "best cosine quantiles 10/25/50/75/90 %:",
        np.round(np.quantile(cosines, [0.1, 0.25, 0.5, 0.75, 0.9]), 3),
    )

    peak_sim = xs.PowderSimulator(two_theta=(4.0, 91.0, 8701), wavelength="CuKa1")
    slopes, scatters, pooled_pos, pooled_ratio, rows = [], [], [], [], []
    for n, pair in enumerate(tqdm(pairs, desc="compare peaks", unit="pair")):
        if pair is None or pair[2] < args.min_cosine:
            continue
        index, scale, cos = pair
        peaks = peak_sim.peaks(crystals[index])
        pos, ratio = peak_ratios(peaks, scale, measured_flat[n], two_theta, wavelength, args.half_width)
        if len(pos) < 5 or np.ptp(pos) < 20:
            continue
        slope, spread = displacement_fit(pos, ratio, wavelength)
        scatters.append(spread)
        slopes.append(slope)
        pooled_pos.append(pos)
        pooled_ratio.append(ratio - np.median(ratio))
        rows.append(
            {
                "pattern": n,
                "amcsd_id": ids[index],
                "mineral": names.get(ids[index], "?"),
                "space_group": int(groups[n]),
                "scale": scale,
                "cosine": round(cos, 4),
                "peaks": len(pos),
                "slope": round(float(slope), 3),
            }
        )
    slopes = np.array(slopes)
    pos_all, ratio_all = np.concatenate(pooled_pos), np.concatenate(pooled_ratio)

    # The same measurement on the preset's simulations of the same structures, with every atom's B set to
    # each of --preset-b: the spread that texture, noise, background and the rest of the preset already give,
    # and the B at which the simulated medians meet the measured one.
    augmented = xs.transforms.preset(
        args.preset, two_theta=torch.tensor(two_theta), seed=args.seed, overrides=args.preset_overrides
    )
    kept = [pairs[r["pattern"]][0] for r in rows]
    preset_slopes, preset_scatters = {}, {}
    for b in args.preset_b:
        structures = [dataclasses.replace(crystals[i], b_iso=np.full(crystals[i].num_atoms, b)) for i in kept]
        with torch.no_grad():
            rendered = torch.cat([augmented(structures[k : k + 32]) for k in range(0, len(kept), 32)])
        rendered = rendered.double().numpy() * 1000.0
        rendered_flat = np.clip(rendered - background(rendered, step), 0, None)
        found, spreads = [], []
        for index, pattern in zip(kept, rendered_flat, strict=True):
            # The measured pairs were kept for matching their structure's simulation; keep the simulated
            # ones by the same rule, or heavily textured draws would count where measured ones could not.
            views = normalised(scaled_measured(pattern, two_theta, KALPHA1), step, MATCH_FWHM)
            if (views @ simulated[position[index]]).max() < args.min_cosine:
                continue
            pos, ratio = peak_ratios(
                peak_sim.peaks(crystals[index]), 1.0, pattern, two_theta, KALPHA1, args.half_width
            )
            if len(pos) >= 5 and np.ptp(pos) >= 20:
                slope, spread = displacement_fit(pos, ratio, KALPHA1)
                found.append(slope)
                spreads.append(spread)
        preset_slopes[b], preset_scatters[b] = np.array(found), np.array(spreads)
    print(f"pairs with cosine >= {args.min_cosine} and >= 5 isolated peaks over >= 20°: {len(slopes)}")
    print(
        "extra B (Å²) of measured over simulated, quantiles 10/25/50/75/90 %:",
        np.round(np.quantile(slopes, [0.1, 0.25, 0.5, 0.75, 0.9]), 2),
    )
    for b, found in preset_slopes.items():
        print(
            f"the same on {args.preset} simulations of the same structures, every B = {b} Å² ({len(found)}):",
            np.round(np.quantile(found, [0.1, 0.25, 0.5, 0.75, 0.9]), 2),
            f"KS {stats.ks_2samp(slopes, found).statistic:.3f}",
        )
    scatters = np.array(scatters)
    print(
        "scatter of the peaks about each pattern's fit (median |residual| of ln), quantiles 10/25/50/75/90 %:"
    )
    print("  measured:", np.round(np.quantile(scatters, [0.1, 0.25, 0.5, 0.75, 0.9]), 3))
    for b, spreads in preset_scatters.items():
        print(
            f"  {args.preset}, B = {b} Å²:",
            np.round(np.quantile(spreads, [0.1, 0.25, 0.5, 0.75, 0.9]), 3),
            f"KS {stats.ks_2samp(scatters, spreads).statistic:.3f}",
        )
    band_rows = []
    for lo, hi in BANDS:
        inside = (pos_all >= lo) & (pos_all < hi)
        if inside.sum() >= 10:
            med = float(np.median(ratio_all[inside]))
            band_rows.append(
                {
                    "band": f"{lo}-{hi}",
                    "peaks": int(inside.sum()),
                    "median_log_ratio": round(med, 3),
                    "median_ratio": round(math.exp(med), 3),
                }
            )
            print(
                f"  2θ {lo:>2}-{hi:<2}°: {inside.sum():5d} peaks, measured/simulated (pattern median = 1) "
                f"{math.exp(med):.2f}"
            )
    unique_minerals = len({r["mineral"] for r in rows})
    print(f"distinct minerals among the kept pairs: {unique_minerals}")
    if args.pairs:
        with open(args.pairs, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "paired": len(cosines),
                    "kept": len(slopes),
                    "min_cosine": args.min_cosine,
                    "cosine_quantiles": np.quantile(cosines, [0.1, 0.25, 0.5, 0.75, 0.9]).round(4).tolist(),
                    "extra_b_quantiles": np.quantile(slopes, [0.1, 0.25, 0.5, 0.75, 0.9]).round(3).tolist(),
                    "preset": args.preset,
                    "preset_overrides": args.preset_overrides,
                    "scatter_quantiles": np.quantile(scatters, [0.1, 0.25, 0.5, 0.75, 0.9]).round(3).tolist(),
                    "preset_scatter_quantiles": {
                        str(b): np.quantile(v, [0.1, 0.25, 0.5, 0.75, 0.9]).round(3).tolist()
                        for b, v in preset_scatters.items()
                    },
                    "preset_extra_b_quantiles": {
                        str(b): np.quantile(found, [0.1, 0.25, 0.5, 0.75, 0.9]).round(3).tolist()
                        for b, found in preset_slopes.items()
                    },
                    "bands": band_rows,
                },
                indent=1,
            )
        )
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        axes[0].scatter(pos_all, np.exp(ratio_all), s=3, alpha=0.3)
        centres = [0.5 * (lo + hi) for lo, hi in BANDS]
        meds = [
            math.exp(float(np.median(ratio_all[(pos_all >= lo) & (pos_all < hi)])))
            if ((pos_all >= lo) & (pos_all < hi)).sum() >= 10
            else np.nan
            for lo, hi in BANDS
        ]
        axes[0].plot(centres, meds, "k-o", label="median per band")
        axes[0].set_yscale("log")
        axes[0].set_xlabel("2θ (°)")
        axes[0].set_ylabel("measured / simulated peak intensity")
        axes[0].legend()
        bins = np.linspace(-6, 6, 37)
        axes[1].hist(slopes, bins, alpha=0.6, density=True, label="rruff-dev (measured)")
        for b, found in preset_slopes.items():
            axes[1].hist(found, bins, histtype="step", density=True, label=f"{args.preset}, B = {b} Å²")
        axes[1].legend()
        axes[1].set_xlabel("extra B (Å²) per pattern")
        axes[1].set_ylabel("density")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
