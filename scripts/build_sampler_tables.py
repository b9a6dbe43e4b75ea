"""Write the sampler's precomputed Wyckoff tables (src/xrdsynth/sampler/_wyckoff_tables.npz).

For all 230 space groups: every Wyckoff position's first site, free directions and coset representatives
(from xrdsynth.symmetry.wyckoff_positions), and which positions and pairs of positions certify the group
(spglib on random instances at symprec 1e-3; see xrdsynth.sampler._tables). Deterministic for a given seed
and spglib version; tests/test_sampler.py compares the file with the derivation on a subset of groups.

    python scripts/build_sampler_tables.py [--seed 0] [--out PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from xrdsynth.sampler._tables import TABLES_FILE, derive_tables, save_tables

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "xrdsynth" / "sampler" / TABLES_FILE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random instances (default 0)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    tables = derive_tables(np.random.default_rng(args.seed))
    save_tables(tables, str(args.out))
    n_groups_single = sum(bool(tables.faithful[tables.positions_of(g)].any()) for g in range(1, 231))
    print(
        f"wrote {args.out}: {len(tables.letter)} positions, {len(tables.rotations)} operations, "
        f"{int(tables.faithful.sum())} faithful positions; {n_groups_single}/230 groups have one "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
