"""Train a tiny space-group classifier on synthetic crystals, load it back and classify a simulated pattern.

    python examples/train_small.py [--out runs/small] [--steps 30] [--batch-size 16]

Every step draws new random crystals of all 230 space groups, simulates their powder patterns on a 1000-point
grid and takes one optimiser step (``xrdsynth.train``); the run folder (a temporary one unless ``--out`` is
given) receives ``metrics.csv``, a checkpoint and ``model/``, which ``xrdsynth.models.load_pretrained`` reads.
The defaults finish in well under a minute on two CPU cores. Thirty steps teach the network next to nothing:
this shows the workflow; a useful model needs ~10^5 steps (``xrdsynth train --help``).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import xrdsynth as xs
from xrdsynth import examples
from xrdsynth.models import load_pretrained
from xrdsynth.train import TrainConfig, train


def run(out: Path, steps: int, batch_size: int, threads: int) -> None:
    config = TrainConfig(
        out=str(out),
        architecture="resnet10",
        architecture_kwargs={"width": 8, "stem_stride": 4},
        two_theta=(5.0, 90.0, 1000),
        wavelength="CuKa1",
        # Clean patterns keep the demonstration quick; real runs use the default "laboratory-cu" preset,
        # whose narrow instrument-limited peaks cost several times more to render.
        preset="clean",
        steps=steps,
        batch_size=batch_size,
        warmup_steps=max(1, steps // 10),
        eval_every=steps,
        eval_patterns=64,
        checkpoint_every=steps,
        log_every=max(1, steps // 3),
        threads=threads,
        device="cpu",
    )
    started = time.perf_counter()
    train(config, progress=False)
    print(f"trained {steps} steps of {batch_size} patterns in {time.perf_counter() - started:.1f} s -> {out}")
    with open(out / "metrics.csv", newline="", encoding="utf-8") as handle:
        last = list(csv.DictReader(handle))[-1]
    print(f"last loss {float(last['loss']):.3f}, validation top-1 {float(last['val_top1']):.1%}")

    # The saved model, as any user would load it (weights checked against the card's sha256).
    classifier = load_pretrained(out / "model")
    parameters = sum(p.numel() for p in classifier.parameters())
    print(f"loaded {out / 'model'}: {classifier.extra_repr()}, {parameters:,} parameters")

    # A bundled structure's pattern on another grid than the model's: predict() resamples through d-spacing.
    crystal = xs.Crystal.from_cif(examples.cif_path("quartz"))
    simulator = xs.PowderSimulator(two_theta=(10.0, 80.0, 3501), wavelength="CuKa1", crystallite_size_nm=50.0)
    pattern = simulator([crystal])[0]
    prediction = classifier.predict(simulator.two_theta, pattern, wavelength="CuKa1", top=5)[0]
    print(f"quartz (true space group {crystal.space_group}): the model's top 5")
    print(prediction)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=None, help="run folder (default: a temporary one)")
    parser.add_argument("--steps", type=int, default=30, help="optimiser steps (default: 30)")
    parser.add_argument("--batch-size", type=int, default=16, help="patterns per step (default: 16)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.out is not None:
        run(args.out, args.steps, args.batch_size, args.threads)
        return
    with tempfile.TemporaryDirectory(prefix="xrdsynth-train-") as folder:
        run(Path(folder) / "run", args.steps, args.batch_size, args.threads)


if __name__ == "__main__":
    main()
