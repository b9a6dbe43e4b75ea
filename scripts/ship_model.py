"""Copy a trained classifier into the package as a shipped model.

    python scripts/ship_model.py RUN/model [--name xrdsynth-resnet-cu] [--hardware "AMD EPYC (2 cores), ..."]
        [--initialised-from MODEL --initialised-from-label "xrdsynth-resnet-cu (shipped before, long5)"]
        [--kbeta-strip]

Checks that the folder loads (weights match the card's checksum and the architecture), copies weights.pt and
card.json to src/xrdsynth/models/pretrained/NAME/ with ordinary file permissions, and records the shipped
name (and, with --hardware, a fuller description of the training hardware than the run could detect) in the
card. ``--initialised-from`` records the model the run started from (``--init-from``; a shipped name or a
folder, read before it is overwritten) under the card's ``initialised_from``: its name (or the label given),
weights sha256, patterns seen, wall time, hardware, recipe and its own ``initialised_from``, the chain that
the model card and ``scripts/learning_curve.py`` sum. ``--kbeta-strip`` sets the card's
``input.kbeta_strip``: the shipped classifier finds and removes a Kβ residue in what it reads (since
2026-12-06; the weights are the same, the preprocessing differs), which a run trained without
``--kbeta-strip`` does not write into its own card. Afterwards: scripts/evaluate_classifier.py --model that
folder --write-card, then scripts/write_model_card.py, and the bundle's entry in SHIPPED of
tests/test_architectures.py (architecture, weights sha256, configuration fingerprint: new weights under a
shipped name fail the tests until it is updated, so a shipped name always means one set of weights).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from xrdsynth.models import DEFAULT_MODEL, load_pretrained

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "src" / "xrdsynth" / "models" / "pretrained"  # the shipped models, one folder each


def initialised_from(model: str, label: str | None) -> dict:
    """The record of the start model kept in a continued model's card (see the module docstring)."""
    folder = Path(model)
    if not (folder / "card.json").is_file():
        folder = PRETRAINED / model
    load_pretrained(folder)  # raises if it is not a valid model
    meta = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    card = meta["card"]
    record = {"name": label or card.get("shipped_as") or card.get("name") or str(model)}
    record["weights_sha256"] = meta["weights_sha256"]
    for key in ("samples_seen", "wall_time_s", "hardware", "recipe", "initialised_from"):
        if key in card:
            record[key] = card[key]
    return record


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="a folder written by save_pretrained (RUN/model)")
    parser.add_argument("--name", default=DEFAULT_MODEL)
    parser.add_argument("--hardware", default=None, help="replaces the card's hardware description")
    parser.add_argument("--initialised-from", default=None, help="the model the run started from")
    parser.add_argument("--initialised-from-label", default=None, help="its name in the card")
    parser.add_argument(
        "--kbeta-strip",
        action="store_true",
        help="the shipped model strips a Kβ residue found in its input (InputSpec.kbeta_strip)",
    )
    args = parser.parse_args()
    load_pretrained(args.folder)  # raises if the folder is not a valid model
    start = None
    if args.initialised_from is not None:
        # Read before the copy below, which may replace it (the usual case: a shipped name continued).
        start = initialised_from(args.initialised_from, args.initialised_from_label)
    target = PRETRAINED / args.name
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.folder / "weights.pt", target / "weights.pt")
    meta = json.loads((args.folder / "card.json").read_text(encoding="utf-8"))
    meta["card"]["shipped_as"] = args.name
    if args.hardware:
        meta["card"]["hardware"] = args.hardware
    if start is not None:
        meta["card"]["initialised_from"] = start
    if args.kbeta_strip:
        meta["input"]["kbeta_strip"] = True
    (target / "card.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    load_pretrained(target)
    print(f"shipped {args.folder} as {target}")


if __name__ == "__main__":
    main()
