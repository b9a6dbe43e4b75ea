"""Average the weights of several finished classifiers that were fine-tuned from one start (a model soup).

    python scripts/soup_models.py MODEL MODEL [MODEL ...] --out FOLDER

Each MODEL is a classifier folder (``card.json`` and weights, as ``scripts/average_snapshots.py`` or a
training run's ``model/`` write them); they are averaged with equal weights by
:func:`xrdsynth.models.average_classifiers` and written to FOLDER with
:func:`xrdsynth.models.save_pretrained`. Averaging two runs of one recipe from one start (each already
averaged with that start by ``average_snapshots.py --with-start``) gives start/2 + run1/4 + run2/4: the
"uniform soup" of Wortsman et al. 2022 ("Model soups"), which keeps what the runs agree on and averages
away part of what each learned by chance. Only networks fine-tuned from one start lie in one basin: the
weights of independently trained networks are not aligned and their mean is meaningless, so every member
must record the same start (``weight_average["start"]["weights_sha256"]`` or ``init_from``).

The card is the last member's (its recipe is the one all members share), with ``name`` the members' names
joined by "+", ``samples_seen`` and ``wall_time_s`` summed over the members (the soup cost the training of
all of them) and ``weight_average["members"]`` listing each member's name, seed, steps, patterns, wall time
and weights sha256.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from xrdsynth.models import PretrainedBundle, average_classifiers, save_pretrained


def recorded_start(card: Mapping) -> str | None:
    """The start a member's card records: the weights sha256 of the network it was averaged with, else the
    ``init_from`` of its training; None when it records neither (a network trained from scratch)."""
    start = (card.get("weight_average") or {}).get("start")
    if start:
        return str(start["weights_sha256"])
    init_from = (card.get("recipe") or {}).get("init_from")
    return None if init_from is None else str(init_from)


def member_record(model: str, bundle: PretrainedBundle) -> dict:
    """What the soup's card keeps of one member: where it came from and what its training cost."""
    card = bundle.card
    kept = {key: card[key] for key in ("seed", "steps", "samples_seen", "wall_time_s") if key in card}
    return {"model": model, "name": card.get("name"), "weights_sha256": bundle.weights_sha256, **kept}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+", help="classifier folders to average")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the averaged classifier to")
    args = parser.parse_args()
    if len(args.models) < 2:
        raise SystemExit("a soup needs at least two classifiers")
    try:
        # Each folder read once: its card, its weights' sha256 and (below) its network.
        bundles = [PretrainedBundle.from_folder(m) for m in args.models]
    except ValueError as error:
        raise SystemExit(f"not a classifier folder: {error}") from None
    starts = {m: recorded_start(b.card) for m, b in zip(args.models, bundles, strict=True)}
    if len(set(starts.values())) != 1 or None in starts.values():
        listing = "\n".join(f"  {m}: {s}" for m, s in starts.items())
        raise SystemExit(
            f"the classifiers do not all record one start, so their weights need not align:\n{listing}"
        )
    averaged = average_classifiers([b.get_model() for b in bundles])
    record = averaged.card["weight_average"]
    record["soup_of"] = list(args.models)
    record["start"] = (bundles[-1].card.get("weight_average") or {}).get("start")
    record["members"] = [member_record(m, b) for m, b in zip(args.models, bundles, strict=True)]
    averaged.card["name"] = "+".join(
        str(b.card.get("name", m)) for m, b in zip(args.models, bundles, strict=True)
    )
    for key in ("samples_seen", "wall_time_s"):
        if all(key in b.card for b in bundles):
            averaged.card[key] = round(sum(b.card[key] for b in bundles), 1)
    save_pretrained(averaged, args.out)
    print(f"averaged {len(bundles)} classifiers into {args.out} (common start {next(iter(starts.values()))})")


if __name__ == "__main__":
    main()
