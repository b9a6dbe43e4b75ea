"""Spglib label rate of SpaceGroupSampler over the 230 space groups.

For every group, N crystals are sampled with ``sample(N, space_group=g)`` from the default sampler (labels
from the certificates alone; ``--verify`` adds the sampler's own spglib check, which redraws the crystals
with more symmetry) and spglib (symprec 1e-3 Å,
through Crystal.detect_space_group) must find exactly g. Prints the overall rate, the worst groups, the
sampler's redraws per group (geometries per crystal: 1 means no redraw; cell expansions per crystal), and
exits with status 1 when some group is below the promised 99.5%.

    python scripts/check_sampler_labels.py [--per-group 50] [--seed 0] [--symprec 1e-3] [--groups 1-230]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from tqdm.auto import tqdm

from xrdsynth.sampler import SpaceGroupSampler

PROMISED_RATE = 0.995


def parse_groups(text: str) -> list[int]:
    """'1-230' or '1,2,62' or '1-10,225' -> list of ints."""
    groups: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        groups.extend(range(int(low), int(high or low) + 1))
    return groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--per-group", type=int, default=50, help="crystals per space group (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--symprec", type=float, default=1e-3, help="spglib tolerance in Å (default 1e-3)")
    parser.add_argument("--groups", default="1-230", help="groups to check, e.g. 1-230 or 1,2,62")
    parser.add_argument("--worst", type=int, default=10, help="how many of the worst groups to list")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="sample with verify_symprec=SYMPREC (the sampler's own spglib check and redraws; default: the "
        "sampler's default, labels from the certificates alone)",
    )
    args = parser.parse_args(argv)
    sampler = SpaceGroupSampler(seed=args.seed, verify_symprec=args.symprec if args.verify else None)
    groups = parse_groups(args.groups)
    start = time.perf_counter()
    rates, failures = {}, {}
    for g in tqdm(groups, desc="space groups", unit="group"):
        crystals = sampler.sample(args.per_group, space_group=g).to_crystals()
        found = []
        for crystal in crystals:
            try:
                found.append(crystal.detect_space_group(symprec=args.symprec))
            except ValueError:
                found.append(0)  # spglib failed: counted as wrong
        found_array = np.array(found)
        rates[g] = float(np.mean(found_array == g))
        failures[g] = sorted(set(found_array[found_array != g].tolist()))
    elapsed = time.perf_counter() - start
    total = len(groups) * args.per_group
    correct = sum(rates[g] * args.per_group for g in groups)
    print(
        f"label rate {correct / total:.4%} ({round(correct)}/{total} crystals, {len(groups)} groups x "
        f"{args.per_group}, seed {args.seed}, symprec {args.symprec} Å, {elapsed:.0f} s)"
    )
    print(sampler.counters.summary())
    worst = sorted(groups, key=lambda g: (rates[g], g))[: args.worst]
    print(
        "worst groups: "
        + ", ".join(
            f"{g}: {rates[g]:.1%}" + (f" (found {failures[g]})" if failures[g] else "") for g in worst
        )
    )
    by_group = sampler.counters.by_group()
    redraws = sorted(groups, key=lambda g: -by_group[g][1])[: args.worst]
    print(
        "redraws per space group (geometries per crystal, cell expansions per crystal), most first: "
        + ", ".join(f"{g}: {by_group[g][1]:.2f}, {by_group[g][2]:.2f}" for g in redraws)
    )
    median = float(np.median([by_group[g][1] for g in groups]))
    print(f"median over the groups: {median:.2f} geometries per crystal")
    if sampler.verify_symprec is not None:
        rejections = sampler.counters.rejection_rates()
        most = sorted(groups, key=lambda g: -rejections[g])[: args.worst]
        print(
            "crystals redrawn after the sampler's own spglib check "
            f"(verify_symprec={sampler.verify_symprec}), per crystal returned, most first: "
            + ", ".join(f"{g}: {rejections[g]:.1%}" for g in most)
        )
    below = [g for g in groups if rates[g] < PROMISED_RATE]
    print(f"groups below {PROMISED_RATE:.1%}: {below if below else 'none'}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
