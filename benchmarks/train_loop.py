"""Throughput of the whole training loop (data made by DataLoader workers, network trained): one crystal per
pattern against ``--crystal-reuse R`` (each sampled crystal simulated R times with its own laboratory
draws), or, with ``--processes``, torch threads against data workers.

    python benchmarks/train_loop.py [--reuse 4] [--steps 120] [--rounds 2] [--workers 2] [--note "..."]
    python benchmarks/train_loop.py --processes 2:1,1:1,1:2 [--steps 100] [--rounds 2] [--precision float32]

Each run is ``xrdsynth.train.train`` with the shipped classifier's recipe (from its card: architecture,
grid, preset, clean fraction, statistics, group weights, precision, consistency) from random weights,
``--steps`` steps of its batch size, in a temporary folder. By default crystal_reuse 1 and R alternate run
by run (``--workers`` data processes, one torch thread), so that both see the same machine; with
``--processes T:W,...`` the settings of T torch threads and W data workers alternate (the recipe's own
crystal_reuse), and each is compared with the first. ``--precision`` replaces the recipe's (bfloat16, which
a CPU without AVX512-BF16 or AMX emulates 13x slower than float32). Patterns/s come from each run's
metrics.csv between the first logged step at or after ``--skip`` (the workers' start and the first batches
excluded) and the last. Prints the median patterns/s of each setting and the ratios (> 1: faster than the
reference).

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


def parse_processes(text: str) -> list[tuple[int, int]]:
    """``"2:1,1:2"`` -> [(2, 1), (1, 2)]: (torch threads >= 1, data workers >= 0) per setting."""
    settings = []
    for item in text.split(","):
        threads, sep, workers = item.partition(":")
        try:
            pair = (int(threads), int(workers))
        except ValueError:
            pair = (0, -1)
        if not sep or pair[0] < 1 or pair[1] < 0:
            raise ValueError(f"--processes wants THREADS:WORKERS pairs such as 2:1,1:2, got {item!r}")
        settings.append(pair)
    if len(settings) < 2 or len(set(settings)) < len(settings):
        raise ValueError(f"--processes wants at least two different settings, got {text!r}")
    return settings


def shipped_recipe(precision: str | None = None) -> dict:
    """The shipped classifier's training recipe (its card's), with ``precision`` in place of the recipe's
    where given."""
    recipe = dict(load_pretrained().card["recipe"])
    if precision is not None:
        recipe["precision"] = precision
    return recipe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reuse", type=int, default=4, help="crystal_reuse compared with 1 (default 4)")
    parser.add_argument(
        "--processes",
        default=None,
        help="compare THREADS:WORKERS settings instead of crystal_reuse, e.g. 2:1,1:2 (the first: reference)",
    )
    parser.add_argument("--steps", type=int, default=120, help="steps per run (default 120)")
    parser.add_argument("--skip", type=int, default=20, help="steps left out at the start (default 20)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per setting (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2)")
    parser.add_argument(
        "--precision", choices=("float32", "bfloat16"), default=None,
        help="the network's arithmetic (default: the recipe's)",
    )  # fmt: skip
    parser.add_argument("--note", default="", help="what else ran on the machine")
    args = parser.parse_args(argv)
    if args.steps < args.skip + 20:
        parser.error("--steps must exceed --skip by at least 20")
    recipe = shipped_recipe(args.precision)
    fields = set(TrainConfig.__dataclass_fields__)
    if args.processes is not None:
        try:
            pairs = parse_processes(args.processes)
        except ValueError as error:
            parser.error(str(error))
        settings = {f"{t} thread(s), {w} worker(s)": {"threads": t, "workers": w} for t, w in pairs}
        compared = f"crystal_reuse {recipe.get('crystal_reuse', 1)} of the recipe"
    else:
        settings = {
            f"crystal_reuse {r}": {"crystal_reuse": r, "threads": 1, "workers": args.workers}
            for r in (1, args.reuse)
        }
        compared = f"{args.workers} worker(s), 1 torch thread"
    rates: dict[str, list[float]] = {name: [] for name in settings}
    with tempfile.TemporaryDirectory(prefix="xrdsynth-loop-") as tmp:
        for round_ in range(args.rounds):
            for k, (name, setting) in enumerate(settings.items()):
                out = Path(tmp) / f"s{k}-{round_}"
                config = TrainConfig(**{
                    **{key: v for key, v in recipe.items() if key in fields},
                    "out": str(out), "steps": args.steps, "init_from": None, "device": "cpu",
                    "warmup_steps": 10, "checkpoint_every": args.steps, "snapshot_every": 0,
                    "eval_every": args.steps, "eval_patterns": 16, "log_every": 10, "seed": round_,
                    **setting,
                })  # fmt: skip
                train(config, progress=False)
                rates[name].append(loop_rate(out, args.skip))
                print(f"  round {round_ + 1}, {name}: {rates[name][-1]:.0f} patterns/s", flush=True)
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"xrdsynth {xs.__version__}, torch {torch.__version__}, {compared}, the shipped recipe "
        f"({recipe['architecture']} {recipe['architecture_kwargs']}, statistics "
        f"{recipe.get('statistics')!r}, batch {recipe['batch_size']}, {recipe.get('precision', 'float32')})"
        + (f"; note: {args.note}" if args.note else "")
    )
    for name, value in median.items():
        print(f"{name}: median {value:.0f} patterns/s over {args.rounds} run(s)")
    reference, *others = median
    for name in others:
        print(f"ratio {name} / {reference} (patterns/s): {median[name] / median[reference]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
