"""Training-step throughput of the shipped classifier's network: float32 against bfloat16 mixed precision.

    python benchmarks/train_step.py [--threads 1] [--rounds 5] [--batch 128] [--note "..."]

One optimiser step as ``xrdsynth.train`` takes it (forward, float32 cross-entropy with label smoothing,
backward, gradient clipping, AdamW) on the shipped architecture (``load_pretrained()``'s architecture and
input length), with ``TrainConfig(precision="float32")`` and ``"bfloat16"`` alternating step by step in one
process, so that both see the same machine. Patterns are random: the step's cost does not depend on them.
Prints the median step time of each, patterns/s and the ratio bfloat16 / float32 (> 1: bfloat16 faster).

bfloat16 is fast only where the CPU has bfloat16 instructions (AVX512-BF16, AMX); the script prints whether
this one has (from /proc/cpuinfo on Linux). Run it on a quiet machine (no training run or test suite beside).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import xrdsynth as xs
from xrdsynth.models import build_model, load_pretrained
from xrdsynth.train import PRECISIONS


def cpu_flags() -> str:
    """The bfloat16-related instruction sets of this CPU, or 'unknown'."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = {f for line in text.splitlines() if line.startswith("flags") for f in line.split()}
    found = sorted(f for f in flags if "bf16" in f or f.startswith("amx"))
    return ", ".join(found) or "none"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as training uses)")
    parser.add_argument("--rounds", type=int, default=5, help="timed steps per precision (default 5)")
    parser.add_argument("--batch", type=int, default=128, help="patterns per step (default 128)")
    parser.add_argument("--note", default="", help="what else ran on the machine")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    shipped = load_pretrained()
    network = build_model(shipped.architecture, **shipped.architecture_kwargs)
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    patterns = torch.rand((args.batch, shipped.spec.num_points), generator=generator)
    labels = torch.randint(0, 230, (args.batch,), generator=generator)

    def step(dtype: torch.dtype | None) -> float:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            logits = network(patterns)
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=0.05)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 5.0)
        optimizer.step()
        return time.perf_counter() - start

    times: dict[str, list[float]] = {name: [] for name in PRECISIONS}
    for dtype in PRECISIONS.values():  # warm-up (oneDNN picks its kernels on the first calls)
        step(dtype)
        step(dtype)
    for _ in range(args.rounds):
        for name, dtype in PRECISIONS.items():
            times[name].append(step(dtype))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"xrdsynth {xs.__version__}, torch {torch.__version__}, {args.threads} thread(s), "
        f"batch {args.batch}, {shipped.architecture} {shipped.architecture_kwargs}, "
        f"{shipped.spec.num_points} points"
    )
    print(f"CPU bfloat16 instructions: {cpu_flags()}" + (f"; note: {args.note}" if args.note else ""))
    for name in PRECISIONS:
        print(
            f"{name:>9}: median step {median[name]:.3f} s, {args.batch / median[name]:.0f} patterns/s "
            f"(slowest {max(times[name]):.3f} s)"
        )
    print(f"ratio bfloat16 / float32 (patterns/s): {median['float32'] / median['bfloat16']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
