"""Refit the sampler statistics on your own CIF collection and sample from them.

    python examples/refit_statistics.py [FOLDER_OF_CIFS] [--out my_statistics.json]

Without a folder it fits on the 37 AMCSD structures bundled with the tests (tests/data/cifs), which takes a
few seconds. With an ICSD or COD export, pass its folder: every *.cif (and *.cif.gz) below it is read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from xrdsynth.sampler import SamplerStatistics, SpaceGroupSampler, calibrate_volume_shift, fit_statistics

BUNDLED = Path(__file__).resolve().parents[1] / "tests" / "data" / "cifs"

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("folder", nargs="?", type=Path, default=BUNDLED, help="folder of CIF files")
parser.add_argument("--out", type=Path, default=Path("my_statistics.json"), help="where to save the fit")
args = parser.parse_args()

# 1. Fit: space groups, element sets, Wyckoff letters, sites per element, effective volumes per element,
#    minimum distances per pair of elements, cell shapes and the shortest cell edge.
stats = fit_statistics(args.folder, source=f"my collection: {args.folder}")
print(
    f"fitted {stats.num_structures} structures ({stats.num_skipped} skipped), "
    f"{len(stats.space_group_counts)} space groups seen, "
    f"O-Si minimum distance {stats.min_distance('O', 'Si'):.2f} Å"
)

# 2. Calibrate the volumes: the sampler needs a little more room than ordered real crystals, and this
#    shifts the drawn volumes so that its median volume per atom and density match the collection's
#    (a few hundred crystals suffice for a small collection; the shipped statistics use 2,000).
stats = calibrate_volume_shift(stats, crystals=200, rounds=2)
print(f"volume shift {stats.volume_shift:+.3f}")

# 3. Save to one JSON file (counts, moments and fitted numbers only, no structures) and read it back.
stats.save(args.out)
stats = SamplerStatistics.load(args.out)

# 4. Sample from it: pass the file (or the object) as `statistics`.
sampler = SpaceGroupSampler(statistics=args.out, seed=0)
batch = sampler.sample(8)
for crystal in batch.to_crystals()[:4]:
    print(" ", crystal)
print(sampler.counters.summary())
