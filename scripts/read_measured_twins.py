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
read worse, something measured is missing from the preset. Validation only: nothing here is trained on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from xrdsynth.models import load_pretrained

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_classifier import SYSTEM_OF_GROUP, evaluate_rruff, render, robustness_conditions
from measure_intensity_angle import measured_twins


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
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
