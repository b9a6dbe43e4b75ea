"""Average the weights of a training run's late snapshots into one classifier (stochastic weight averaging).

    python scripts/average_snapshots.py RUN --out FOLDER [--from-step N]

Takes the snapshots ``RUN/snapshots/step-*`` (written every ``--snapshot-every`` steps) at step N or later,
and ``RUN/model`` (the final weights) when the run has finished, averages their weights with
:func:`xrdsynth.models.average_classifiers` and writes the result to FOLDER with
:func:`xrdsynth.models.save_pretrained` (a folder that ``load_pretrained``, ``scripts/compare_classifiers.py``
and ``scripts/ship_model.py`` take). The default N is half the run's steps (``config.json``): the second
half of the learning-rate schedule, where the snapshots lie in one basin. Choose N before looking at any
measured accuracy, or the average is tuned to the development set.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from xrdsynth.models import average_classifiers, load_pretrained, save_pretrained


def chosen_folders(run: Path, from_step: int) -> list[tuple[int, Path]]:
    """(step, folder) of the snapshots at ``from_step`` or later and of the final model, in step order."""
    found: dict[int, Path] = {}
    for folder in sorted((run / "snapshots").glob("step-*")):
        match = re.fullmatch(r"step-(\d+)", folder.name)
        if match and int(match.group(1)) >= from_step:
            found[int(match.group(1))] = folder
    final = run / "model"
    if (final / "card.json").is_file():
        steps = json.loads((final / "card.json").read_text(encoding="utf-8"))["card"].get("steps")
        if isinstance(steps, int) and steps >= from_step:
            found.setdefault(steps, final)  # the final model is the last snapshot when the two coincide
    return sorted(found.items())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="a training run folder (with config.json and snapshots/)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the averaged classifier to")
    parser.add_argument("--from-step", type=int, default=None, help="first step to include (default: half)")
    args = parser.parse_args()
    config_file = args.run / "config.json"
    if not config_file.is_file():
        raise SystemExit(f"{args.run} is not a training run folder: no config.json")
    from_step = args.from_step
    if from_step is None:
        from_step = int(json.loads(config_file.read_text(encoding="utf-8"))["steps"]) // 2
    chosen = chosen_folders(args.run, from_step)
    if not chosen:
        raise SystemExit(f"no snapshot of {args.run} at step {from_step} or later")
    averaged = average_classifiers([load_pretrained(folder) for _, folder in chosen])
    averaged.card["weight_average"]["from"] = [str(folder) for _, folder in chosen]
    save_pretrained(averaged, args.out)
    print(f"averaged {len(chosen)} networks (steps {', '.join(str(s) for s, _ in chosen)}) into {args.out}")


if __name__ == "__main__":
    main()
