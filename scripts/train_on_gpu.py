"""Train the shipped classifier's recipe on one GPU within a time budget, with the data made on the GPU.

    python scripts/train_on_gpu.py --out $OUT/gpu-run [--budget-s 420] [--batch-size 1024] [--lr X]
        [--init-from xrdsynth-resnet-cu] [--architecture-kwargs '{"width": 32, "stem_stride": 8}']
        [--clean-doublet 0.5] [--clean-noise 0.3] [--free-atoms 0.5]
        [--widths-fraction 0.1] [--clean-effects '{"ScanRange": 0.15}']

The recipe is the shipped model's (its card's ``recipe``: architecture, grid, preprocessing, preset, clean
fraction, space-group weights, label smoothing, weight decay), changed only where a GPU needs it: the device,
``workers=0`` (CUDA cannot be used in forked data-loader workers; the GPU makes each batch in the training
process, sampler and simulator on the device), a larger batch (default 1024) with the peak learning rate
scaled by the square root of the batch ratio (unless ``--lr`` is given), one call of the sampler per
``--crystal-pool`` batches (default 32: on a GPU the sampler is bound by kernel launches; on an H200 a call
for 16,384 crystals took about 5 s, one for 256 about 2 s), bfloat16 autocast, and frequent checkpoints. The
run starts from scratch unless ``--init-from`` names a model.

The budget is wall-clock seconds for the whole script. It first trains ``--probe-steps`` steps (default: two
pools and a log window) in a scratch folder to measure the step rate, sampler calls included, then sets the
step count so that the real run ends at 90 % of what is left, so that its warm-up and cosine decay complete.
``OUT/model`` is exported at every checkpoint (a run stopped early leaves its last state) and
``OUT/summary.json`` records the steps, patterns, times, patterns/s and the hardware. Evaluate the model
afterwards where the data are, e.g. ``python scripts/evaluate_classifier.py --model OUT/model --rruff
../shared/data/rruff-dev --amcsd ../shared/data/amcsd-dev``, and ship it (``scripts/ship_model.py
--kbeta-strip``) if it is better. The shipped model strips a Kβ residue from what it reads and the recipe
does not write that into the run's card: compare with ``"kbeta_strip": true`` set in a copy of it.

``--smoke`` runs the same on the CPU with a tiny network, batch and budget, for the test suite.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from xrdsynth.models import load_pretrained
from xrdsynth.train import TrainConfig, describe_hardware, train

# The shipped recipe's batch, to which its learning rate belongs.
_RECIPE_BATCH = 128
# Learning rates above this were not tried with this network (AdamW, warm-up, cosine decay).
_MAX_LR = 6e-3
# The real run is sized to end at this fraction of the time left after the probe.
_TIME_FRACTION = 0.9


def recipe_config(args: argparse.Namespace, out: Path, steps: int) -> TrainConfig:
    """The shipped model's recipe with the GPU changes of this script."""
    recipe = dict(load_pretrained().card["recipe"])
    fields = {k: v for k, v in recipe.items() if k in TrainConfig.__dataclass_fields__}
    fields["two_theta"] = tuple(fields["two_theta"])
    lr = args.lr
    if lr is None:
        lr = min(float(fields["lr"]) * math.sqrt(args.batch_size / _RECIPE_BATCH), _MAX_LR)
    if args.architecture_kwargs is not None:
        fields["architecture_kwargs"] = json.loads(args.architecture_kwargs)
    if args.clean_doublet is not None:
        fields["clean_doublet"] = args.clean_doublet
    if args.clean_noise is not None:
        fields["clean_noise"] = args.clean_noise
    if args.free_atoms is not None:
        fields["free_atoms"] = args.free_atoms
    if args.widths_fraction is not None:
        fields["widths_fraction"] = args.widths_fraction
    if args.clean_effects is not None:
        fields["clean_effects"] = json.loads(args.clean_effects)
    fields.update(
        out=str(out),
        device=args.device,
        workers=0,
        threads=0,
        batch_size=args.batch_size,
        lr=lr,
        steps=steps,
        warmup_steps=max(1, min(int(fields.get("warmup_steps", 200)), steps // 10)),
        crystal_pool=args.crystal_pool,
        init_from=args.init_from,
        precision="bfloat16",
        checkpoint_every=max(1, min(args.checkpoint_every, steps)),
        snapshot_every=0,
        eval_every=max(1, steps // 4),
        eval_patterns=args.eval_patterns,
        log_every=max(1, min(50, steps // 20)),
        seed=args.seed,
    )
    if args.smoke:
        fields.update(architecture_kwargs={"width": 8, "stem_stride": 8}, two_theta=(5.0, 90.0, 1001))
    return TrainConfig(**fields)


def _steps_per_second(metrics: Path, batch_size: int) -> float:
    """Steps per second of a run after its first logged window (which holds the warm-up): its patterns over
    its time, so that the sampler's calls, one per pool of batches, are paid for (a median of the windows
    would leave them out)."""
    with open(metrics, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["samples_per_s"]]
    if not rows:
        raise RuntimeError(f"{metrics} has no rate: the probe logged nothing")
    if len(rows) == 1:
        return float(rows[0]["samples_per_s"]) / batch_size
    first, last = rows[0], rows[-1]
    seconds = float(last["elapsed_s"]) - float(first["elapsed_s"])
    return (int(last["step"]) - int(first["step"])) / max(seconds, 1e-9)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="run folder (model/, summary.json, ...)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="wall-clock seconds for it all (420)")
    parser.add_argument("--batch-size", type=int, default=1024, help="patterns per step (default 1024)")
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: scaled)")
    parser.add_argument("--init-from", default=None, help="start from this model (default: from scratch)")
    parser.add_argument("--architecture-kwargs", default=None, help="JSON, replaces the recipe's")
    parser.add_argument(
        "--clean-doublet", type=float, default=None, help="replaces the recipe's clean_doublet (see train)"
    )
    parser.add_argument(
        "--clean-noise", type=float, default=None, help="replaces the recipe's clean_noise (see train)"
    )
    parser.add_argument(
        "--free-atoms", type=float, default=None, help="replaces the recipe's free_atoms (see train)"
    )
    parser.add_argument(
        "--widths-fraction",
        type=float,
        default=None,
        help="replaces the recipe's widths_fraction (see train)",
    )
    parser.add_argument(
        "--clean-effects", default=None, help="replaces the recipe's clean_effects, JSON (see train)"
    )
    parser.add_argument(
        "--probe-steps", type=int, default=None, help="steps of the rate probe (default: 2 pools + 8)"
    )
    parser.add_argument(
        "--crystal-pool", type=int, default=32, help="batches per call of the sampler (default 32)"
    )
    parser.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
    parser.add_argument("--eval-patterns", type=int, default=2048, help="synthetic validation patterns")
    parser.add_argument("--seed", type=int, default=11, help="seed of the data stream and initialisation")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run for the tests")
    args = parser.parse_args(argv)
    if args.smoke:
        args.device, args.batch_size, args.eval_patterns, args.crystal_pool = "cpu", 16, 32, 1
        args.probe_steps = min(args.probe_steps or 3, 3)
    if args.probe_steps is None:
        args.probe_steps = 2 * args.crystal_pool + 8
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("no CUDA device here (use --device cpu or --smoke to try the script)")
    started = time.perf_counter()
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty: give a new folder (a resumed run would not be sized anew)")

    with tempfile.TemporaryDirectory(prefix="xrdsynth-probe-") as scratch:
        probe = recipe_config(args, Path(scratch) / "probe", args.probe_steps)
        probe_start = time.perf_counter()
        train(probe, progress=False)
        probe_s = time.perf_counter() - probe_start
        rate = _steps_per_second(Path(scratch) / "probe" / "metrics.csv", probe.batch_size)
    # What a run costs besides its steps (building the model and the validation set, first compilations),
    # as the probe saw it; the real run pays it again.
    overhead = max(probe_s - args.probe_steps / rate, 0.0)
    left = args.budget_s - (time.perf_counter() - started)
    seconds_for_steps = left * _TIME_FRACTION - overhead
    steps = max(1, int(rate * seconds_for_steps))
    config = recipe_config(args, args.out, steps)
    print(
        f"probe: {args.probe_steps} steps in {probe_s:.1f} s ({rate:.2f} steps/s after warm-up, "
        f"{overhead:.0f} s of set-up); {left:.0f} s left: "
        f"{steps} steps of {config.batch_size} ({steps * config.batch_size:,} patterns), lr {config.lr:.2e}",
        flush=True,
    )
    run_start = time.perf_counter()
    train(config, progress=False)
    run_s = time.perf_counter() - run_start
    summary = {
        "steps": steps,
        "batch_size": config.batch_size,
        "patterns": steps * config.batch_size,
        "run_s": round(run_s, 1),
        "patterns_per_s": round(steps * config.batch_size / run_s, 1),
        "probe": {"steps": args.probe_steps, "seconds": round(probe_s, 1)},
        # How the step count was set: the probe's rate times the seconds left for steps.
        "sizing": {"steps_per_s": rate, "seconds_for_steps": seconds_for_steps},
        "total_s": round(time.perf_counter() - started, 1),
        "budget_s": args.budget_s,
        "hardware": describe_hardware(torch.device(config.device if config.device != "auto" else "cpu")),
        "config": config.to_dict(),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}), flush=True)
    shutil.rmtree(args.out / "probe", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
