"""Which space groups a classifier gets right and what it answers instead, group by group.

    python scripts/diagnose_groups.py --rruff ../shared/data/rruff-dev [--amcsd ../shared/data/amcsd-dev]
        [--synthetic 256] [--model NAME_OR_FOLDER] [--groups 12] [--cache /tmp/amcsd.pkl] [--crystal-systems]

For the ``--groups`` space groups most frequent in rruff-dev (or the groups given with ``--group``), prints
one Markdown table row per group: the share of patterns of that group the classifier answers correctly
(recall) and its most frequent answers, on

- rruff-dev (measured laboratory patterns, Cu Kα),
- amcsd-dev with one structure per mineral, when ``--amcsd`` is given: clean Cu Kα1 patterns (Gaussian
  peaks, 20–100 nm) and patterns of the whole laboratory preset, as in ``scripts/evaluate_classifier.py
  --robustness``,
- ``--synthetic`` crystals of that group from ``SpaceGroupSampler`` (clean, the same simulator), a seed no
  training run uses; 0 leaves it out.

A group the classifier misses on measured patterns may be missed on simulated minerals too (then the cause is
in the model or its training data, not in the measurement), or even on its own synthetic crystals (then the
classifier has learned to prefer another group for that kind of pattern). Powder patterns cannot tell some
groups apart at all (P1 from P-1, groups of one Laue class with the same reflection conditions), so a
recall near 0 can also be a tie broken by the training prior.

``--crystal-systems`` adds a second table, by true crystal system: how often the crystal system of the first
answer is right and which systems it is mistaken for, on rruff-dev and (with ``--amcsd``) on every mineral of
amcsd-dev (one structure each), clean and under the whole laboratory preset. Where the measured patterns are
misread like the preset's, the preset reproduces what makes them hard; where they are misread more, the
measurement holds something the preset lacks.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

import xrdsynth as xs
from xrdsynth.models import Classifier, load_pretrained
from xrdsynth.symmetry import CRYSTAL_SYSTEM_OF_GROUP, CRYSTAL_SYSTEMS, SpaceGroup

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_classifier import (
    amcsd_crystals,
    answers_on_grid,
    one_per_mineral,
    render,
    robustness_conditions,
    rruff_patterns,
    simulate_on_grid,
)

SYNTHETIC_SEED = 20261202  # a seed no training run uses


def recall_row(answers: np.ndarray, labels: np.ndarray, group: int, most: int = 3) -> str:
    """'recall % (n) → the most frequent answers' for the patterns of ``group``; '—' where there are none."""
    rows = labels == group
    n = int(rows.sum())
    if n == 0:
        return "—"
    counts = Counter(answers[rows].tolist()).most_common(most)
    others = ", ".join(f"{SpaceGroup(int(g)).symbol} {c}" for g, c in counts)
    return f"{np.mean(answers[rows] == group):.0%} of {n} ({others})"


def system_row(answers: np.ndarray, labels: np.ndarray, system: int, most: int = 2) -> str:
    """'share % of n (→ the most frequent wrong systems)': how often the first answers (groups) of the
    patterns whose true crystal system is ``system`` (index into CRYSTAL_SYSTEMS) have that system."""
    of_group = np.asarray(CRYSTAL_SYSTEM_OF_GROUP)
    rows = of_group[labels - 1] == system
    n = int(rows.sum())
    if n == 0:
        return "—"
    answered = of_group[answers[rows] - 1]
    wrong = Counter(answered[answered != system].tolist()).most_common(most)
    others = ", ".join(f"{CRYSTAL_SYSTEMS[k]} {c}" for k, c in wrong)
    return f"{np.mean(answered == system):.0%} of {n}" + (f" (→ {others})" if others else "")


def synthetic_answers(
    classifier: Classifier, groups: list[int], per_group: int
) -> tuple[np.ndarray, np.ndarray]:
    """Answers and labels for about ``per_group`` clean synthetic crystals of each group (drawn uniformly over
    ``groups``), simulated as the amcsd-dev structures are."""
    batch = xs.SpaceGroupSampler(space_groups=groups, seed=SYNTHETIC_SEED).sample(per_group * len(groups))
    patterns = simulate_on_grid(classifier, batch.to_crystals(), seed=SYNTHETIC_SEED)
    return answers_on_grid(classifier, patterns), batch.space_group.numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rruff", type=Path, required=True, help="rruff-dev folder (with rruff-dev.npz)")
    parser.add_argument("--amcsd", type=Path, default=None, help="amcsd-dev folder (with index.csv)")
    parser.add_argument("--model", default=None, help="shipped name or folder (default: the default model)")
    parser.add_argument("--groups", type=int, default=12, help="the most frequent groups of rruff-dev shown")
    parser.add_argument("--group", type=int, action="append", default=None, help="show this group (repeat)")
    parser.add_argument("--synthetic", type=int, default=256, help="synthetic crystals per group (0: none)")
    parser.add_argument("--cache", type=Path, default=None, help="pickle cache of the amcsd-dev crystals")
    parser.add_argument(
        "--crystal-systems", action="store_true", help="also a table by true crystal system (see above)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    classifier = load_pretrained(args.model)

    two_theta, intensity, rruff_labels = rruff_patterns(args.rruff)
    rruff_answers = classifier.predict_proba(two_theta, intensity, wavelength="CuKa1").argmax(axis=1) + 1
    if args.group:
        groups = [int(xs.symmetry.space_group_number(g)) for g in args.group]
    else:
        groups = [int(g) for g, _ in Counter(rruff_labels.tolist()).most_common(args.groups)]
    columns = ["rruff-dev (measured)"]
    cells: dict[int, list[str]] = {g: [recall_row(rruff_answers, rruff_labels, g)] for g in groups}

    if args.amcsd is not None:
        crystals, labels, ids = amcsd_crystals(args.amcsd, args.cache)
        unique = one_per_mineral(args.amcsd, ids)
        chosen = [crystals[i] for i in unique if labels[i] in groups]
        chosen_labels = np.array([labels[i] for i in unique if labels[i] in groups])
        patterns = simulate_on_grid(classifier, chosen, seed=20261124)
        answers = answers_on_grid(classifier, patterns)
        columns.append("amcsd-dev, one per mineral (clean)")
        for g in groups:
            cells[g].append(recall_row(answers, chosen_labels, g))
        spec = classifier.spec
        grid = (spec.two_theta_min, spec.two_theta_max, spec.num_points)
        laboratory = robustness_conditions(grid, seed=20261124)["laboratory-cu (all)"]
        answers = answers_on_grid(classifier, render(laboratory, chosen))
        columns.append("amcsd-dev, one per mineral (laboratory preset)")
        for g in groups:
            cells[g].append(recall_row(answers, chosen_labels, g))
    if args.synthetic > 0:
        answers, labels = synthetic_answers(classifier, groups, args.synthetic)
        columns.append("synthetic (clean)")
        for g in groups:
            cells[g].append(recall_row(answers, labels, g))

    systems = {"rruff-dev (measured)": (rruff_answers, rruff_labels)}
    if args.crystal_systems and args.amcsd is not None:
        # Every mineral, not only those of the groups above (simulated again: the draws follow the crystals).
        every = [crystals[i] for i in unique]
        every_labels = labels[unique]
        clean = answers_on_grid(classifier, simulate_on_grid(classifier, every, seed=20261124))
        # A fresh preset: the one above has advanced its draws.
        laboratory = robustness_conditions(grid, seed=20261124)["laboratory-cu (all)"]
        systems["amcsd-dev, one per mineral (clean)"] = (clean, every_labels)
        systems["amcsd-dev, one per mineral (laboratory preset)"] = (
            answers_on_grid(classifier, render(laboratory, every)),
            every_labels,
        )

    overall = Counter(rruff_answers.tolist()).most_common(4)
    print(
        f"model {args.model or 'default'}; rruff-dev answers most often: "
        + ", ".join(f"{SpaceGroup(int(g)).symbol} {c}" for g, c in overall)
        + f" of {len(rruff_answers)}\n"
    )
    print("| group | " + " | ".join(columns) + " |")
    print("| --- | " + " | ".join("---" for _ in columns) + " |")
    for g in groups:
        print(f"| {g} {SpaceGroup(g).symbol} | " + " | ".join(cells[g]) + " |")
    if args.crystal_systems:
        print("\nThe crystal system of the first answer, by true crystal system:\n")
        print("| true crystal system | " + " | ".join(systems) + " |")
        print("| --- | " + " | ".join("---" for _ in systems) + " |")
        for k, name in enumerate(CRYSTAL_SYSTEMS):
            print(f"| {name} | " + " | ".join(system_row(a, y, k) for a, y in systems.values()) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
