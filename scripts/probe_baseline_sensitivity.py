"""How much a classifier's answers depend on faint content at the baseline, on the very same patterns.

    python scripts/probe_baseline_sensitivity.py ../shared/data/amcsd-dev [--cache /tmp/amcsd.pkl]
        [--model xrdsynth-resnet-cu runs/NAME/model ...]

One structure per mineral of the folder, simulated once as in the robustness table's clean condition
(Gaussian peaks, Scherrer 20-100 nm, Cu Kα1, on the model's grid), then each condition adds one thing to
those same patterns (scaled to 1 at their strongest point): a constant floor, the smooth curved background
of the laboratory preset, white noise of 0.1 % and 1 % of the strongest peak, Poisson counting noise at
30,000 and 1,000 counts at the strongest point. Every other property of a pattern (peak widths, which
crystal) stays, so a change of top-1 is the condition's own effect, not a new draw of crystallite sizes as
between the conditions of ``evaluate_classifier.py --robustness``.

For each model: top-1 (the group it puts first, with its stored calibration) and the share of answers
equal to its answer on the clean pattern. A constant floor is removed exactly by the classifier's
background removal and must change nothing; a smooth background leaves a residual below 1 % of the
strongest peak.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from xrdsynth.models import load_pretrained
from xrdsynth.transforms import Background, GaussianNoise, PatternTransform, PoissonNoise

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_classifier import amcsd_crystals, answers_on_grid, one_per_mineral, simulate_on_grid

#: Each condition: one effect, drawn with its own seeded generator, on the clean patterns.
CONDITIONS: dict[str, PatternTransform | None] = {
    "clean": None,
    "+ constant floor, 10 % of the strongest peak": Background(level=0.0, floor=0.1),
    "+ smooth background (preset's curve, level 0-0.5)": Background(level=(0.0, 0.5), floor=0.0),
    "+ white noise, σ 0.1 % of the strongest peak": GaussianNoise(sigma=0.001),
    "+ white noise, σ 1 %": GaussianNoise(sigma=0.01),
    "+ Poisson, 30,000 counts at the strongest peak": PoissonNoise(counts=3e4),
    "+ Poisson, 1,000 counts": PoissonNoise(counts=1e3),
}


def conditions(clean: torch.Tensor, two_theta: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """The patterns of every condition: ``clean`` (N, P) scaled to 1 at its maximum, plus each effect."""
    peak = clean.amax(dim=1, keepdim=True)
    base = clean / torch.where(peak > 0, peak, torch.ones_like(peak))
    out = {}
    for k, (name, effect) in enumerate(CONDITIONS.items()):
        if effect is None:
            out[name] = base
            continue
        generator = torch.Generator().manual_seed(seed + k)
        parameters = effect.draw(base.shape[0], generator, base.dtype)
        out[name] = effect.apply(base.clone(), two_theta, parameters, generator)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("amcsd", type=Path, help="amcsd-dev folder (index.csv and CIFs)")
    parser.add_argument("--model", nargs="+", default=["xrdsynth-resnet-cu"], help="model folders or names")
    parser.add_argument("--cache", type=Path, default=None, help="pickle cache of the amcsd-dev crystals")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    crystals, labels, ids = amcsd_crystals(args.amcsd, args.cache)
    keep = one_per_mineral(args.amcsd, ids)
    crystals, labels = [crystals[i] for i in keep], labels[keep]
    classifiers = {name: load_pretrained(name) for name in args.model}
    spec = classifiers[args.model[0]].spec
    clean = simulate_on_grid(classifiers[args.model[0]], crystals, args.seed)
    two_theta = torch.as_tensor(spec.two_theta, dtype=clean.dtype)
    patterns = conditions(clean, two_theta, args.seed)
    print(f"{len(crystals)} structures, one per mineral; top-1 (answers equal to the clean ones)")
    print("| condition | " + " | ".join(args.model) + " |")
    print("|" + " --- |" * (1 + len(args.model)))
    answers = {}
    for name, classifier in classifiers.items():
        grid = classifier.spec
        if (grid.two_theta_min, grid.two_theta_max, grid.num_points) != (
            spec.two_theta_min, spec.two_theta_max, spec.num_points
        ):
            parser.error(f"{name} reads another grid than {args.model[0]}")
        answers[name] = {c: answers_on_grid(classifier, p) for c, p in patterns.items()}
    for condition in patterns:
        cells = []
        for name in args.model:
            top, ref = answers[name][condition], answers[name]["clean"]
            cells.append(f"{np.mean(top == labels):.1%} ({np.mean(top == ref):.0%})")
        print(f"| {condition} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
