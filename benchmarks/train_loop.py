"""Throughput of the whole training loop (data made by DataLoader workers, network trained) with one crystal
per pattern against ``--crystal-reuse R`` (each sampled crystal simulated R times with its own laboratory
draws).

    python benchmarks/train_loop.py [--reuse 4] [--steps 120] [--rounds 2] [--workers 2] [--note "..."]

Each run is ``xrdsynth.train.train`` with the shipped classifier's recipe (from its card: architecture,
grid, preset, clean fraction, statistics, group weights, precision) from random weights, ``--steps`` steps of
its batch size, ``--workers`` data processes and one torch thread, in a temporary folder; crystal_reuse 1 and
R alternate run by run, so that both see the same machine. Patterns/s come from each run's metrics.csv
between the first logged step at or after ``--skip`` (the workers' start and the first batches excluded)
and the last. Prints the median patterns/s of each setting and the ratio R / 1 (> 1: reuse faster).

Run it on a quiet machine: a busy core slows everything here several times over.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
from pathlib import Path

import torch

import xrdsynth as xs
from xrdsynth.models import load_pretrained
from xrdsynth.train import TrainConfig, train


def loop_rate(folder: Path, skip: int) -> float:
    """Patterns per second of a finished run between its first logged step >= ``skip`` and its last."""
    with open(folder / "metrics.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if int(r["step"]) >= skip]
    if len(rows) < 2:
        raise ValueError(f"{folder}: fewer than two metric rows after step {skip}; raise --steps")
    first, last = rows[0], rows[-1]
    return (int(last["samples"]) - int(first["samples"])) / (
        float(last["elapsed_s"]) - float(first["elapsed_s"])
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reuse", type=int, default=4, help="crystal_reuse compared with 1 (default 4)")
    parser.add_argument("--steps", type=int, default=120, help="steps per run (default 120)")
    parser.add_argument("--skip", type=int, default=20, help="steps left out at the start (default 20)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per setting (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2)")
    parser.add_argument("--note", default="", help="what else ran on the machine")
    args = parser.parse_args(argv)
    if args.steps < args.skip + 20:
        parser.error("--steps must exceed --skip by at least 20")
    recipe = dict(load_pretrained().card["recipe"])
    fields = set(TrainConfig.__dataclass_fields__)
    rates: dict[int, list[float]] = {1: [], args.reuse: []}
    with tempfile.TemporaryDirectory(prefix="xrdsynth-loop-") as tmp:
        for round_ in range(args.rounds):
            for reuse in rates:
                out = Path(tmp) / f"r{reuse}-{round_}"
                config = TrainConfig(**{
                    **{k: v for k, v in recipe.items() if k in fields},
                    "out": str(out), "steps": args.steps, "init_from": None, "crystal_reuse": reuse,
                    "workers": args.workers, "threads": 1, "device": "cpu", "warmup_steps": 10,
                    "checkpoint_every": args.steps, "snapshot_every": 0, "eval_every": args.steps,
                    "eval_patterns": 16, "log_every": 10, "seed": round_,
                })  # fmt: skip
                train(config, progress=False)
                rates[reuse].append(loop_rate(out, args.skip))
                rate = rates[reuse][-1]
                print(f"  round {round_ + 1}, crystal_reuse {reuse}: {rate:.0f} patterns/s", flush=True)
    median = {reuse: statistics.median(values) for reuse, values in rates.items()}
    print(
        f"xrdsynth {xs.__version__}, torch {torch.__version__}, {torch.get_num_threads()} thread(s) here, "
        f"{args.workers} worker(s), the shipped recipe ({recipe['architecture']} "
        f"{recipe['architecture_kwargs']}, statistics {recipe.get('statistics')!r}, batch "
        f"{recipe['batch_size']})" + (f"; note: {args.note}" if args.note else "")
    )
    for reuse, value in median.items():
        print(f"crystal_reuse {reuse}: median {value:.0f} patterns/s over {args.rounds} run(s)")
    print(f"ratio crystal_reuse {args.reuse} / 1 (patterns/s): {median[args.reuse] / median[1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
