"""How a classifier reads measurements made with other X-ray tubes: each tube's Kα1 alone and its Kα doublet.

    python scripts/check_other_tubes.py ../shared/data/amcsd-dev [--model NAME_OR_FOLDER] [--cache FILE]
        [--tubes Cu,Cr,Fe,Co,Mo,Ag] [--counts 1000] [--kbeta RATIO] [--noise-free] [--limit N]

The amcsd-dev structures (one per mineral, as the model card counts them) are simulated as a laboratory
measurement with each tube: Gaussian peaks of 20-100 nm crystallites, on 8501 points over the tube's 2θ range
that covers the d-spacings of the model's grid (Cu 5-90° for the shipped model), ``--counts`` counts at the
strongest peak over a flat 3 % background, Poisson noise (seeded; ``--noise-free``: neither), with
``--kbeta`` a Kβ residue of the tube at that ratio to Kα1 (what its filter lets through). Each is read by
``predict_proba`` with the tube's Kα1 wavelength given as a number, as a user with an array would:

- ``Kα1``: the Kα1 line alone (a monochromator);
- ``Kα1 + Kα2``: the doublet (ratio 0.5), as ``predict_proba`` reads it (it looks for a Kα2 line that lies far
  from Kα1, Mo's and Ag's, and strips it where found);
- ``as they are``: the doublet converted to the model's grid and read by ``probabilities_on_grid`` with
  none of its tube's lines stripped (what ``predict_proba`` did before it looked for them; the model still
  strips its own tube's Kβ line where its card says so);
- ``Kα2 found``: the share of the doublet patterns in which :func:`xrdsynth.transforms.kalpha2_ratio` finds
  the line on the model's grid, and of the Kα1 patterns in which it finds one that is not there;
- with ``--always-strip``, also both stripped of the tube's Kα2 line on the model's grid whether it is found
  or not (:func:`xrdsynth.transforms.strip_kalpha2`, ratio 0.5): what stripping costs a close doublet, and
  what stripping a line that is not there costs.

Prints top-1 per tube and condition, and the relative separation of each tube's doublet in units of Cu's.
Takes a few minutes on 2 CPU cores for the whole folder.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

import xrdsynth as xs
from xrdsynth.models import load_pretrained, resample_pattern
from xrdsynth.simulate import WAVELENGTHS
from xrdsynth.transforms import AugmentedSimulator, KBetaResidue, kalpha2_ratio, strip_kalpha2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_classifier import add_measurement_check_arguments, minerals

BACKGROUND = 0.03  # flat background, as a share of the strongest peak


def tube_range(kalpha1: float, model_wavelength: float, low: float, high: float) -> tuple[float, float]:
    """The 2θ range (degrees) at ``kalpha1`` Å of the d-spacings that ``low``-``high`` degrees cover at the
    model's wavelength (capped at 170°)."""

    def angle(two_theta: float) -> float:
        sine = kalpha1 / model_wavelength * math.sin(math.radians(two_theta / 2))
        return 2 * math.degrees(math.asin(min(sine, math.sin(math.radians(85.0)))))

    return angle(low), angle(high)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_measurement_check_arguments(parser)
    parser.add_argument("--tubes", default="Cu,Cr,Fe,Co,Mo,Ag", help="anodes, comma-separated")
    parser.add_argument("--kbeta", type=float, default=0.0, help="Kβ residue of the tube, ratio to Kα1")
    parser.add_argument("--noise-free", action="store_true", help="no background and no counting noise")
    parser.add_argument(
        "--always-strip",
        action="store_true",
        help="also read both with the Kα2 line stripped unconditionally",
    )
    args = parser.parse_args(argv)

    classifier = load_pretrained(args.model)
    spec = classifier.spec
    crystals, labels = minerals(args.amcsd, args.cache, args.limit)
    model_grid = torch.as_tensor(spec.two_theta)
    cu_separation = WAVELENGTHS["CuKa2"] / WAVELENGTHS["CuKa1"] - 1.0
    noise = "no noise" if args.noise_free else f"{args.counts:g} counts"
    print(f"{args.model}: {len(crystals)} minerals (one structure each), {noise}, Kβ residue {args.kbeta:g}")
    print("tube | doublet separation (Cu = 1) | Kα1 | Kα1 + Kα2 | as they are | Kα2 found: doublets / Kα1")
    for tube in args.tubes.split(","):
        kalpha1, kalpha2 = WAVELENGTHS[f"{tube}Ka1"], WAVELENGTHS[f"{tube}Ka2"]
        low, high = tube_range(kalpha1, spec.wavelength, spec.two_theta_min, spec.two_theta_max)
        two_theta = np.linspace(low, high, 8501)
        top1, found = {}, {}
        for lines in ("Ka1", "Ka"):
            line = f"{tube}{lines}"
            simulator = xs.PowderSimulator(
                (low, high, 8501), wavelength=line, crystallite_size_nm=(20.0, 100.0), seed=args.seed
            )
            residue = [KBetaResidue(f"{tube}Ka1", ratio=args.kbeta)] if args.kbeta > 0 else []
            augmented = AugmentedSimulator(simulator, residue)
            with torch.no_grad():
                clean = torch.cat([augmented(crystals[i : i + 128]) for i in range(0, len(crystals), 128)])
            counting = torch.Generator().manual_seed(args.seed)
            if args.noise_free:
                measured = clean.numpy()
            else:
                measured = torch.poisson(args.counts * (clean + BACKGROUND), generator=counting).numpy()
            probability = classifier.predict_proba(two_theta, measured, wavelength=kalpha1)
            top1[lines] = float((probability.argmax(axis=1) + 1 == labels).mean())
            converted = torch.as_tensor(resample_pattern(two_theta, measured, kalpha1, spec))
            found[lines] = float((kalpha2_ratio(converted, model_grid, kalpha1, kalpha2) > 0).double().mean())
            if lines == "Ka":
                with torch.no_grad():
                    raw = classifier.probabilities_on_grid(converted.float()).numpy()
                top1["raw"] = float((raw.argmax(axis=1) + 1 == labels).mean())
            if args.always_strip:
                stripped = strip_kalpha2(converted, model_grid, kalpha1, kalpha2, 0.5).float()
                with torch.no_grad():
                    always = classifier.probabilities_on_grid(stripped).numpy()
                top1[f"{lines} stripped"] = float((always.argmax(axis=1) + 1 == labels).mean())
        separation = (kalpha2 / kalpha1 - 1.0) / cu_separation
        print(
            f"{tube} ({low:.1f}-{high:.1f}°) | {separation:.2f} | {100 * top1['Ka1']:.1f} % | "
            f"{100 * top1['Ka']:.1f} % | {100 * top1['raw']:.1f} % | "
            f"{100 * found['Ka']:.1f} % / {100 * found['Ka1']:.1f} %"
            + (
                f" | always stripped: doublets {100 * top1['Ka stripped']:.1f} %, "
                f"Kα1 {100 * top1['Ka1 stripped']:.1f} %"
                if args.always_strip
                else ""
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
