"""Write the sampler's precomputed Wyckoff tables (src/xrdsynth/sampler/_wyckoff_tables.npz).

For all 230 space groups: every Wyckoff position's first site, free directions and coset representatives
(from xrdsynth.symmetry.wyckoff_positions), and which positions and pairs of positions certify the group
(spglib on random instances at symprec 1e-3; see xrdsynth.sampler.write_wyckoff_tables). Deterministic for
a given seed and spglib version; tests/test_sampler.py compares the file with the derivation on a subset of
groups.

    python scripts/build_sampler_tables.py [--seed 0] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from xrdsynth.sampler import write_wyckoff_tables

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "xrdsynth" / "sampler" / "_wyckoff_tables.npz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random instances (default 0)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    summary = write_wyckoff_tables(args.out, seed=args.seed)
    print(f"wrote {args.out}: {summary} ({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
