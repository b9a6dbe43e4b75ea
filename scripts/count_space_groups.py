"""Count the space groups of a structure collection, once per structure or once per mineral, for
``python -m xrdsynth.train --space-group-counts FILE``.

A collection of published structures holds many refinements of a few common minerals (amcsd-dev: 947
structures in Fm-3m, 8.2 % in Fd-3m, against 53 in P-1), so its counts per structure over-represent their
groups; counting each mineral once comes closer to how often a group is met among minerals.

Usage:
    python scripts/count_space_groups.py DATA_DIR [--per structure|mineral] --out FILE

``DATA_DIR`` holds an ``index.csv`` with the columns ``space_group`` (1..230) and ``mineral`` (as
amcsd-dev's). Per mineral, the first row of each mineral name counts and rows without a name (empty or
``<missing>``: 3,800 of amcsd-dev's, mostly cubic) are left out (the evaluation's "one structure per
mineral" keeps one of them, as if they were one mineral). Rows without a space group are passed over.
The file written is ``{"space_group_counts": {"1": n, ...}, "source": ..., "per": ..., "structures": ...,
"counted": ...}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

UNNAMED = {"", "<missing>"}


def space_group_counts(rows: list[dict[str, str]], per: str) -> Counter[int]:
    """Structures per space group, every row counted (``per="structure"``) or the first row of each
    mineral name (``per="mineral"``; unnamed rows left out)."""
    if per not in ("structure", "mineral"):
        raise ValueError(f"per must be 'structure' or 'mineral', got {per!r}")
    counts: Counter[int] = Counter()
    seen: set[str] = set()
    for row in rows:
        group_text = row.get("space_group", "").strip()
        if not group_text:
            continue
        group = int(group_text)
        if not 1 <= group <= 230:
            raise ValueError(f"space group {group} is not in 1..230")
        name = row.get("mineral", "").strip()
        if per == "mineral":
            if name in UNNAMED or name in seen:
                continue
            seen.add(name)
        counts[group] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data_dir", type=Path, help="folder with index.csv (e.g. ../shared/data/amcsd-dev)")
    parser.add_argument("--per", choices=["structure", "mineral"], default="mineral")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    index = args.data_dir / "index.csv"
    if not index.is_file():
        parser.error(f"{index} does not exist")
    with open(index, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    counts = space_group_counts(rows, args.per)
    total = sum(counts.values())
    result = {
        "space_group_counts": {str(g): counts[g] for g in sorted(counts)},
        "source": args.data_dir.name,
        "per": args.per,
        "structures": len(rows),
        "counted": total,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    common = ", ".join(f"{g}: {100 * n / total:.1f} %" for g, n in counts.most_common(8))
    print(f"{total} counted of {len(rows)} rows, {len(counts)} groups; most common {common}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
