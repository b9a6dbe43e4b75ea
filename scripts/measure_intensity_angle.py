"""Do measured peak intensities fall off with angle as simulated ones do? Pairs RRUFF patterns with amcsd-dev
structures and compares their relative peak intensities as a function of 2θ.

    python scripts/measure_intensity_angle.py ../shared/data/rruff-dev ../shared/data/amcsd-dev \
        [--cache /tmp/amcsd.pkl] [--min-cosine 0.8] [--json out.json] [--plot docs/_static/intensity.png]

rruff-dev carries no mineral names, so each measured pattern is paired with the amcsd-dev structure of its
space group whose simulated pattern matches it best: both are background-subtracted, broadened to a common
width, square-rooted and compared by cosine similarity, the measured one resampled for lattice scales of
0.97–1.03 (the same mineral's cells differ with composition and temperature). Pairs above ``--min-cosine``
are kept.

For each kept pair, the simulated sticks (Cu Kα1, the structure's cell scaled by the pair's factor, B = 0 as
amcsd-dev's structures are read) are grouped into peaks that stand clear of their neighbours; the measured
intensity integrated over the same window (Kα2 included, background subtracted) is compared with the
simulated one. Per pattern, ``ln(measured / simulated)`` of its peaks is fitted as ``c - 2 B s²`` (s = sin θ
/ λ): B is the extra isotropic displacement parameter (Å²) that would explain how the measured intensities
fall off with angle (thermal motion and static disorder, and anything else that weakens high angles: a
thin or porous sample, peaks broader than the window), and the scatter about the fit measures the
intensity errors of texture, particle statistics and counting. The same is measured on the ``--preset``'s
patterns of the kept structures with every atom at each B of ``--preset-b`` (kept by the same similarity
rule), so that measured and simulated go through one procedure. Printed: quantiles of both, their
two-sample Kolmogorov–Smirnov distances, and the median measured / simulated ratio per 2θ band (each
pattern's median = 1). Validation only: nothing here is trained on.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import NamedTuple

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


QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def quantiles(values: np.ndarray) -> list[float]:
    return np.quantile(values, QUANTILES).round(3).tolist() if len(values) else []


def pair_patterns(
    measured_flat: np.ndarray,
    groups: np.ndarray,
    two_theta: np.ndarray,
    wavelength: float,
    simulated: np.ndarray,
    candidates_of: np.ndarray,
    chosen: list[int],
) -> list[tuple[int, float, float] | None]:
    """For each measured pattern, (structure index, lattice scale, cosine) of the best-matching simulated
    pattern (``simulated`` (K, P) normalised, rows for the structures ``chosen``) of its space group
    (``candidates_of`` (K,) their groups), or None where no structure has its group."""
    step = float(two_theta[1] - two_theta[0])
    pairs: list[tuple[int, float, float] | None] = []
    for n in tqdm(range(len(measured_flat)), desc="pair patterns", unit="pattern"):
        candidates = np.flatnonzero(candidates_of == groups[n])
        if len(candidates) == 0:
            pairs.append(None)
            continue
        views = normalised(scaled_measured(measured_flat[n], two_theta, wavelength), step, MATCH_FWHM)
        cosine = simulated[candidates] @ views.T  # (candidates, scales)
        best = np.unravel_index(np.argmax(cosine), cosine.shape)
        pairs.append((chosen[candidates[best[0]]], float(SCALES[best[1]]), float(cosine[best])))
    return pairs


class Twins(NamedTuple):
    """rruff-dev's patterns, each paired with the amcsd-dev structure that looks most like it (a named tuple,
    not a dataclass, so that the scripts' tests can load this file without registering it as a module).

    Attributes:
        two_theta: (P,) the scans' 2θ grid in degrees; measured: (N, P) their intensities; flat: (N, P) the
            same less their background (:func:`background`), clipped at 0; groups: (N,) their space groups;
            wavelength: Å (Cu Kα, unresolved).
        crystals, labels, ids: every amcsd-dev structure read, its space group and AMCSD id.
        pairs: per measured pattern, (index into ``crystals``, lattice scale, cosine) of its twin, or None
            where no structure has its group.
        simulated: (K, P) the broadened, normalised simulations compared; row_of: crystal index -> row.
    """

    two_theta: np.ndarray
    measured: np.ndarray
    flat: np.ndarray
    groups: np.ndarray
    wavelength: float
    crystals: list
    labels: np.ndarray
    ids: list[str]
    pairs: list[tuple[int, float, float] | None]
    simulated: np.ndarray
    row_of: dict[int, int]


def measured_twins(rruff: Path, amcsd: Path, cache: Path | None, max_atoms: int = 400) -> Twins:
    """Pair every pattern of ``rruff`` (the rruff-dev folder) with its twin among the structures of ``amcsd``
    (of its space group, at most ``max_atoms`` atoms per cell), as :func:`pair_patterns` does."""
    data = np.load(rruff / "rruff-dev.npz")
    two_theta, measured, groups = data["two_theta"], data["intensity"].astype(np.float64), data["space_group"]
    wavelength = float(data["wavelength"])
    step = float(two_theta[1] - two_theta[0])
    measured_flat = np.clip(measured - background(measured, step), 0, None)
    crystals, labels, ids = amcsd_crystals(amcsd, cache)
    wanted = set(groups.tolist())
    chosen = [i for i, c in enumerate(crystals) if labels[i] in wanted and c.num_atoms <= max_atoms]
    sim = xs.PowderSimulator(
        two_theta=two_theta, wavelength="CuKa1", crystallite_size_nm=None, instrument_fwhm=0.1, seed=0
    )
    with torch.no_grad():
        rendered = [
            sim([crystals[i] for i in chosen[start : start + 128]]).double().numpy()
            for start in tqdm(range(0, len(chosen), 128), desc="simulate structures", unit="batch")
        ]
    simulated = normalised(np.concatenate(rendered), step, math.sqrt(MATCH_FWHM**2 - 0.1**2))
    pairs = pair_patterns(measured_flat, groups, two_theta, wavelength, simulated, labels[chosen], chosen)
    return Twins(
        two_theta, measured, measured_flat, groups, wavelength, crystals, labels, ids, pairs, simulated,
        {index: k for k, index in enumerate(chosen)},
    )  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rruff", type=Path, help="folder with rruff-dev.npz")
    parser.add_argument("amcsd", type=Path, help="amcsd-dev folder (with index.csv)")
    parser.add_argument("--cache", type=Path, help="pickle cache of the amcsd-dev crystals")
    parser.add_argument("--min-cosine", type=float, default=0.8, help="pairs kept from this similarity on")
    parser.add_argument("--max-atoms", type=int, default=400)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--pairs", type=Path, help="CSV of the pairs kept")
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
    args = parser.parse_args(argv)

    twins = measured_twins(args.rruff, args.amcsd, args.cache, args.max_atoms)
    two_theta, groups, wavelength, pairs = twins.two_theta, twins.groups, twins.wavelength, twins.pairs
    crystals, ids, simulated, row_of = twins.crystals, twins.ids, twins.simulated, twins.row_of
    measured, measured_flat = twins.measured, twins.flat
    step = float(two_theta[1] - two_theta[0])
    with open(args.amcsd / "index.csv", encoding="utf-8") as handle:
        names = {r["amcsd_id"]: r["mineral"] for r in csv.DictReader(handle)}
    cosines = np.array([p[2] for p in pairs if p is not None])
    print(f"paired {len(cosines)} of {len(measured)} patterns (the rest: no structure of their group)")
    print("best cosine, quantiles 10/25/50/75/90 %:", quantiles(cosines))

    # Sticks on a range a little wider than the scan, so that peaks at its ends are found.
    peak_sim = xs.PowderSimulator(two_theta=(4.0, 91.0, 8701), wavelength="CuKa1")
    extra_b, scatter, pooled_position, pooled_ratio, rows = [], [], [], [], []
    for n, pair in enumerate(tqdm(pairs, desc="compare peaks", unit="pair")):
        if pair is None or pair[2] < args.min_cosine:
            continue
        index, scale, cosine = pair
        peaks = peak_sim.peaks(crystals[index])
        position, ratio = peak_ratios(peaks, scale, measured_flat[n], two_theta, wavelength, args.half_width)
        if len(position) < 5 or np.ptp(position) < 20:
            continue
        b, spread = displacement_fit(position, ratio, wavelength)
        extra_b.append(b)
        scatter.append(spread)
        pooled_position.append(position)
        pooled_ratio.append(ratio - np.median(ratio))
        rows.append(
            {"pattern": n, "amcsd_id": ids[index], "mineral": names.get(ids[index], "?"),
             "space_group": int(groups[n]), "scale": round(scale, 4), "cosine": round(cosine, 4),
             "peaks": len(position), "extra_b": round(b, 3), "scatter": round(spread, 4)}
        )  # fmt: skip
    extra_b, scatter = np.array(extra_b), np.array(scatter)
    if len(rows) == 0:
        raise SystemExit(f"no pair reached cosine {args.min_cosine} with 5 isolated peaks over 20°")
    position_all, ratio_all = np.concatenate(pooled_position), np.concatenate(pooled_ratio)
    print(f"pairs with cosine >= {args.min_cosine} and >= 5 isolated peaks over >= 20°: {len(rows)}")
    print(f"  distinct minerals among them: {len({r['mineral'] for r in rows})}")
    print("extra B (Å²) of measured over simulated, quantiles 10/25/50/75/90 %:", quantiles(extra_b))
    print("scatter of the peaks about each pattern's fit (median |ln residual|):", quantiles(scatter))

    # The same measurement on the preset's patterns of the kept structures, every atom's B set to each of
    # --preset-b: what texture, widths, noise and the rest of the preset give, and the B at which they meet
    # the measured patterns. Kept by the same rule as the measured pairs (similarity to the structure's
    # plain simulation), or heavily textured draws would count where measured ones could not.
    augmented = xs.transforms.preset(
        args.preset, two_theta=two_theta, seed=args.seed, overrides=args.preset_overrides
    )
    kept = [pairs[r["pattern"]][0] for r in rows]
    preset_rows = {}
    for b in args.preset_b:
        structures = [dataclasses.replace(crystals[i], b_iso=np.full(crystals[i].num_atoms, b)) for i in kept]
        with torch.no_grad():
            patterns = torch.cat([augmented(structures[k : k + 32]) for k in range(0, len(kept), 32)])
        patterns = patterns.double().numpy() * 1000.0
        flat = np.clip(patterns - background(patterns, step), 0, None)
        found, spreads = [], []
        for index, pattern in zip(kept, flat, strict=True):
            views = normalised(scaled_measured(pattern, two_theta, KALPHA1), step, MATCH_FWHM)
            if (views @ simulated[row_of[index]]).max() < args.min_cosine:
                continue
            peaks = peak_sim.peaks(crystals[index])
            position, ratio = peak_ratios(peaks, 1.0, pattern, two_theta, KALPHA1, args.half_width)
            if len(position) >= 5 and np.ptp(position) >= 20:
                fitted_b, spread = displacement_fit(position, ratio, KALPHA1)
                found.append(fitted_b)
                spreads.append(spread)
        found, spreads = np.array(found), np.array(spreads)
        preset_rows[str(b)] = {
            "patterns": len(found),
            "extra_b_quantiles": quantiles(found),
            "scatter_quantiles": quantiles(spreads),
            "ks_extra_b": round(float(stats.ks_2samp(extra_b, found).statistic), 3) if len(found) else None,
            "ks_scatter": round(float(stats.ks_2samp(scatter, spreads).statistic), 3) if len(found) else None,
        }
        print(
            f"{args.preset}, every B = {b} Å², {len(found)} patterns kept: extra B {quantiles(found)} "
            f"(KS {preset_rows[str(b)]['ks_extra_b']}), scatter {quantiles(spreads)} "
            f"(KS {preset_rows[str(b)]['ks_scatter']})"
        )
        preset_rows[str(b)]["values"] = found

    bands = []
    for low, high in BANDS:
        inside = (position_all >= low) & (position_all < high)
        if inside.sum() >= 10:
            median = float(np.median(ratio_all[inside]))
            bands.append(
                {
                    "band": f"{low}-{high}",
                    "peaks": int(inside.sum()),
                    "median_ratio": round(math.exp(median), 3),
                }
            )
            print(
                f"  2θ {low:>2}-{high:<2}°: {inside.sum():5d} peaks, measured / simulated (each pattern's "
                f"median = 1) {math.exp(median):.2f}"
            )
    results = {
        "paired": len(cosines),
        "kept": len(rows),
        "min_cosine": args.min_cosine,
        "cosine_quantiles": quantiles(cosines),
        "extra_b_quantiles": quantiles(extra_b),
        "scatter_quantiles": quantiles(scatter),
        "preset": args.preset,
        "preset_overrides": args.preset_overrides,
        "preset_b": {b: {k: v for k, v in row.items() if k != "values"} for b, row in preset_rows.items()},
        "bands": bands,
        "pairs": rows,
    }
    if args.pairs:
        with open(args.pairs, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in results.items() if k != "pairs"}, indent=1) + "\n")
    if args.plot:
        plot(args.plot, position_all, ratio_all, extra_b, preset_rows, args.preset)
    return results


def plot(
    path: Path, position: np.ndarray, ratio: np.ndarray, extra_b: np.ndarray, preset_rows, preset
) -> None:
    """Left: every isolated peak's measured / simulated intensity against 2θ (each pattern's median = 1),
    with the median per band; right: the extra B per pattern, measured and preset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].scatter(position, np.exp(ratio), s=3, alpha=0.3, label="peaks of rruff-dev")
    centres, medians = [], []
    for low, high in BANDS:
        inside = (position >= low) & (position < high)
        if inside.sum() >= 10:
            centres.append(0.5 * (low + high))
            medians.append(math.exp(float(np.median(ratio[inside]))))
    axes[0].plot(centres, medians, "k-o", label="median per band")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("2θ (°)")
    axes[0].set_ylabel("measured / simulated peak intensity")
    axes[0].legend()
    bins = np.linspace(-6, 6, 37)
    axes[1].hist(extra_b, bins, alpha=0.6, density=True, label="rruff-dev (measured)")
    for b, row in preset_rows.items():
        axes[1].hist(row["values"], bins, histtype="step", density=True, label=f"{preset}, B = {b} Å²")
    axes[1].legend(fontsize=8)
    axes[1].set_xlabel("extra B (Å²) per pattern, against B = 0")
    axes[1].set_ylabel("density")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
