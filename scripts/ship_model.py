"""Copy a trained classifier into the package as a shipped model.

    python scripts/ship_model.py RUN/model [--name xrdsynth-resnet-cu] [--hardware "AMD EPYC (2 cores), ..."]

Checks that the folder loads (weights match the card's checksum and the architecture), copies weights.pt and
card.json to src/xrdsynth/models/pretrained/NAME/ with ordinary file permissions, and records the shipped
name (and, with --hardware, a fuller description of the training hardware than the run could detect) in the
card. Afterwards: scripts/evaluate_classifier.py --model that folder --write-card, then
scripts/write_model_card.py, and the bundle's entry in SHIPPED of tests/test_architectures.py (architecture,
weights sha256, configuration fingerprint: new weights under a shipped name fail the tests until it is
updated, so a shipped name always means one set of weights).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from xrdsynth.models import DEFAULT_MODEL, load_pretrained

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="a folder written by save_pretrained (RUN/model)")
    parser.add_argument("--name", default=DEFAULT_MODEL)
    parser.add_argument("--hardware", default=None, help="replaces the card's hardware description")
    args = parser.parse_args()
    load_pretrained(args.folder)  # raises if the folder is not a valid model
    target = ROOT / "src" / "xrdsynth" / "models" / "pretrained" / args.name
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.folder / "weights.pt", target / "weights.pt")
    meta = json.loads((args.folder / "card.json").read_text(encoding="utf-8"))
    meta["card"]["shipped_as"] = args.name
    if args.hardware:
        meta["card"]["hardware"] = args.hardware
    (target / "card.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    load_pretrained(target)
    print(f"shipped {args.folder} as {target}")


if __name__ == "__main__":
    main()
