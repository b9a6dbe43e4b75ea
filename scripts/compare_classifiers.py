"""Two classifiers (or more) on the same patterns, paired: which patterns only one of them gets right, and
whether that difference is more than chance (exact two-sided McNemar test).

    python scripts/compare_classifiers.py MODEL_A MODEL_B [MODEL_C ...] --rruff ../shared/data/rruff-dev
        [--xred ../shared/data/xred-monophase] [--amcsd ../shared/data/amcsd-dev] [--cache /tmp/amcsd.pkl]
        [--mineral-half 0|1] [--long-cells R] [--robustness] [--precision auto|float32|bfloat16]

MODEL_A, MODEL_B, ... are shipped names or folders (a run's ``model/`` folder, a snapshot); each model after
the first is paired against MODEL_A (named B, C, ... in the output). On rruff-dev and xred-monophase all read
the same measured patterns; on amcsd-dev (one structure per mineral, clean Cu Kα1, 20–100 nm, as in
``scripts/evaluate_classifier.py``) all read the same simulated patterns, made once on MODEL_A's grid (the
models must share their grid and wavelength; their preprocessing, e.g. ``log_d_points``, may differ).
For each set the script prints both top-1 accuracies, the number of patterns right for only one of them,
and the McNemar p-value: on 449 patterns a difference of a few points can be chance, and the paired test is
much sharper than comparing the two accuracies. On rruff-dev also the crystal system of each model's first
answer, paired the same way.

``--mineral-half K`` keeps only the minerals whose name (lower case) has a CRC-32 checksum with remainder K
modulo 2: half of the minerals, chosen independently of anything else, for comparisons in which the other
half lent something to the training (e.g. its cells, see docs/sampler.md, "Cell shapes by space group").

``--long-cells R`` (with ``--amcsd``) also compares them on every amcsd-dev structure (not one per mineral;
within the half where ``--mineral-half`` is given) whose cell, as its CIF gives it, has a longest edge more
than R times its shortest: layered and other long cells (clean patterns, as above).

``--robustness`` (with ``--amcsd``) compares them on the same structures rendered under each condition of
``scripts/evaluate_classifier.py --robustness`` (each laboratory effect alone, the whole preset, the issue's
held-out conditions, nanocrystalline powders, late scans) and of ``--every-pattern`` (each effect the preset
applies to a share of its patterns, on every pattern), each condition's patterns made once and read by all.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from math import comb
from pathlib import Path

import numpy as np

from xrdsynth.models import load_pretrained

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_classifier import (
    SYSTEM_OF_GROUP,
    amcsd_crystals,
    answers_on_grid,
    evaluate_measured,
    every_pattern_conditions,
    mineral_names,
    one_per_mineral,
    render,
    robustness_conditions,
    rruff_patterns,
    simulate_on_grid,
    smoothed_scans,
)


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar p-value: the probability, if both were equally good, of a split of the
    discordant patterns at least as uneven as (only_a, only_b)."""
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * sum(comb(n, i) for i in range(k + 1)) / 2**n)


# The names of the models after MODEL_A in the output.
_LETTERS = "BCDEFGHIJKLMNOPQRSTUVWXYZ"


def paired(name: str, right_a: np.ndarray, *right_others: np.ndarray) -> None:
    """One line per model after the first: its top-1 and the first's on the same patterns, and their
    discordant patterns. (N,) booleans each."""
    for letter, right_b in zip(_LETTERS, right_others, strict=False):
        only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))
        print(
            f"{name}: A {right_a.mean():.1%}, {letter} {right_b.mean():.1%} of {len(right_a)}; right only "
            f"for A {only_a}, only for {letter} {only_b}; McNemar p = {mcnemar_p(only_a, only_b):.2g}"
        )


def mineral_halves(folder: Path, ids: list[str]) -> np.ndarray:
    """(len(ids),) 0 or 1 per amcsd-dev entry: the CRC-32 of its mineral name in lower case, modulo 2."""
    mineral = mineral_names(folder)
    return np.array([zlib.crc32(mineral[i].lower().encode()) % 2 for i in ids], dtype=np.int64)


def long_cells(crystals: list, ratio: float) -> np.ndarray:
    """Indices of the crystals whose longest cell edge is more than ``ratio`` times their shortest."""
    edges = [np.linalg.norm(np.asarray(c.lattice, dtype=np.float64), axis=1) for c in crystals]
    return np.array([i for i, e in enumerate(edges) if e.max() > ratio * e.min()], dtype=np.int64)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model_a", help="shipped name or folder")
    parser.add_argument("models", nargs="+", help="shipped names or folders, each paired against MODEL_A")
    parser.add_argument("--rruff", type=Path, default=None, help="rruff-dev folder (with rruff-dev.npz)")
    parser.add_argument(
        "--rruff-smooth-fwhm", type=float, default=0.0, metavar="DEG",
        help="with --rruff: also pair the models on rruff-dev smoothed by a Gaussian of this FWHM (degrees)",
    )  # fmt: skip
    parser.add_argument("--xred", type=Path, default=None, help="xred-monophase folder (with index.csv)")
    parser.add_argument("--amcsd", type=Path, default=None, help="amcsd-dev folder (with index.csv)")
    parser.add_argument("--cache", type=Path, default=None, help="pickle cache of the amcsd-dev crystals")
    parser.add_argument("--seed", type=int, default=20261124, help="of the simulated crystallite sizes")
    parser.add_argument("--mineral-half", type=int, choices=(0, 1), default=None, help="amcsd-dev half")
    parser.add_argument(
        "--long-cells",
        type=float,
        default=None,
        metavar="R",
        help="also every structure whose longest cell edge exceeds R times its shortest (needs --amcsd)",
    )
    parser.add_argument(
        "--robustness", action="store_true", help="also under each laboratory condition (needs --amcsd)"
    )
    parser.add_argument(
        "--step-average", action="store_true",
        help="simulate with every grid point the mean of the profile over its step, as measured scans are "
        "averaged onto the grid (default: the profile's value at the point)",
    )  # fmt: skip
    parser.add_argument(
        "--precision", choices=("auto", "float32", "bfloat16"), default="auto",
        help="the networks' arithmetic (default 'auto', what users get: bfloat16 on CPUs with bfloat16 "
        "instructions, else float32); answers near a tie can move with it",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.rruff is None and args.amcsd is None and args.xred is None:
        parser.error("give --rruff, --xred, --amcsd or several")
    if args.robustness and args.amcsd is None:
        parser.error("--robustness needs --amcsd")
    if args.long_cells is not None and (args.amcsd is None or args.long_cells <= 1.0):
        parser.error("--long-cells needs --amcsd and a ratio above 1")
    if len(args.models) > len(_LETTERS):
        parser.error(f"at most {len(_LETTERS) + 1} models")
    a = load_pretrained(args.model_a, precision=args.precision)
    others = [load_pretrained(name, precision=args.precision) for name in args.models]
    models = [a, *others]
    if any(m.spec.grid != a.spec.grid or m.spec.wavelength != a.spec.wavelength for m in others):
        parser.error("the models read patterns on different grids or wavelengths")
    if args.rruff is not None:
        two_theta, intensity, labels = rruff_patterns(args.rruff)
        scans = {"rruff-dev": intensity}
        if args.rruff_smooth_fwhm:
            fwhm = args.rruff_smooth_fwhm
            scans[f"rruff-dev smoothed ({fwhm:g}° FWHM)"] = smoothed_scans(two_theta, intensity, fwhm)
        true_system = SYSTEM_OF_GROUP[labels - 1]
        for name, scan in scans.items():
            answers = [m.predict_proba(two_theta, scan, wavelength="CuKa1").argmax(axis=1) for m in models]
            paired(name, *(answer + 1 == labels for answer in answers))
            # The crystal system of the first answer, which is what a reader of the top answer gets.
            paired(
                f"{name}, crystal system of the first answer",
                *(SYSTEM_OF_GROUP[x] == true_system for x in answers),
            )
    if args.xred is not None:
        rights = []
        for m in models:
            details = evaluate_measured(m, args.xred)[1]
            rights.append(np.array([d["top5"][0] == d["space_group"] for d in details]))
        paired("xred-monophase", *rights)
    if args.amcsd is not None:
        crystals, labels, ids = amcsd_crystals(args.amcsd, args.cache)
        # The structures of the chosen half (every one without --mineral-half), named so in each line.
        in_half = np.ones(len(ids), dtype=bool)
        half = ""
        if args.mineral_half is not None:
            in_half = mineral_halves(args.amcsd, ids) == args.mineral_half
            half = f", half {args.mineral_half}"
        unique = one_per_mineral(args.amcsd, ids)
        unique = unique[in_half[unique]]
        chosen, truth = [crystals[i] for i in unique], labels[unique]
        patterns = simulate_on_grid(a, chosen, args.seed, step_average=args.step_average)
        paired(
            f"amcsd-dev, one structure per mineral{half}",
            *(answers_on_grid(m, patterns) == truth for m in models),
        )
        if args.long_cells is not None:
            every = np.nonzero(in_half)[0]
            every = every[long_cells([crystals[i] for i in every], args.long_cells)]
            patterns = simulate_on_grid(
                a, [crystals[i] for i in every], args.seed, step_average=args.step_average
            )
            paired(
                f"amcsd-dev, every structure with a cell edge ratio above {args.long_cells:g}{half}",
                *(answers_on_grid(m, patterns) == labels[every] for m in models),
            )
        if args.robustness:
            for name, condition in robustness_conditions(a.spec.grid, args.seed, args.step_average).items():
                patterns = render(condition, chosen)
                paired(f"  {name}", *(answers_on_grid(m, patterns) == truth for m in models))
            every = every_pattern_conditions(a.spec.grid, args.seed, args.step_average)
            for name, condition in every.items():
                if name == "clean":  # the same patterns as the robustness conditions' clean
                    continue
                patterns = render(condition, chosen)
                right = (answers_on_grid(m, patterns) == truth for m in models)
                paired(f"  on every pattern: {name}", *right)
    return 0


if __name__ == "__main__":
    sys.exit(main())
