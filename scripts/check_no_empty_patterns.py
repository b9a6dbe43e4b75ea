"""Sample and simulate patterns as training does, and count the unusable ones (all zero or not finite).

    python scripts/check_no_empty_patterns.py [--patterns 1000000] [--batch-size 128] [--seed 0]
        [--first-batch 0]

The sampler and the simulators are those of ``xrdsynth.train`` with its default configuration
(``TrainConfig()``: 5-90° on 4,251 points, Cu Kα1, half the batches as laboratory scans, some of them
starting late), fed through ``SyntheticPowderDataset``, which redraws the crystals whose pattern is
unusable. The script checks every pattern it is given, and prints the dataset's redraw count and the
sampler's redraws (geometries, cell expansions, per space group). Exits with status 1 when any pattern
handed out is all zero or not finite. Patterns per second are printed too; on a shared machine they say
little.

Every batch is made from (seed, batch index) alone, so a long check can be split into parts that run at
different times or side by side: ``--first-batch F --patterns N`` checks batches F, F + 1, ... of the same
stream (N / batch size of them), exactly the batches a single run over all of them would check.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from xrdsynth.data import SyntheticPowderDataset
from xrdsynth.train import TrainConfig, build_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patterns", type=int, default=1_000_000, help="patterns to check (default 1e6)")
    parser.add_argument("--batch-size", type=int, default=TrainConfig().batch_size)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first-batch", type=int, default=0, help="first batch index of the stream to check")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--report-every", type=int, default=100, help="batches between progress lines")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = TrainConfig(batch_size=args.batch_size, seed=args.seed)
    sampler, simulator = build_data(config, torch.device(args.device))
    batches = -(-args.patterns // args.batch_size)
    dataset = SyntheticPowderDataset(
        sampler,
        simulator,
        batch_size=args.batch_size,
        num_batches=args.first_batch + batches,
        seed=args.seed,
        start_batch=args.first_batch,
    )
    zero = nonfinite = checked = 0
    start = time.perf_counter()
    for index, (patterns, _) in enumerate(dataset):
        nonfinite += int((~torch.isfinite(patterns).all(dim=1)).sum())
        zero += int((patterns.amax(dim=1) <= 0).sum())
        checked += len(patterns)
        if (index + 1) % args.report_every == 0:
            print(
                f"{checked} patterns: {zero} all zero, {nonfinite} not finite, {dataset.pattern_redraws} "
                f"crystals redrawn by the dataset ({checked / (time.perf_counter() - start):.0f} patterns/s)",
                flush=True,
            )
    elapsed = time.perf_counter() - start
    print(
        f"checked {checked} patterns (batches {args.first_batch} to {args.first_batch + batches - 1} of "
        f"{args.batch_size}, default training configuration, seed {args.seed}) in {elapsed:.0f} s "
        f"({checked / elapsed:.0f} patterns/s)"
    )
    print(f"patterns handed out all zero: {zero}; not finite: {nonfinite}")
    print(f"crystals redrawn by the dataset because their pattern was unusable: {dataset.pattern_redraws}")
    counters = sampler.counters
    print(f"sampler: {counters.summary()}")
    worst = sorted(counters.by_group().items(), key=lambda item: -item[1][1])[:5]
    print(
        "most geometries per crystal: "
        + ", ".join(f"{g}: {geo:.2f} ({exp:.2f} expansions)" for g, (_, geo, exp) in worst)
    )
    return 1 if zero or nonfinite else 0


if __name__ == "__main__":
    sys.exit(main())
