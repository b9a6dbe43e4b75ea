"""Fit the sampler statistics shipped with xrdsynth (src/xrdsynth/sampler/default_statistics.json).

    python scripts/fit_default_statistics.py ../shared/data/amcsd-dev [--out PATH]

The argument is a folder of CIF files (searched recursively), here amcsd-dev: 7,607 mineral structures of
the American Mineralogist Crystal Structure Database as packed by the MIT-licensed larixite package (see
that folder's README.md and src/xrdsynth/sampler/PROVENANCE.md). Any other collection works the same way
(ICSD or COD exports: see docs/sampler.md). Prints a short summary; the output is deterministic for a given
folder and spglib version.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from xrdsynth.sampler import fit_statistics

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "xrdsynth" / "sampler" / "default_statistics.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="folder of CIF files, e.g. ../shared/data/amcsd-dev")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output JSON (default {DEFAULT_OUT})")
    parser.add_argument("--source", default=None, help="description stored in the file")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    source = args.source or (
        f"{args.folder.resolve().name}: CIF files fitted by scripts/fit_default_statistics.py"
    )
    start = time.perf_counter()
    stats = fit_statistics(args.folder, source=source)
    stats.save(args.out)
    print(
        f"fitted {stats.num_structures} structures ({stats.num_skipped} skipped) in "
        f"{time.perf_counter() - start:.0f} s -> {args.out}"
    )
    print(
        f"space groups seen: {len(stats.space_group_counts)}/230; packing fraction log-mean "
        f"{stats.packing_fraction_log_mean:.3f} (std {stats.packing_fraction_log_std:.3f})"
    )
    for key, quantiles in stats.summary.items():
        print(f"  {key}: {quantiles}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
