"""How much of a mineral's identity survives the laboratory effects, with and without peak re-rendering
(issue 13; docs/training.md).

    python scripts/try_peak_rerendering.py --amcsd ../shared/data/amcsd-dev [--cache /tmp/amcsd.pkl]
        [--minerals 500] [--sizes 30 50] [--model NAME_OR_FOLDER]

A model-free measure of what a network can carry over from simulated to laboratory patterns: the minerals
(one structure per mineral) are simulated clean and under each laboratory condition of
``evaluate_classifier.robustness_conditions``, both are turned into what a network would read (background
removed, √), and each laboratory pattern is matched to the most similar clean pattern (cosine similarity).
Printed: the share matched to its own mineral, for the pattern itself and for its peaks re-drawn
(:func:`xrdsynth.transforms.rerender_peaks`, Kα2 stripped) at each ``--sizes``; with ``--model``, also that
model's top-1 on the clean and laboratory patterns with and without re-drawing (a network trained on the
patterns themselves does not read re-drawn ones: it has to be trained on them).
"""

from __future__ import annotations

import argparse
import copy
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
)

from xrdsynth.models import InputSpec, load_pretrained, preprocess
from xrdsynth.simulate import WAVELENGTHS

CONDITIONS = ("+ KAlphaDoublet", "+ InstrumentFunction", "+ Background", "laboratory-cu (all)")


def matched(clean: torch.Tensor, other: torch.Tensor) -> float:
    """Share of the rows of ``other`` whose most similar row of ``clean`` (cosine) is their own."""
    a = clean / clean.norm(dim=1, keepdim=True).clamp_min(1e-12)
    b = other / other.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return float(((b @ a.T).argmax(dim=1) == torch.arange(len(a))).float().mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--amcsd", type=Path, required=True, help="amcsd-dev folder")
    parser.add_argument("--cache", type=Path, default=None, help="pickle of the read amcsd-dev structures")
    parser.add_argument("--minerals", type=int, default=500, help="minerals (default 500)")
    parser.add_argument("--sizes", type=float, nargs="+", default=[30.0, 50.0], help="re-drawn sizes, nm")
    parser.add_argument("--model", default=None, help="also score this shipped name or saved folder")
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulated conditions")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    plain = InputSpec(5.0, 90.0, 4251, sqrt_scale=True, background_window_deg=3.0)
    crystals, groups, ids = amcsd_crystals(args.amcsd, args.cache)
    keep = one_per_mineral(args.amcsd, ids)[: args.minerals]
    chosen, truth = [crystals[i] for i in keep], groups[keep]
    conditions = robustness_conditions(plain.grid, args.seed)
    patterns = {name: render(conditions[name], chosen) for name in ("clean", *CONDITIONS)}
    specs = {"the pattern itself": plain}
    for size in args.sizes:
        specs[f"re-drawn, {size:g} nm"] = InputSpec(**{**plain.to_dict(), "rerender_size_nm": size})
    print(f"{len(chosen)} minerals: share matched to its own clean pattern (cosine, what the network reads)")
    print(f"  {'input':<24}" + "".join(f"{name:>22}" for name in CONDITIONS))
    for label, spec in specs.items():
        clean = preprocess(patterns["clean"], spec)
        row = [matched(clean, preprocess(patterns[name], spec)) for name in CONDITIONS]
        print(f"  {label:<24}" + "".join(f"{value:>22.1%}" for value in row), flush=True)
    if args.model:
        classifier = load_pretrained(args.model)
        if classifier.spec.grid != plain.grid or classifier.spec.wavelength != WAVELENGTHS["CuKa1"]:
            raise SystemExit(f"--model must read {plain.grid} at Cu Kα1, got {classifier.spec}")
        # The same network reading the re-drawn peaks (its preprocessing otherwise unchanged).
        redrawn = copy.deepcopy(classifier)
        redrawn.spec = InputSpec(**{**classifier.spec.to_dict(), "rerender_size_nm": 50.0})
        for name in ("clean", "laboratory-cu (all)"):
            own = np.mean(answers_on_grid(classifier, patterns[name]) == truth)
            other = np.mean(answers_on_grid(redrawn, patterns[name]) == truth)
            print(f"{args.model} on {name}: top-1 {own:.1%}; reading the peaks re-drawn at 50 nm {other:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
