"""Learning curve of a training run: accuracy of its kept models against patterns seen and CPU-hours.

    python scripts/learning_curve.py RUN --rruff ../shared/data/rruff-dev --amcsd ../shared/data/amcsd-dev
        [--start MODEL] [--json curve.json] [--plot docs/_static/learning_curve.png]
        [--averaged FOLDER] [--write-card MODEL_FOLDER]
    python scripts/learning_curve.py --shipped-history xrdsynth-resnet-cu --rruff ... --amcsd ...
        [--json curve.json] [--plot docs/_static/learning_curve_history.png]

Evaluates every model under RUN/snapshots/ (written with ``--snapshot-every``) and RUN/model on rruff-dev
(measured patterns) and on amcsd-dev with one structure per mineral (clean Cu Kα1 Gaussian patterns,
crystallite sizes 20–100 nm). ``--start`` adds the model the run was initialised from (``--init-from``) as the
first point, with the patterns and wall time of its own card and of every model it was itself initialised
from, so the curve shows the whole history. ``--averaged`` adds, as the last point, a weight average made
from the run (``scripts/average_snapshots.py``, e.g. ``--with-start``), at the patterns of the run: averaging
trains nothing. CPU-hours are wall hours times the cores of the machine each card
names. Every point is the network without calibration (a shipped start model's prior correction and
temperature are left out), so that the points compare.

``--shipped-history NAME`` evaluates instead every version of the shipped model NAME that the repository's
git history holds (each commit that changed its weights, oldest first, read with ``git show`` into a
temporary folder), each at the patterns and CPU-hours of its whole chain of runs, and each as a network
without its calibration like the other points: the learning curve of the project's training across runs and
recipes, as shipped.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from xrdsynth.models import load_pretrained

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_classifier import (
    amcsd_crystals,
    evaluate_rruff,
    one_per_mineral,
    scores,
    simulate_on_grid,
)

ROOT = Path(__file__).resolve().parents[1]


def cores(card: dict) -> int:
    match = re.search(r"\((\d+) cores\)", card.get("hardware", ""))
    return int(match.group(1)) if match else 1


def history(card: dict) -> tuple[int, float]:
    """Patterns and CPU-hours of a model's training, with those of every model it was initialised from
    (the card's chain of ``initialised_from``)."""
    patterns, hours = 0, 0.0
    while card:
        patterns += int(card.get("samples_seen", 0))
        hours += float(card.get("wall_time_s", 0.0)) / 3600.0 * cores(card)
        card = card.get("initialised_from") or {}
    return patterns, hours


def evaluate_points(args: argparse.Namespace, scratch: Path) -> list[dict]:
    """The curve's rows: each model's patterns seen, CPU-hours and accuracies (see the module docstring);
    ``scratch`` is a folder for the versions read from git."""
    crystals, labels, ids = amcsd_crystals(args.amcsd, args.cache)
    unique = one_per_mineral(args.amcsd, ids)
    crystals, labels = [crystals[i] for i in unique], labels[unique]

    points: list[tuple[str, object]] = []
    if args.shipped_history is not None:
        points = list(shipped_versions(args.shipped_history, scratch))
    if args.start is not None:
        points.append(("start", args.start))
    if args.run is not None:
        points += [(p.name, p) for p in sorted((args.run / "snapshots").glob("step-*"))]
        if (args.run / "model" / "card.json").is_file():
            points.append(("final", args.run / "model"))
    if args.averaged is not None:
        points.append(("average", args.averaged))
    base_patterns, base_hours = 0, 0.0
    curve = []
    for label, source in points:
        classifier = load_pretrained(source)
        # The raw network at every point: a shipped start model's calibration (prior correction, temperature)
        # is left out, as the snapshots have none.
        classifier.log_prior_ratio, classifier.temperature = None, 1.0
        card = classifier.card
        patterns = int(card.get("samples_seen", 0))
        hours = float(card.get("wall_time_s", 0.0)) / 3600.0 * cores(card)
        if label == "start":
            base_patterns, base_hours = history(card)
            patterns, hours = 0, 0.0
        elif args.shipped_history is not None:
            patterns, hours = history(card)  # each version with its whole chain of runs
        if label == "final" and curve and curve[-1]["steps"] == int(card.get("steps", -1)):
            continue  # the last snapshot is the final model
        with torch.no_grad():
            measured = evaluate_rruff(classifier, args.rruff)[0]
            simulated = scores(
                classifier.probabilities_on_grid(simulate_on_grid(classifier, crystals, args.seed))
                .double()
                .numpy(),
                labels,
            )
        row = {
            "model": label,
            "steps": int(card.get("steps", 0)) if label != "start" else 0,
            "patterns_seen": base_patterns + patterns,
            "cpu_hours": base_hours + hours,
            "rruff_top1": measured["top1"],
            "rruff_crystal_system": measured["crystal_system"],
            "amcsd_top1": simulated["top1"],
            "amcsd_crystal_system": simulated["crystal_system"],
        }
        curve.append(row)
        print(
            f"{label:<18} {row['patterns_seen'] / 1e6:6.2f} M patterns {row['cpu_hours']:5.2f} CPU-h   "
            f"rruff-dev top-1 {row['rruff_top1']:6.1%} system {row['rruff_crystal_system']:6.1%}   "
            f"amcsd-dev (one per mineral, clean) top-1 {row['amcsd_top1']:6.1%}",
            flush=True,
        )
    return curve


def shipped_versions(name: str, folder: Path, root: Path = ROOT) -> list[tuple[str, Path]]:
    """Every committed version of the shipped model ``name`` in the git repository at ``root``, oldest first,
    as (label, folder) with the folder under ``folder``; the label is the commit's date and short hash."""
    bundle = Path("src") / "xrdsynth" / "models" / "pretrained" / name
    listed = subprocess.run(
        ["git", "log", "--reverse", "--format=%h %ad", "--date=short", "--", str(bundle / "weights.pt")],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if listed.returncode != 0:
        raise SystemExit(f"cannot read the git history of {root}: {listed.stderr.strip()}")
    log = listed.stdout.split()
    versions = []
    for commit, date in zip(log[::2], log[1::2], strict=True):
        target = folder / commit
        target.mkdir()
        for file in ("weights.pt", "card.json"):
            content = subprocess.run(
                ["git", "show", f"{commit}:{(bundle / file).as_posix()}"], cwd=root, capture_output=True,
                check=True,
            ).stdout  # fmt: skip
            (target / file).write_bytes(content)
        versions.append((f"{date} {commit}", target))
    if not versions:
        raise SystemExit(f"no committed weights of {name!r} in the git history of {root}")
    return versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, nargs="?", help="a training run folder (or --shipped-history)")
    parser.add_argument(
        "--shipped-history", default=None, metavar="NAME",
        help="every version of this shipped model in the git history instead of a run's models",
    )  # fmt: skip
    parser.add_argument("--rruff", type=Path, required=True)
    parser.add_argument("--amcsd", type=Path, required=True)
    parser.add_argument(
        "--start", default=None, help="the model the run started from (folder or shipped name)"
    )
    parser.add_argument(
        "--averaged", type=Path, default=None, help="a weight average of the run, as the last point"
    )
    parser.add_argument("--cache", type=Path, default=None, help="pickle cache of the amcsd-dev crystals")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--write-card", type=Path, default=None, help="store the curve in this model's card")
    args = parser.parse_args(argv)
    if (args.run is None) == (args.shipped_history is None):
        parser.error("give a RUN folder or --shipped-history NAME")
    if args.shipped_history is not None and (args.start or args.averaged or args.write_card):
        parser.error("--shipped-history takes no --start, --averaged or --write-card")
    with tempfile.TemporaryDirectory() as scratch:
        curve = evaluate_points(args, Path(scratch))
    if args.json is not None:
        args.json.write_text(json.dumps(curve, indent=2) + "\n", encoding="utf-8")
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
        for ax, key, label in ((axes[0], "patterns_seen", "patterns seen (millions)"),
                               (axes[1], "cpu_hours", "CPU-hours (2-core machine)")):  # fmt: skip
            x = np.array([r[key] for r in curve], dtype=float) / (1e6 if key == "patterns_seen" else 1.0)
            for metric, name in (("rruff_top1", "rruff-dev (measured) top-1"),
                                 ("rruff_crystal_system", "rruff-dev crystal system"),
                                 ("amcsd_top1", "amcsd-dev one per mineral (clean) top-1")):  # fmt: skip
                ax.plot(x, [100 * r[metric] for r in curve], "o-", label=name)
            ax.set_xlabel(label)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("accuracy (%)")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=90)
        print(f"plot written to {args.plot}")
    if args.write_card is not None:
        card_path = args.write_card / "card.json"
        meta = json.loads(card_path.read_text(encoding="utf-8"))
        meta["card"]["learning_curve"] = curve
        card_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        print(f"curve written to {card_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
