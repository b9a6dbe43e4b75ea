"""Confirm every derived Wyckoff position of the 230 space groups against spglib (and PyXtal when installed).

For each position of each group: an orbit from random free parameters plus two atoms of other species on
random general positions, in a random cell of the group's lattice system, must be recognised by spglib
(symprec 1e-3, no setting imposed) as exactly that group in the same setting, with the orbit as one set of
`multiplicity` equivalent atoms carrying the claimed Wyckoff letter and site-symmetry symbol. The check is
repeated with --trials different random draws per position.

    python scripts/check_wyckoff.py [--trials 3] [--seed 0]

Prints one line per failing position and a final line "N/1731 Wyckoff positions confirmed ...".
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import spglib
from tqdm import tqdm

from xrdsynth.symmetry import SpaceGroup, WyckoffPosition
from xrdsynth.testing import generic_lattice, generic_parameters


def random_cell(system: str, rng: np.random.Generator) -> np.ndarray:
    """The generic cell of the lattice system, with lengths and free angles jittered by a few percent."""
    base = generic_lattice(system)
    lengths = np.linalg.norm(base, axis=1) * rng.uniform(0.97, 1.03, 3)
    if system in ("tetragonal", "hexagonal", "rhombohedral"):
        lengths[1] = lengths[0]
    if system == "cubic":
        lengths[:] = lengths[0]
    return base / np.linalg.norm(base, axis=1)[:, None] * lengths[:, None]


def check(group: SpaceGroup, w: WyckoffPosition, rng: np.random.Generator) -> str | None:
    """None when spglib confirms the position, else what went wrong."""
    general = group.wyckoff_positions[-1]
    sites = w.orbit(generic_parameters(rng, w.dof))
    extra = [general.orbit(generic_parameters(rng, 3)) for _ in range(2)]
    positions = np.concatenate([sites, *extra])
    types = np.repeat([1, 2, 3], [len(sites), len(extra[0]), len(extra[1])])
    data = spglib.get_symmetry_dataset((random_cell(group.lattice_system, rng), positions, types),
                                       symprec=1e-3)
    if data is None:
        return "spglib found no symmetry"
    if (data.number, data.hall_number) != (group.number, group.hall_number):
        return f"spglib says group {data.number} (Hall {data.hall_number})"
    n = len(sites)
    if n != w.multiplicity or np.count_nonzero(data.equivalent_atoms == data.equivalent_atoms[0]) != n:
        return f"orbit of {n} atoms, spglib equivalence class differs from multiplicity {w.multiplicity}"
    if set(data.wyckoffs[:n]) != {w.letter} or set(data.site_symmetry_symbols[:n]) != {w.site_symmetry}:
        return f"spglib says {set(data.wyckoffs[:n])} {set(data.site_symmetry_symbols[:n])}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=3, help="random draws per position (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    total = confirmed = 0
    for number in tqdm(range(1, 231), desc="space groups", unit="group"):
        group = SpaceGroup(number)
        for w in group.wyckoff_positions:
            total += 1
            problems = [p for p in (check(group, w, rng) for _ in range(args.trials)) if p]
            if problems:
                tqdm.write(f"group {number} {group.symbol} {w.label} ({w.site_symmetry}): {problems[0]}")
            else:
                confirmed += 1
    elapsed = time.perf_counter() - start
    print(f"{confirmed}/{total} Wyckoff positions confirmed by spglib over 230 space groups "
          f"({args.trials} random draws each, {elapsed:.1f} s)")
    return 0 if confirmed == total == 1731 else 1


if __name__ == "__main__":
    sys.exit(main())
