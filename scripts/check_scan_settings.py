"""How a classifier reads scans of other settings: coarser steps, and a variable (automatic) divergence slit.

    python scripts/check_scan_settings.py ../shared/data/amcsd-dev [--model NAME_OR_FOLDER] [--cache FILE]
        [--steps 0.01,0.02,0.05,0.1] [--counts 1000] [--limit N]

The amcsd-dev structures (one per mineral, as the model card counts them) are simulated as Cu Kα1 laboratory
scans over 5-90°: Gaussian peaks of 20-100 nm crystallites, each point the mean of the profile over its step
(as a detector counts it), ``--counts`` counts at the strongest peak over a flat 3 % background, Poisson noise
(seeded), and read by ``predict_proba``:

- for each step of ``--steps`` (degrees), with and without the counting noise;
- at the first step, also as a variable divergence slit measures it (the irradiated length kept constant, so
  the intensity, background included, grows as sin θ relative to a fixed slit), read as it is and after
  dividing by sin θ (the conversion to fixed-slit intensities that instrument software offers).

Prints top-1 for each.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

import xrdsynth as xs
from xrdsynth.models import load_pretrained

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_classifier import add_measurement_check_arguments, minerals

BACKGROUND = 0.03  # flat background, as a share of the strongest peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_measurement_check_arguments(parser)
    parser.add_argument("--steps", default="0.01,0.02,0.05,0.1", help="scan steps (degrees), comma-separated")
    args = parser.parse_args(argv)

    classifier = load_pretrained(args.model)
    crystals, labels = minerals(args.amcsd, args.cache, args.limit)

    def top1(two_theta: np.ndarray, intensity: np.ndarray) -> str:
        probability = classifier.predict_proba(two_theta, intensity, wavelength="CuKa1")
        return f"{100 * float((probability.argmax(axis=1) + 1 == labels).mean()):.1f} %"

    def noisy(expected: torch.Tensor) -> np.ndarray:
        generator = torch.Generator().manual_seed(args.seed)
        return torch.poisson(args.counts * expected, generator=generator).numpy()

    print(f"{args.model}: {len(crystals)} minerals (one per mineral), Cu Kα1 5-90°, {args.counts:g} counts")
    print("step | with counting noise | without")
    for k, step in enumerate(float(s) for s in args.steps.split(",")):
        points = round(85.0 / step) + 1
        simulator = xs.PowderSimulator(
            (5.0, 90.0, points), crystallite_size_nm=(20.0, 100.0), seed=args.seed, step_average=True
        )
        with torch.no_grad():
            clean = torch.cat([simulator(crystals[i : i + 128]) for i in range(0, len(crystals), 128)])
        two_theta = np.linspace(5.0, 90.0, points)
        print(f"{step:g}° | {top1(two_theta, noisy(clean + BACKGROUND))} | {top1(two_theta, clean.numpy())}")
        if k == 0:
            slit = torch.sin(torch.deg2rad(torch.as_tensor(two_theta, dtype=clean.dtype)) / 2)
            slit = slit / slit.max()
            variable = noisy((clean + BACKGROUND) * slit)
            print(
                f"variable slit at {step:g}°: as measured {top1(two_theta, variable)}, divided by sin θ "
                f"{top1(two_theta, variable / slit.numpy())}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
