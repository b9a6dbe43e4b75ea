"""Average the weights of a training run's late snapshots into one classifier (stochastic weight averaging).

    python scripts/average_snapshots.py RUN --out FOLDER [--from-step N] [--with-start]

Takes the snapshots ``RUN/snapshots/step-*`` (written every ``--snapshot-every`` steps) at step N or later,
and ``RUN/model`` (the final weights) when the run has finished, averages their weights with
:func:`xrdsynth.models.average_classifiers` and writes the result to FOLDER with
:func:`xrdsynth.models.save_pretrained` (a folder that ``load_pretrained``, ``scripts/compare_classifiers.py``
and ``scripts/ship_model.py`` take). The default N is half the run's steps (``config.json``): the second
half of the learning-rate schedule, where the snapshots lie in one basin. Choose N before looking at any
measured accuracy, or the average is tuned to the development set.

``--with-start`` adds the network the run was initialised from (its ``init_from``: a shipped name or a
folder) as one more member: a fine-tune averaged with its start (weight-space ensembling, WiSE-FT, Wortsman et
al. 2022) keeps most of what the fine-tune learned and most of what the start knew, where the fine-tune alone
trades one for the other. The start's card is recorded under ``weight_average["start"]`` (name and weights
sha256), since a shipped name may later mean other weights. A start whose card differs from the run only in
``kbeta_strip`` (the shipped card strips a Kβ residue at inference, which is not in the weights) is read as
the run reads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from pathlib import Path

from xrdsynth.models import (
    Classifier,
    PretrainedBundle,
    average_classifiers,
    load_pretrained,
    pretrained_bundles,
    save_pretrained,
)


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
    parser.add_argument(
        "--with-start", action="store_true", help="also average the network the run was initialised from"
    )
    args = parser.parse_args()
    config_file = args.run / "config.json"
    if not config_file.is_file():
        raise SystemExit(f"{args.run} is not a training run folder: no config.json")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    from_step = args.from_step
    if from_step is None:
        from_step = int(config["steps"]) // 2
    chosen = chosen_folders(args.run, from_step)
    if not chosen:
        raise SystemExit(f"no snapshot of {args.run} at step {from_step} or later")
    members: list[Classifier] = [load_pretrained(folder) for _, folder in chosen]
    start = None
    if args.with_start:
        if not config.get("init_from"):
            raise SystemExit(
                f"{args.run} was not initialised from a network (no init_from in its config.json)"
            )
        start = _bundle(config["init_from"])
        start_model = start.get_model()
        run_spec = members[-1].spec
        if (
            start_model.spec != run_spec
            and dataclasses.replace(start_model.spec, kbeta_strip=run_spec.kbeta_strip) == run_spec
        ):
            # The shipped card strips a Kβ residue at inference, which a run does not train with unless asked:
            # the switch is not in the weights, so the start is read as the run reads.
            print(
                f"the start's card and the run differ in kbeta_strip: the run's ({run_spec.kbeta_strip}) kept"
            )
            start_model.spec = run_spec
        members.insert(0, start_model)
    averaged = average_classifiers(members)
    averaged.card["weight_average"]["from"] = [str(folder) for _, folder in chosen]
    if start is not None:
        averaged.card["weight_average"]["start"] = {
            "name": start.card.get("name") or str(config["init_from"]),
            "init_from": str(config["init_from"]),
            "weights_sha256": start.weights_sha256,
        }
    save_pretrained(averaged, args.out)
    steps = ", ".join(str(s) for s, _ in chosen)
    with_start = f" and its start {config['init_from']}" if start is not None else ""
    print(f"averaged {len(members)} networks (steps {steps}{with_start}) into {args.out}")


def _bundle(model: str) -> PretrainedBundle:
    """The bundle of a folder or of a shipped name, resolved as ``load_pretrained`` resolves them: read
    once, it gives both the network (its weights checked against the card's sha256) and that sha256."""
    folder = Path(model)
    if (folder / "card.json").is_file():
        return PretrainedBundle.from_folder(folder)
    bundles = pretrained_bundles()
    if model not in bundles:
        raise SystemExit(f"the run's init_from {model!r} is neither a model folder nor a shipped model")
    return bundles[model]


if __name__ == "__main__":
    main()
