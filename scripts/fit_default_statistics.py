"""Fit the sampler statistics shipped with xrdsynth (src/xrdsynth/sampler/default_statistics.json).

    python scripts/fit_default_statistics.py ../shared/data/amcsd-dev [--out PATH] [--max-per-compound K]

Fits the statistics (xrdsynth.sampler.fit_statistics), then calibrates the volume shift so that the
sampler's median volume per atom is the collection's (xrdsynth.sampler.calibrate_volume_shift). The
argument is a folder of CIF files (searched recursively), here amcsd-dev: 7,607 mineral structures of
the American Mineralogist Crystal Structure Database as packed by the MIT-licensed larixite package (see
that folder's README.md and src/xrdsynth/sampler/PROVENANCE.md). Any other collection works the same way
(ICSD or COD exports: see docs/sampler.md). Prints a short summary; the output is deterministic for a given
folder and spglib version. Takes about 5 minutes of one core for amcsd-dev (spglib and the pair distances
of every structure). ``--max-per-compound K`` counts at most K structures of one compound (space group and
formula; ``fit_statistics(max_per_compound=K)``): the shipped file counts every structure.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from xrdsynth.sampler import calibrate_volume_shift, fit_statistics

COMMON = ("O", "Si", "Al", "Fe", "Ca", "Na")
COMMON_PAIRS = (("O", "O"), ("Si", "O"), ("H", "O"), ("Ca", "Ca"), ("Fe", "Fe"))
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "xrdsynth" / "sampler" / "default_statistics.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="folder of CIF files, e.g. ../shared/data/amcsd-dev")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output JSON (default {DEFAULT_OUT})")
    parser.add_argument("--source", default=None, help="description stored in the file")
    parser.add_argument(
        "--calibration-crystals",
        type=int,
        default=2000,
        help="crystals sampled per round of calibrate_volume_shift (default 2000)",
    )
    parser.add_argument(
        "--max-per-compound",
        type=int,
        default=None,
        metavar="K",
        help="count at most K structures of one compound (space group and formula; default: every one)",
    )
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    source = args.source or (
        f"{args.folder.resolve().name}: CIF files fitted by scripts/fit_default_statistics.py"
    )
    start = time.perf_counter()
    stats = fit_statistics(args.folder, source=source, max_per_compound=args.max_per_compound)
    fitted = time.perf_counter() - start
    stats = calibrate_volume_shift(stats, crystals=args.calibration_crystals)
    stats.save(args.out)
    print(
        f"fitted {stats.num_structures} structures ({stats.num_skipped} skipped, "
        f"{stats.summary['repeats_left_out']} left out as repeats of a compound) in {fitted:.0f} s, "
        f"calibrated the volume shift to {stats.volume_shift:+.3f} in "
        f"{time.perf_counter() - start - fitted:.0f} s -> {args.out}"
    )
    print(
        f"space groups seen: {len(stats.space_group_counts)}/230; packing fraction log-mean "
        f"{stats.packing_fraction_log_mean:.3f} (std {stats.packing_fraction_log_std:.3f})"
    )
    sets = sum(len(c) for c in stats.element_set_counts.values())
    volumes = ", ".join(f"{k} {v:.2f}" for k, v in stats.element_volumes.items() if k in COMMON)
    print(
        f"element sets: {sets}; effective volumes of {len(stats.element_volumes)} elements (Å³: {volumes}); "
        f"volume residual log-std {stats.summary['volume_residual_log_std']:.3f} "
        f"(packing fraction: {stats.summary['packing_fraction_log_std']:.3f})"
    )
    pairs = ", ".join(f"{a}-{b} {stats.min_distance(a, b):.2f}" for a, b in COMMON_PAIRS)
    print(
        f"minimum distances (quantile {stats.min_distance_quantile}) of {len(stats.min_distances)} pairs "
        f"(Å: {pairs}); other pairs {stats.min_distance_radii_scale:.3f} x radii sum; "
        f"shortest cell edge {stats.min_cell_edge:.2f} Å"
    )
    for key, quantiles in stats.summary.items():
        print(f"  {key}: {quantiles}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
