"""How much harder is a measured pattern to read than a simulation of the same structure? Reads each rruff-dev
pattern and its amcsd-dev twin with a classifier.

    python scripts/read_measured_twins.py ../shared/data/rruff-dev ../shared/data/amcsd-dev \
        [--model xrdsynth-resnet-cu] [--cache /tmp/amcsd.pkl] [--min-cosine 0.75] [--seeds 3]
        [--json out.json]

rruff-dev names no minerals, so each measured pattern is paired with the amcsd-dev structure of its space
group whose simulation looks most like it (``scripts/measure_intensity_angle.py``'s pairing:
background-subtracted, broadened, square-rooted patterns compared by cosine, lattice scales 0.97–1.03). The
classifier then reads, for the same patterns:

- the measured scan, as ``scripts/evaluate_classifier.py --rruff`` does;
- the twin simulated clean (Cu Kα1, Gaussian peaks of 20–100 nm crystallites: the model card's clean
  condition);
- the twin under the whole ``laboratory-cu`` preset (the model card's "laboratory-cu (all)" condition),
  ``--seeds`` draws, averaged.

Printed for every pattern with a twin and for the close pairs (cosine ≥ ``--min-cosine``, where the twin is
most likely the measured mineral): top-1 and the crystal system of the first answer in each reading. Where the
measured scans read about as well as their twins under the preset, the preset is as hard as the measurements
and its simulated figures are a proxy for measured ones with no shortage of patterns; where the measured scans
read worse, something measured is missing from the preset.

Then the close pairs split by the strongest peak of the measured scan that its twin does not explain
(:func:`strongest_unexplained_peak`: a second phase in the sample, or a twin whose composition or cell differs
from the sample's), in bands of its height relative to the scan's strongest peak: where the measured scans
lose more than their twins under the preset, extra peaks the preset rarely shows are the cause to look at.
Validation only: nothing here is trained on.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage, signal

import xrdsynth as xs
from xrdsynth.models import load_pretrained

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_classifier import SYSTEM_OF_GROUP, evaluate_rruff, render, robustness_conditions
from measure_intensity_angle import KALPHA1, KALPHA2, measured_twins

# Bands of the strongest unexplained peak's height (share of the scan's strongest peak).
BANDS = ((0.0, 0.03), (0.03, 0.1), (0.1, 0.2), (0.2, math.inf))
# A twin's reflection explains a measured peak within this many degrees of it, plus a share of 2θ (cells of
# one mineral differ by more than a scale; peaks widen with angle).
TOLERANCE_DEG, TOLERANCE_SHARE = 0.12, 0.002
# Reflections weaker than this share of the twin's strongest are not counted as explaining anything.
FAINTEST = 0.002


def scan_peaks(intensity: np.ndarray, two_theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clear peaks of one background-subtracted (P,) scan: (k,) 2θ in degrees and heights as shares of its
    strongest point, after a Gaussian smoothing of 2 points. A peak stands at least 3 % (or five times the
    point-to-point noise) high and 2 % (four times the noise) above its surroundings, 8 points from the
    next."""
    smooth = ndimage.gaussian_filter1d(np.asarray(intensity, dtype=np.float64), 2.0)
    top = smooth.max()
    if not top > 0:
        return np.zeros(0), np.zeros(0)
    smooth = smooth / top
    noise = 1.4826 * np.median(np.abs(np.diff(smooth))) / math.sqrt(2.0)
    found, _ = signal.find_peaks(
        smooth, height=max(0.03, 5 * noise), prominence=max(0.02, 4 * noise), distance=8
    )
    return two_theta[found], smooth[found]


def strongest_unexplained_peak(
    intensity: np.ndarray,
    two_theta: np.ndarray,
    wavelength: float,
    peaks: xs.simulate.PeakList,
    scale: float = 1.0,
) -> float:
    """The height (share of the scan's strongest peak) of the strongest peak of a background-subtracted
    (P,) scan that no reflection of its twin explains, 0 where every peak is explained.

    Args:
        intensity, two_theta: the scan and its 2θ grid in degrees.
        wavelength: the scan's Kα wavelength in Å (Cu's unresolved doublet for rruff-dev).
        peaks: the twin's sticks (Cu Kα1), whose d-spacings place its Kα1 and Kα2 lines on the scan.
        scale: the pair's lattice scale (the twin's d-spacings times it).
    """
    position, height = scan_peaks(intensity, two_theta)
    if len(position) == 0:
        return 0.0
    strong = peaks.intensity >= FAINTEST * peaks.intensity.max()
    d = peaks.d[strong] * scale
    lines = []
    for line in (KALPHA1, KALPHA2):
        sine = wavelength * (line / KALPHA1) / (2 * d)
        lines.append(2 * np.degrees(np.arcsin(sine[sine < 1])))
    reflections = np.concatenate(lines)
    tolerance = TOLERANCE_DEG + TOLERANCE_SHARE * position
    nearest = np.abs(position[:, None] - reflections[None, :]).min(axis=1, initial=np.inf)
    unexplained = nearest > tolerance
    return float(height[unexplained].max()) if unexplained.any() else 0.0


def first_answers(probability: np.ndarray | torch.Tensor) -> np.ndarray:
    """(N,) the group (1..230) each row of (N, 230) probabilities puts first."""
    return np.asarray(probability).argmax(axis=1) + 1


def shares(answers: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Top-1 and crystal system of the first answer, as fractions, of (N,) answers against (N,) labels."""
    return {
        "top1": float(np.mean(answers == labels)),
        "crystal_system_first": float(np.mean(SYSTEM_OF_GROUP[answers - 1] == SYSTEM_OF_GROUP[labels - 1])),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rruff", type=Path, help="folder with rruff-dev.npz")
    parser.add_argument("amcsd", type=Path, help="amcsd-dev folder (with index.csv)")
    parser.add_argument("--model", default="xrdsynth-resnet-cu", help="shipped name or model folder")
    parser.add_argument("--cache", type=Path, help="pickle cache of the amcsd-dev crystals")
    parser.add_argument("--min-cosine", type=float, default=0.75, help="close pairs from this similarity on")
    parser.add_argument("--max-atoms", type=int, default=400)
    parser.add_argument("--seeds", type=int, default=3, help="draws of the laboratory preset, averaged")
    parser.add_argument("--precision", default="auto", choices=["auto", "float32", "bfloat16"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")

    twins = measured_twins(args.rruff, args.amcsd, args.cache, args.max_atoms)
    paired = np.array([n for n, pair in enumerate(twins.pairs) if pair is not None])
    if len(paired) == 0:
        raise SystemExit("no measured pattern has a structure of its space group")
    cosine = np.array([twins.pairs[n][2] for n in paired])
    structures = [twins.crystals[twins.pairs[n][0]] for n in paired]
    labels = twins.groups[paired].astype(np.int64)
    print(f"{len(paired)} of {len(twins.groups)} patterns have a twin; cosine quantiles 10/50/90 %:",
          np.quantile(cosine, [0.1, 0.5, 0.9]).round(3).tolist())  # fmt: skip

    classifier = load_pretrained(args.model, precision=args.precision)
    _, probability, _ = evaluate_rruff(classifier, args.rruff)
    readings = {"measured": [first_answers(probability[paired])]}
    spec = classifier.spec
    grid = (spec.two_theta_min, spec.two_theta_max, spec.num_points)
    for name, condition in (("twin clean", "clean"), ("twin laboratory-cu", "laboratory-cu (all)")):
        draws = 1 if condition == "clean" else args.seeds
        readings[name] = []
        for seed in range(draws):
            chosen = robustness_conditions(grid, seed)[condition]
            patterns = render(chosen, structures, desc=f"{name}, seed {seed}")
            with torch.no_grad():
                readings[name].append(first_answers(classifier.probabilities_on_grid(patterns)))

    results: dict = {"model": str(args.model), "min_cosine": args.min_cosine, "subsets": {}}
    close = f"cosine >= {args.min_cosine}"
    for subset, keep in (("every pair", np.ones(len(cosine), bool)), (close, cosine >= args.min_cosine)):
        row = {"patterns": int(keep.sum())}
        for name, draws in readings.items():
            each = [shares(answers[keep], labels[keep]) for answers in draws]
            row[name] = {key: float(np.mean([e[key] for e in each])) for key in each[0]}
            row[name]["top1_draws"] = [round(e["top1"], 4) for e in each]
        results["subsets"][subset] = row
        print(f"\n{subset}: {row['patterns']} patterns")
        print(f"  {'reading':<22} {'top-1':>7} {'crystal system (first)':>24}")
        for name in readings:
            top1, system = 100 * row[name]["top1"], 100 * row[name]["crystal_system_first"]
            print(f"  {name:<22} {top1:6.1f} % {system:22.1f} %")

    # The close pairs by the strongest measured peak their twin does not explain.
    sticks = xs.PowderSimulator(two_theta=(4.0, 91.0, 8701), wavelength="CuKa1")
    unexplained = np.zeros(len(paired))
    for k, n in enumerate(paired):
        if cosine[k] >= args.min_cosine:
            index, scale, _ = twins.pairs[n]
            peaks = sticks.peaks(twins.crystals[index])
            unexplained[k] = strongest_unexplained_peak(
                twins.flat[n], twins.two_theta, twins.wavelength, peaks, scale
            )
    results["by_unexplained_peak"] = []
    print(f"\n{close}, by the strongest measured peak the twin does not explain (share of the strongest):")
    print(f"  {'band':<12} {'patterns':>8}   " + "   ".join(f"{name} (top-1 / system)" for name in readings))
    for low, high in BANDS:
        keep = (cosine >= args.min_cosine) & (unexplained >= low) & (unexplained < high)
        band = {"band": [low, None if math.isinf(high) else high], "patterns": int(keep.sum())}
        cells = []
        for name, draws in readings.items():
            each = [shares(answers[keep], labels[keep]) for answers in draws] if keep.any() else []
            band[name] = {key: float(np.mean([e[key] for e in each])) for key in each[0]} if each else None
            cells.append(
                f"{100 * band[name]['top1']:5.1f} / {100 * band[name]['crystal_system_first']:5.1f} %"
                if each
                else "-"
            )
        results["by_unexplained_peak"].append(band)
        label = f"{100 * low:.0f}-{100 * high:.0f} %" if math.isfinite(high) else f">= {100 * low:.0f} %"
        print(f"  {label:<12} {band['patterns']:8d}   " + "   ".join(f"{c:>24}" for c in cells))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
