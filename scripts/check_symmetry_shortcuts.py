"""Check PowderSimulator's symmetry shortcuts on a directory of CIFs: patterns with and without them.

Usage:
    python scripts/check_symmetry_shortcuts.py DATA_DIR [--limit N] [--batch 64] [--dtype float64]

The simulator finds inversion through the origin and centring translations (A, B, C, I, F, R) on each
crystal's atoms (``lattice_symmetry``) and uses them to skip sine sums, reflections a centring forbids and
atoms that a centring translation repeats. Those shortcuts must not change a pattern. For every file of
``DATA_DIR/cifs`` that reads (with IT92 form factors for all its elements), this script simulates the
pattern (Cu Kα1, 5–90°, 8501 points, Scherrer 50 nm) twice: as the simulator does, and with every crystal
treated as P1 without inversion (``PowderSimulator(symmetry_shortcuts=False)``). It prints
the largest difference (patterns normalised to maximum 1), the structures above ``--tolerance`` and how
many crystals each shortcut applied to.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import xrdsynth as xs
from xrdsynth.simulate import functional as F


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--limit", type=int, default=None, help="first N files only")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument(
        "--tolerance", type=float, default=None, help="default 1e-9 (float64), 1e-4 (float32)"
    )
    args = parser.parse_args(argv)
    dtype = getattr(torch, args.dtype)
    tolerance = args.tolerance or (1e-9 if dtype == torch.float64 else 1e-4)

    files = sorted((args.data_dir / "cifs").glob("*.cif"))[: args.limit]
    crystals, names = [], []
    for path in tqdm(files, desc="reading", unit="cif"):
        try:
            crystal = xs.Crystal.from_cif(path)
        except (xs.CIFError, ValueError):
            continue
        if crystal.numbers.min() < 1 or crystal.numbers.max() > F.MAX_FORM_FACTOR_Z:
            continue  # the simulator rejects these (no IT92 form factor)
        crystals.append(crystal)
        names.append(path.name)
    sim = xs.PowderSimulator(crystallite_size_nm=50.0, dtype=dtype)
    general_sim = xs.PowderSimulator(crystallite_size_nm=50.0, dtype=dtype, symmetry_shortcuts=False)
    worst, failures = 0.0, []
    centric = 0
    centrings = np.zeros(len(F.CENTRINGS), dtype=np.int64)
    with torch.no_grad():
        for start in tqdm(range(0, len(crystals), args.batch), desc="simulating", unit="batch"):
            chunk = crystals[start : start + args.batch]
            batch = xs.CrystalBatch.from_crystals(chunk, dtype=dtype)
            types = F.scatterer_types(batch.numbers, batch.b_iso, batch.mask)
            found = F.lattice_symmetry(
                batch.frac_coords, batch.occupancies, types.index, types.numbers.shape[1], batch.mask
            )
            centric += int(found.centric.sum())
            centrings += np.bincount(found.centring.numpy(), minlength=len(F.CENTRINGS))
            fast = sim(batch)
            general = general_sim(batch)
            difference = (fast - general).abs().amax(dim=1)
            worst = max(worst, float(difference.max()))
            for i in torch.nonzero(difference > tolerance).flatten().tolist():
                failures.append((names[start + i], float(difference[i])))
    print(f"{len(crystals)} of {len(files)} files read with elements up to Cf; {args.dtype}")
    print(
        f"centric at the origin: {centric}; centrings: "
        + ", ".join(f"{c} {n}" for c, n in zip(F.CENTRINGS, centrings, strict=True))
    )
    print(f"largest difference with and without the shortcuts: {worst:.3g} of the pattern maximum")
    print(f"structures above {tolerance:g}: {len(failures)}")
    for name, value in sorted(failures, key=lambda item: -item[1])[:20]:
        print(f"  {name}: {value:.3g}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
