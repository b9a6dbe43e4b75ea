"""Classifier inference speed on the CPU: patterns per second of the shipped classifier.

    OPENBLAS_NUM_THREADS=1 python benchmarks/inference.py [--model NAME_OR_FOLDER] [--threads 2] [--rounds 5]

Measures, alternated over ``--rounds`` rounds in one run:

- ``on grid``: ``Classifier.probabilities_on_grid`` on patterns already on the model's grid (batches of 256);
- ``measured``: ``Classifier.predict_proba`` on patterns of a typical laboratory scan (5–90° in 0.01° steps,
  8501 points, Cu Kα1), i.e. with the conversion through d-spacing and resampling included;
- both as ``load_pretrained`` gives the classifier (``precision="auto"``: bfloat16 on CPUs with bfloat16
  instructions) and with ``precision="float32"``;
- the reference: the CNN of Park et al. (2017), the published baseline, built for the same grid (random
  weights; only its speed matters) in the same run.

Prints patterns/s of each, the ratio of the shipped model to the baseline, and whether the issue's target of
1,000 patterns/s on 2 CPU cores is met; and the network's work per pattern (FLOPs of its convolutions and
matrix products, counted by ``torch.utils.flop_counter.FlopCounterMode``) with the arithmetic rate that the
float32 rate on the grid implies (a lower bound for the network's, since the preprocessing is in the time):
set against the CPU's peak, it says whether a faster classifier on that CPU needs fewer FLOPs or better
kernels.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import torch

from xrdsynth.models import build_model, load_pretrained, preprocess

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu import count_flops  # the GPU check's FLOP count, so that both report the same quantity


def flops_per_pattern(model: torch.nn.Module, num_points: int, batch: int = 8) -> float:
    """FLOPs of one forward pass of ``model`` per (num_points,) pattern (convolutions and matrix products:
    what FlopCounterMode counts; normalisations and activations are a few per cent more)."""
    patterns = torch.rand(batch, num_points)
    with torch.no_grad():
        return count_flops(lambda: model(patterns), batch)["flops_per_pattern"]


def rate(fn, n: int) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--patterns", type=int, default=1024)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clf = load_pretrained(args.model)
    clf32 = load_pretrained(args.model, precision="float32")
    spec = clf.spec
    rng = np.random.default_rng(0)
    on_grid = torch.rand(args.patterns, spec.num_points)
    measured_grid = np.linspace(5.0, 90.0, 8501)
    measured = rng.random((args.patterns, measured_grid.size))
    park = build_model("park2017", in_points=spec.num_points).eval()

    def run_park() -> None:
        with torch.no_grad():
            for i in range(0, args.patterns, 256):
                park(preprocess(on_grid[i : i + 256], spec))

    runs: dict[str, list[float]] = {
        "on grid": [],
        "measured": [],
        "on grid, float32": [],
        "measured, float32": [],
        "park2017 (reference)": [],
    }
    clf.probabilities_on_grid(on_grid[:256])  # warm-up
    clf32.probabilities_on_grid(on_grid[:256])
    run_park()
    for _ in range(args.rounds):
        for suffix, c in (("", clf), (", float32", clf32)):
            runs["on grid" + suffix].append(rate(lambda c=c: c.probabilities_on_grid(on_grid), args.patterns))
            runs["measured" + suffix].append(
                rate(lambda c=c: c.predict_proba(measured_grid, measured, wavelength=1.540593), args.patterns)
            )
        runs["park2017 (reference)"].append(rate(run_park, args.patterns))
    median = {k: statistics.median(v) for k, v in runs.items()}
    print(f"model: {clf.architecture} {clf.architecture_kwargs}, {spec.num_points} points; "
          f"{args.threads} threads, {args.rounds} rounds of {args.patterns} patterns; "
          f"default precision here: {clf.inference_dtype}")  # fmt: skip
    for name, value in median.items():
        print(f"  {name:<22} {value:10.0f} patterns/s")
    print(f"  ratio on grid / park2017: {median['on grid'] / median['park2017 (reference)']:.2f}x")
    print(f"  ratio measured, default / float32: {median['measured'] / median['measured, float32']:.2f}x")
    flops = flops_per_pattern(clf32.model.eval(), spec.num_points)
    print(f"  network: {flops / 1e6:.1f} MFLOP per pattern; on grid, float32: "
          f"{flops * median['on grid, float32'] / 1e9:.0f} GFLOP/s")  # fmt: skip
    target = 1000.0
    verdict = "met" if median["measured"] >= target else "NOT met"
    print(f"  target >= {target:.0f} patterns/s from measured files (default precision): {verdict}")


if __name__ == "__main__":
    main()
