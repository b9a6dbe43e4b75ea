"""Classify the bundled measured powder patterns by space group with a pretrained classifier.

    python examples/classify_measured.py [NAME ...] [--model NAME|FOLDER] [--top 5] [--plot out.png]

NAME is one of ``xrdsynth.examples.measured_names()`` (default: all of them): laboratory Cu Kα patterns of
PbSO4 (space group 62) and CdS (186) from the XRed dataset. The files state no wavelength, so the script
gives ``"CuKa1"``. ``--model`` takes a shipped model's name or a folder written by ``save_pretrained`` or
``xrdsynth train`` (``RUN/model``); the default is the package's default classifier. The same on the command
line: ``xrdsynth classify FILE --wavelength CuKa1 [--model ...]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from xrdsynth import examples
from xrdsynth.io import read_pattern
from xrdsynth.models import DEFAULT_MODEL, available_models, load_pretrained


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"one of {examples.measured_names()}")
    parser.add_argument("--model", default=None, help="shipped model name or folder (default: the default)")
    parser.add_argument("--top", type=int, default=5, help="space groups to list (default: 5)")
    parser.add_argument("--plot", type=Path, default=None, help="bar chart(s) of the prediction, PNG")
    args = parser.parse_args()
    if args.model is None and DEFAULT_MODEL not in available_models():
        parser.error(
            f"the default model {DEFAULT_MODEL!r} is not shipped with this installation; give --model"
        )

    names = args.names or examples.measured_names()
    unknown = sorted(set(names) - set(examples.measured_names()))
    if unknown:
        parser.error(f"unknown pattern(s) {unknown}; choose from {examples.measured_names()}")

    classifier = load_pretrained(args.model)
    for name in names:
        pattern = read_pattern(examples.measured_path(name))
        # Measured with a Cu tube; the classifier converts the pattern to its own grid through d-spacing.
        prediction = classifier.predict(
            pattern.two_theta, pattern.intensity, wavelength="CuKa1", top=args.top
        )[0]
        truth = examples.measured_space_group(name)
        found = prediction.space_group.index(truth) + 1 if truth in prediction.space_group else None
        verdict = f"rank {found}" if found else f"not in the top {args.top}"
        print(
            f"{name}: {len(pattern.two_theta)} points, 2θ {pattern.two_theta[0]:g}–{pattern.two_theta[-1]:g}°"
        )
        print(prediction)
        systems = prediction.crystal_system_probability
        best = max(systems, key=lambda s: systems[s])
        print(f"most probable crystal system: {best} ({systems[best]:.1%})")
        print(f"true space group {truth}: {verdict}\n")
        if args.plot is not None:
            from xrdsynth import plot

            target = args.plot if len(names) == 1 else args.plot.with_name(f"{args.plot.stem}-{name}.png")
            axes = plot.prediction(prediction)
            axes.figure.suptitle(f"{name} (true space group {truth})")
            target.parent.mkdir(parents=True, exist_ok=True)
            axes.figure.savefig(target, dpi=150)
            print(f"wrote {target}")


if __name__ == "__main__":
    main()
