"""Sampler statistics whose cell shapes come from one half of the amcsd-dev minerals, for A/B runs.

    python scripts/cells_of_half.py ../shared/data/amcsd-dev --mineral-half 0 --out FILE
        [--base default] [--cell-kernel-width W]

Writes the statistics ``--base`` (a shipped name or a file) with the cell shapes (``lattice``, the lattice
systems' fitted cells, and ``cells_by_group``, each space group's own) refitted with
:func:`xrdsynth.sampler.fit_statistics` on the structures of half of the minerals only: those whose name
(lower case) has a CRC-32 checksum with remainder K modulo 2, the split of ``scripts/compare_classifiers.py
--mineral-half``. A run trained on FILE has drawn no cell from the other half, so that half measures what
the cells do without testing on the cells trained on (docs/sampler.md, "Cell shapes by space group").
Everything else (compositions, volumes, distances) stays the base's. ``--cell-kernel-width`` sets the
kernel's noise (:class:`xrdsynth.sampler.SamplerStatistics`, ``cell_kernel_width``). Takes about 3 minutes of
one core (spglib on some 3,800 structures).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
from pathlib import Path

from xrdsynth.sampler import SamplerStatistics, SpaceGroupSampler, fit_statistics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_classifiers import mineral_halves


def half_files(folder: Path, half: int) -> list[Path]:
    """The CIF files of amcsd-dev (``index.csv``) whose mineral falls in ``half`` (0 or 1)."""
    with open(folder / "index.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    halves = mineral_halves(folder, [row["amcsd_id"] for row in rows])
    return [folder / row["file"] for row, h in zip(rows, halves, strict=True) if h == half]


def cells_of_half(
    base: SamplerStatistics, folder: Path, half: int, cell_kernel_width: float | None = None
) -> SamplerStatistics:
    """``base`` with ``lattice`` and ``cells_by_group`` fitted on the structures of ``half`` only."""
    files = half_files(folder, half)
    fitted = fit_statistics(files, source=f"{folder} (minerals of half {half})")
    changes: dict = {"lattice": fitted.lattice, "cells_by_group": fitted.cells_by_group}
    if cell_kernel_width is not None:
        changes["cell_kernel_width"] = cell_kernel_width
    summary = dict(base.summary)
    summary["cells_from"] = f"{len(files)} structures of mineral half {half} ({fitted.num_skipped} skipped)"
    changes["summary"] = summary
    return dataclasses.replace(base, **changes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="amcsd-dev folder (with index.csv)")
    parser.add_argument("--mineral-half", type=int, choices=(0, 1), required=True)
    parser.add_argument("--out", type=Path, required=True, help="output statistics JSON")
    parser.add_argument("--base", default="default", help="shipped statistics name or file")
    parser.add_argument("--cell-kernel-width", type=float, default=None, help="kernel noise (default: base)")
    args = parser.parse_args(argv)
    base = SpaceGroupSampler(statistics=args.base).resolved_statistics()
    stats = cells_of_half(base, args.folder, args.mineral_half, args.cell_kernel_width)
    stats.save(args.out)
    groups = len(stats.cells_by_group)
    cells = sum(len(rows) for rows in stats.cells_by_group.values())
    print(
        f"{args.out}: cells of mineral half {args.mineral_half}: {stats.summary['cells_from']}; "
        f"{groups} space groups keep their own ({cells} cells); cell_kernel_width {stats.cell_kernel_width}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
