"""Does removing the Kα2 line from the input help the shipped classifier? (issue 13; docs/training.md)

    python scripts/try_kalpha2_stripping.py --rruff ../shared/data/rruff-dev [--amcsd ../shared/data/amcsd-dev
        --minerals 600 --cache /tmp/amcsd.pkl] [--model NAME_OR_FOLDER] [--ratios 0.3 0.4 0.5]

Rachinger's correction on the model's grid: a Cu Kα pattern is I(2θ) = I₁(2θ) + r·I₁(2θ′), 2θ′ the Kα1 angle
of the d that Kα2 puts at 2θ (sin θ′ = λ₁/λ₂ sin θ), so I₁ = I − r·I₁(2θ′), solved by fixed-point iteration
(the error halves at every step for r = 0.5) and clipped at 0. Prints top-1 on rruff-dev (measured) with and
without stripping at each ratio and, with ``--amcsd``, on that many minerals (one structure per mineral)
simulated clean and with the laboratory preset's Kα doublet alone, stripped at r = 0.5 or not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from evaluate_classifier import (
    amcsd_crystals,
    answers_on_grid,
    one_per_mineral,
    render,
    robustness_conditions,
    rruff_patterns,
)

from xrdsynth.models import load_pretrained, resample_pattern
from xrdsynth.simulate import WAVELENGTHS
from xrdsynth.transforms import strip_kalpha2


def strip(patterns: torch.Tensor, two_theta: np.ndarray, ratio: float) -> torch.Tensor:
    """(B, P) Cu Kα patterns on the grid ``two_theta`` (degrees) -> their Kα1 part (:func:`strip_kalpha2`)."""
    grid = torch.as_tensor(two_theta, dtype=patterns.dtype)
    return strip_kalpha2(patterns, grid, WAVELENGTHS["CuKa1"], WAVELENGTHS["CuKa2"], ratio)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rruff", type=Path, required=True, help="rruff-dev folder (with rruff-dev.npz)")
    parser.add_argument("--amcsd", type=Path, default=None, help="amcsd-dev folder")
    parser.add_argument("--minerals", type=int, default=600, help="amcsd-dev minerals (default 600)")
    parser.add_argument("--cache", type=Path, default=None, help="pickle of the read amcsd-dev structures")
    parser.add_argument("--model", default=None, help="shipped name or saved folder (default: the default)")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.3, 0.4, 0.5], help="Kα2/Kα1 ratios")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    classifier = load_pretrained(args.model) if args.model else load_pretrained()
    spec = classifier.spec
    two_theta, intensity, labels = rruff_patterns(args.rruff)
    measured = resample_pattern(two_theta, intensity, WAVELENGTHS["CuKa1"], spec)
    grid = torch.as_tensor(measured, dtype=torch.float32)
    print(f"rruff-dev top-1 without stripping: {np.mean(answers_on_grid(classifier, grid) == labels):.1%}")
    for ratio in args.ratios:
        answers = answers_on_grid(classifier, strip(grid, spec.two_theta, ratio))
        print(f"rruff-dev top-1 stripped at r = {ratio}: {np.mean(answers == labels):.1%}")
    if args.amcsd is not None:
        crystals, groups, ids = amcsd_crystals(args.amcsd, args.cache)
        keep = one_per_mineral(args.amcsd, ids)[: args.minerals]
        chosen, truth = [crystals[i] for i in keep], groups[keep]
        conditions = robustness_conditions(spec.grid, 20261124)
        for name in ("clean", "+ KAlphaDoublet"):
            patterns = render(conditions[name], chosen)
            plain = np.mean(answers_on_grid(classifier, patterns) == truth)
            stripped_patterns = strip(patterns, spec.two_theta, 0.5)
            stripped = np.mean(answers_on_grid(classifier, stripped_patterns) == truth)
            print(f"{len(chosen)} minerals, {name}: top-1 {plain:.1%}, stripped at r = 0.5 {stripped:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
