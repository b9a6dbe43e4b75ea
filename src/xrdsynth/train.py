"""Training space-group classifiers on synthetic crystals generated on the fly.

Every step draws a new batch of random crystals (:class:`~xrdsynth.SpaceGroupSampler`), simulates their
patterns (:class:`~xrdsynth.PowderSimulator`) on the training device and takes one optimiser step, so no
pattern is ever seen twice. One process, or many with ``torchrun``::

    python -m xrdsynth.train --out runs/small --steps 2000 --batch-size 64
    torchrun --nproc_per_node=4 -m xrdsynth.train --out runs/big --device cuda --steps 100000

Under ``torchrun`` each rank builds its own sampler and simulator on its own device and generates its own
share of the stream (batches are partitioned by rank, see :class:`xrdsynth.data.SyntheticPowderDataset`);
gradients are averaged by :class:`~torch.nn.parallel.DistributedDataParallel` (NCCL on GPUs, gloo on CPUs).

The run folder receives ``config.json``, ``metrics.csv`` (and TensorBoard events when ``tensorboard`` is
installed), ``checkpoint.pt`` (model, optimiser, schedule, step; written atomically every
``checkpoint_every`` steps) and ``model/`` (the :class:`~xrdsynth.models.Classifier` written by
:func:`~xrdsynth.models.save_pretrained`, with its card). Running again with the same folder resumes from the
checkpoint, continuing the data stream where it stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from ._version import __version__
from .data import SyntheticPowderDataset
from .models import Classifier, InputSpec, load_pretrained, save_pretrained
from .sampler import NAMED_STATISTICS, SpaceGroupSampler, named_statistics
from .simulate import resolve_wavelength
from .structure import CrystalBatch
from .transforms import PRESETS, preset

__all__ = ["TrainConfig", "main", "train"]

# Validation data comes from a stream whose seed cannot collide with a training seed.
_VALIDATION_SEED_OFFSET = 1_000_003


@dataclass
class TrainConfig:
    """Everything a training run depends on (stored in ``config.json`` and the model card).

    Attributes:
        out: run folder.
        architecture: name in :data:`xrdsynth.models.ARCHITECTURES`.
        architecture_kwargs: keyword arguments of the architecture (``num_classes`` is always 230).
        two_theta: (start, stop, points) of the model's grid, degrees.
        wavelength: the model's wavelength (its input spec): "CuKa1", the principal line of the presets.
        sqrt_scale: the network reads √ of the max-normalised pattern.
        background_window_deg: the network reads patterns with their background removed by a
            morphological opening of this width in degrees (0: none); measured patterns get the same.
        steps: optimiser steps in total (per rank, each on ``batch_size`` new patterns).
        batch_size: patterns per step and rank.
        lr: peak learning rate (AdamW).
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up, then cosine decay to 2% of ``lr`` at ``steps``.
        label_smoothing: of the cross-entropy.
        seed: of the model initialisation and of the data stream.
        device: "cpu", "cuda", "cuda:1", or "auto" (the rank's GPU when there is one).
        threads: torch CPU threads (0: torch's default).
        space_group_weights: "uniform", "statistics" (as often as in the sampler statistics), or
            "tempered" (statistics to the power ``tempering``: common groups more often, rare ones still
            seen).
        tempering: exponent of the "tempered" weights.
        statistics: the sampler statistics, a name in :data:`xrdsynth.sampler.NAMED_STATISTICS`
            ("default": fitted volumes and distances; "default-v1": the statistics of the shipped
            classifier's training, crystals with larger cells and shorter distances).
        preset: the recipe of the training patterns, a name in :data:`xrdsynth.transforms.PRESETS`
            ("laboratory-cu": Kα doublet, instrument function, sizes from 15 nm to 2 µm, strain, texture,
            shifts, impurity, backgrounds, counting noise, partial scans; "clean": Kα1 Gaussian peaks).
        clean_fraction: fraction of batches made with the "clean" preset instead.
        init_from: a saved model folder or shipped model name whose weights start the run (same
            architecture and grid); None starts from random weights.
        max_atoms: largest cell the sampler makes.
        compile: fuse the simulator's rendering with torch.compile.
        workers: DataLoader processes that generate batches while the model trains (0: in the training
            process). Results do not depend on it.
        checkpoint_every: steps between checkpoints (and model exports).
        snapshot_every: every this many steps (a multiple of ``checkpoint_every``), the exported model is
            also kept as ``snapshots/step-NNNNNNN/``, for learning curves; 0 keeps none.
        eval_every: steps between validations on a fixed synthetic set.
        eval_patterns: size of that validation set.
        log_every: steps between metric rows.
    """

    out: str = "runs/xrdsynth"
    architecture: str = "resnet10"
    architecture_kwargs: dict[str, Any] = field(default_factory=lambda: {"width": 16, "stem_stride": 8})
    two_theta: tuple[float, float, int] = (5.0, 90.0, 4251)
    wavelength: str | float = "CuKa1"
    sqrt_scale: bool = True
    background_window_deg: float = 3.0
    steps: int = 1000
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 200
    label_smoothing: float = 0.05
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    space_group_weights: str = "uniform"
    tempering: float = 0.5
    statistics: str = "default"
    preset: str = "laboratory-cu"
    clean_fraction: float = 0.0
    init_from: str | None = None
    max_atoms: int = 100
    compile: bool = False
    workers: int = 0
    checkpoint_every: int = 200
    snapshot_every: int = 0
    eval_every: int = 200
    eval_patterns: int = 1024
    log_every: int = 20

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if not 0.0 <= self.clean_fraction <= 1.0:
            raise ValueError(f"clean_fraction must be a fraction in [0, 1], got {self.clean_fraction}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        cu = resolve_wavelength(self.wavelength).wavelength == resolve_wavelength("CuKa1").wavelength
        if self.preset == "laboratory-cu" and self.clean_fraction < 1.0 and not cu:
            raise ValueError(
                f"the laboratory-cu preset simulates Cu Kα1 (Kα2 is one of its effects); got wavelength "
                f"{self.wavelength!r} (the clean preset takes any)"
            )
        if not self.background_window_deg >= 0:
            raise ValueError(f"background_window_deg must be >= 0, got {self.background_window_deg}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.statistics not in NAMED_STATISTICS:
            raise ValueError(
                f"statistics must be one of {', '.join(NAMED_STATISTICS)}, got {self.statistics!r}"
            )
        if self.space_group_weights not in ("uniform", "statistics", "tempered"):
            raise ValueError(
                "space_group_weights must be uniform, statistics or tempered, "
                f"got {self.space_group_weights!r}"
            )
        if self.snapshot_every < 0 or (self.snapshot_every and self.snapshot_every % self.checkpoint_every):
            raise ValueError(
                f"snapshot_every must be 0 or a multiple of checkpoint_every ({self.checkpoint_every}), "
                f"got {self.snapshot_every}"
            )
        for name in ("checkpoint_every", "eval_every", "log_every", "eval_patterns"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        self.two_theta = (float(self.two_theta[0]), float(self.two_theta[1]), int(self.two_theta[2]))

    def to_dict(self) -> dict[str, Any]:
        """Plain types, for config.json and the model card."""
        return dataclasses.asdict(self)


# ------------------------------------------------------------------------------------------ data recipe
class _SimulatorMixture(nn.Module):
    """Per batch, one of several simulators (same grid), chosen with the batch's own generator."""

    def __init__(self, simulators: Sequence[nn.Module], weights: Sequence[float]) -> None:
        super().__init__()
        self.simulators = nn.ModuleList(simulators)
        self.register_buffer("_weights", torch.tensor(weights, dtype=torch.float64), persistent=False)
        self._weights: torch.Tensor

    @property
    def device(self) -> torch.device:
        return self.simulators[0].device

    @property
    def two_theta(self) -> torch.Tensor:
        return self.simulators[0].two_theta

    def forward(self, batch: CrystalBatch, generator: torch.Generator | None = None) -> torch.Tensor:
        gen = self.simulators[0].generator() if generator is None else generator
        u = float(torch.rand(1, generator=gen, device=gen.device, dtype=torch.float64))
        choice = int(torch.searchsorted(self._weights.cumsum(0).cpu() / self._weights.sum().cpu(), u))
        return self.simulators[min(choice, len(self.simulators) - 1)](batch, generator=gen)


def _space_group_weights(config: TrainConfig) -> str | list[float]:
    if config.space_group_weights != "tempered":
        return config.space_group_weights
    counts = named_statistics(config.statistics).space_group_counts
    # +1: every group keeps a chance, however rare in the statistics.
    return [(counts.get(g, 0) + 1.0) ** config.tempering for g in range(1, 231)]


def build_data(config: TrainConfig, device: torch.device) -> tuple[SpaceGroupSampler, nn.Module]:
    """The sampler and the simulator (a preset, or a mixture with the clean preset) of a training recipe,
    on ``device``. Patterns come out linear, maximum 1: the classifier's preprocessing does the rest."""
    sampler = SpaceGroupSampler(
        statistics=config.statistics,
        seed=config.seed,
        device=device,
        max_atoms=config.max_atoms,
        space_group_weights=_space_group_weights(config),
    )
    settings = {
        "two_theta": config.two_theta, "device": device, "seed": config.seed, "compile": config.compile,
    }  # fmt: skip
    clean_settings = {**settings, "wavelength": config.wavelength}
    main = preset(config.preset, **(clean_settings if config.preset == "clean" else settings))
    if config.clean_fraction == 0.0:
        return sampler, main
    clean = preset("clean", **clean_settings)
    if config.clean_fraction == 1.0:
        return sampler, clean
    return sampler, _SimulatorMixture([clean, main], [config.clean_fraction, 1.0 - config.clean_fraction])


# ------------------------------------------------------------------------------------------- the loop
def _learning_rate(config: TrainConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.lr * (0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


def _atomic_torch_save(obj: Any, path: Path) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}-", delete=False) as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
        tmp = handle.name
    os.replace(tmp, path)


def _resolve_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


def _hardware(device: torch.device) -> str:
    """The device in words, for the model card (e.g. "AMD EPYC 9B14 (2 cores), 2 torch threads")."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name} ({os.cpu_count()} cores), {torch.get_num_threads()} torch threads"


@torch.no_grad()
def _evaluate(classifier: Classifier, patterns: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    probability = classifier.probabilities_on_grid(patterns)
    top5 = probability.topk(5, dim=-1).indices
    loss = F.nll_loss(probability.clamp_min(1e-12).log(), labels)
    return {
        "val_loss": float(loss),
        "val_top1": float((top5[:, 0] == labels).float().mean()),
        "val_top5": float((top5 == labels[:, None]).any(dim=-1).float().mean()),
    }


class _Metrics:
    """metrics.csv (and TensorBoard when available), appended across resumed runs."""

    COLUMNS = (
        "step", "samples", "elapsed_s", "lr", "loss", "train_top1", "samples_per_s",
        "val_loss", "val_top1", "val_top5",
    )  # fmt: skip

    def __init__(self, folder: Path) -> None:
        self.path = folder / "metrics.csv"
        new = not self.path.exists()
        self.handle = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.writer = csv.DictWriter(self.handle, self.COLUMNS)
        if new:
            self.writer.writeheader()
        self.tensorboard: Any = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(folder / "tensorboard"))
        except (ImportError, ModuleNotFoundError):
            pass

    def write(self, row: dict[str, Any]) -> None:
        self.writer.writerow({k: row.get(k, "") for k in self.COLUMNS})
        self.handle.flush()
        if self.tensorboard is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, float):
                    self.tensorboard.add_scalar(k, v, row["step"])

    def close(self) -> None:
        self.handle.close()
        if self.tensorboard is not None:
            self.tensorboard.close()


# Settings that may change when a run is resumed: where and how fast it runs, and how often it reports.
# Every other TrainConfig field changes the trained model, so a resumed run must keep it.
_RESUME_MAY_DIFFER = frozenset(
    {"out", "device", "threads", "workers", "compile", "checkpoint_every", "snapshot_every", "eval_every",
     "log_every"}
)  # fmt: skip


def _check_resume(config: TrainConfig, out: Path, world_size: int) -> None:
    """Refuse to resume a run folder whose stored settings differ from ``config``.

    The stored settings are the checkpoint's (what would be resumed), else ``config.json`` (a run stopped
    before its first checkpoint). Every TrainConfig field must match except ``_RESUME_MAY_DIFFER``, and
    a checkpoint must come from as many processes as there are now (the data stream depends on both).

    Raises:
        ValueError: listing every field that differs, one per line.
    """
    checkpoint, stored_json = out / "checkpoint.pt", out / "config.json"
    state: dict[str, Any] | None = None
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        stored = json.loads(state["config"])
        where = str(checkpoint)
    elif stored_json.exists():
        stored = json.loads(stored_json.read_text(encoding="utf-8"))
        where = str(stored_json)
    else:
        return
    now = json.loads(json.dumps(config.to_dict()))  # tuples as lists, as stored
    lines = []
    for f in dataclasses.fields(TrainConfig):
        if f.name in _RESUME_MAY_DIFFER:
            continue
        old = stored.get(f.name, "<absent: written by another xrdsynth version>")
        if old != now[f.name]:
            lines.append(f"  {f.name}: stored {old!r}, now {now[f.name]!r}")
    if state is not None and int(state["step"]) > 0 and isinstance(stored.get("batch_size"), int):
        processes = int(state["samples"]) // (int(state["step"]) * stored["batch_size"])
        if processes != world_size:
            lines.append(f"  processes (WORLD_SIZE): stored {processes}, now {world_size}")
    if lines:
        raise ValueError(
            f"{where} belongs to a run with other settings; resume it with the same settings (only "
            f"{', '.join(sorted(_RESUME_MAY_DIFFER))} may change) or use another run folder:\n"
            + "\n".join(lines)
        )


def train(config: TrainConfig, progress: bool = True, *, _stop_after: int | None = None) -> Classifier:
    """Train (or resume) a classifier as described by ``config``; returns it (on rank 0: also saved).

    Works in one process, or under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment), where each rank
    trains on its own data and the process group is created and destroyed here.

    A folder that already holds a run (``checkpoint.pt``, or ``config.json`` of a run stopped before its
    first checkpoint) is resumed only with the same settings, so that the result equals an uninterrupted
    run: every field must match except ``out``, ``device``, ``threads``, ``compile``,
    ``checkpoint_every``, ``eval_every`` and ``log_every``, and the number of processes must be the same.
    ``steps`` must match too (the learning-rate schedule depends on it): to train longer, start a new run.

    Raises:
        ValueError: the folder holds a run with other settings (every differing field is listed).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    _check_resume(config, Path(config.out), world_size)
    device = _resolve_device(config.device, local_rank)
    distributed = world_size > 1
    if distributed and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    try:
        return _train(config, out, rank, world_size, device, distributed, progress, _stop_after)
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


def _train(
    config: TrainConfig,
    out: Path,
    rank: int,
    world_size: int,
    device: torch.device,
    distributed: bool,
    progress: bool,
    stop_after: int | None,
) -> Classifier:
    lam = resolve_wavelength(config.wavelength).wavelength
    spec = InputSpec(
        *config.two_theta,
        wavelength=lam,
        sqrt_scale=config.sqrt_scale,
        background_window_deg=config.background_window_deg,
    )
    torch.manual_seed(config.seed)  # the model initialisation only; data use their own generators
    classifier = Classifier.from_architecture(
        config.architecture, spec, **{**config.architecture_kwargs, "num_classes": 230}
    ).to(device)
    if config.init_from is not None:
        _initialise_from(classifier, config.init_from)
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    step, samples, elapsed = 0, 0, 0.0
    checkpoint_path = out / "checkpoint.pt"
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        classifier.model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, samples, elapsed = int(state["step"]), int(state["samples"]), float(state["elapsed_s"])
        if rank == 0:
            print(f"resuming {out} at step {step} ({samples} patterns seen)", file=sys.stderr)
    model: nn.Module = classifier
    if distributed:
        model = nn.parallel.DistributedDataParallel(
            classifier, device_ids=[device.index] if device.type == "cuda" else None
        )

    sampler, simulator = build_data(config, device)
    # Every rank takes every world_size-th batch of one stream; after `step` steps the first
    # step * world_size batches of that stream are used, so a resumed run continues with new ones.
    stream = SyntheticPowderDataset(
        sampler,
        simulator,
        batch_size=config.batch_size,
        seed=config.seed,
        rank=rank,
        world_size=world_size,
        start_batch=step * world_size,
    )
    validation = _validation_set(config, device) if rank == 0 else None
    metrics = _Metrics(out) if rank == 0 else None
    bar = None
    if rank == 0 and progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, initial=step, unit="step", dynamic_ncols=True, desc="train")
    started = time.perf_counter() - elapsed
    window_start, window_samples = time.perf_counter(), 0
    running_loss, running_correct, running_n = 0.0, 0, 0
    if config.workers > 0:
        # Batches are made in other processes while this one trains; the stream, split by batch index,
        # is the same as in-process.
        loader = torch.utils.data.DataLoader(
            stream, batch_size=None, num_workers=config.workers, prefetch_factor=2,
            worker_init_fn=_one_thread, persistent_workers=False,
        )  # fmt: skip
        iterator = iter(loader)
    else:
        iterator = iter(stream)
    model.train()
    while step < config.steps:
        patterns, labels = next(iterator)
        target = labels["space_group"].to(device)
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(config, step)
        logits = model(patterns.to(device, torch.float32))
        loss = F.cross_entropy(logits, target, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(classifier.parameters(), 5.0)
        optimizer.step()
        step += 1
        samples += config.batch_size * world_size
        window_samples += config.batch_size * world_size
        loss_value = float(loss.detach())
        running_loss += loss_value * len(target)
        running_correct += int((logits.detach().argmax(-1) == target).sum())
        running_n += len(target)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}")
        last = step == config.steps
        evaluate = validation is not None and (step % config.eval_every == 0 or last)
        if rank == 0 and metrics is not None and (step % config.log_every == 0 or evaluate or last):
            now = time.perf_counter()
            row: dict[str, Any] = {
                "step": step,
                "samples": samples,
                "elapsed_s": round(now - started, 2),
                "lr": optimizer.param_groups[0]["lr"],
                "loss": running_loss / running_n,
                "train_top1": running_correct / running_n,
                "samples_per_s": window_samples / max(now - window_start, 1e-9),
            }
            if evaluate:
                assert validation is not None
                row.update(_evaluate(classifier, *validation))
                model.train()
            metrics.write(row)
            window_start, window_samples = time.perf_counter(), 0
            running_loss, running_correct, running_n = 0.0, 0, 0
        if step % config.checkpoint_every == 0 or last:
            if rank == 0:
                elapsed = time.perf_counter() - started
                _atomic_torch_save(
                    {
                        "model": classifier.model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "step": step,
                        "samples": samples,
                        "elapsed_s": elapsed,
                        "config": json.dumps(config.to_dict()),
                    },
                    checkpoint_path,
                )
                classifier.card = _card(config, step, samples, elapsed, device, world_size)
                save_pretrained(classifier, out / "model")
                if config.snapshot_every and step % config.snapshot_every == 0:
                    save_pretrained(classifier, out / "snapshots" / f"step-{step:07d}")
            if distributed:
                dist.barrier()
        if stop_after is not None and step == stop_after:
            # Tests simulate a killed run here (after the checkpoint of this step, if one was due).
            raise KeyboardInterrupt(f"stopped after step {step}")
    if bar is not None:
        bar.close()
    if metrics is not None:
        metrics.close()
    classifier.eval()
    return classifier


def _one_thread(worker_id: int) -> None:
    # Each data worker takes one core; the training process keeps the rest.
    torch.set_num_threads(1)


def _initialise_from(classifier: Classifier, source: str) -> None:
    """Copy the weights of a saved or shipped classifier into ``classifier`` (same architecture and grid)."""
    donor = load_pretrained(source)
    if donor.architecture != classifier.architecture or {**donor.architecture_kwargs, "num_classes": 230} != {
        **classifier.architecture_kwargs,
        "num_classes": 230,
    }:
        raise ValueError(
            f"init_from {source!r} is a {donor.architecture} {donor.architecture_kwargs}, "
            f"not the run's {classifier.architecture} {classifier.architecture_kwargs}"
        )
    if donor.spec.num_points != classifier.spec.num_points:
        raise ValueError(
            f"init_from {source!r} reads {donor.spec.num_points} points, the run {classifier.spec.num_points}"
        )
    classifier.model.load_state_dict(donor.model.state_dict())


def _validation_set(config: TrainConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed synthetic validation set from a seed no training stream uses."""
    seed = config.seed + _VALIDATION_SEED_OFFSET
    sampler, simulator = build_data(dataclasses.replace(config, seed=seed), device)
    batch = min(config.batch_size, config.eval_patterns)
    stream = SyntheticPowderDataset(
        sampler, simulator, batch_size=batch, seed=seed,
        num_batches=math.ceil(config.eval_patterns / batch), rank=0, world_size=1,
    )  # fmt: skip
    patterns, labels = zip(*stream, strict=True)
    return torch.cat(patterns)[: config.eval_patterns], torch.cat(
        [lab["space_group"] for lab in labels]
    )[: config.eval_patterns].to(device)


def _card(
    config: TrainConfig, step: int, samples: int, elapsed: float, device: torch.device, world_size: int
) -> dict[str, Any]:
    return {
        "name": Path(config.out).name,
        "task": "space-group classification (230 classes) of powder X-ray diffraction patterns",
        "training_data": (
            f"synthetic crystals only: xrdsynth.SpaceGroupSampler with the {config.statistics!r} statistics "
            f"({config.space_group_weights} space-group weights), simulated on the fly by "
            "xrdsynth.PowderSimulator; every pattern new"
        ),
        "recipe": config.to_dict(),
        "seed": config.seed,
        "steps": step,
        "samples_seen": samples,
        "wall_time_s": round(elapsed, 1),
        "hardware": f"{world_size} x {_hardware(device)}",
        "xrdsynth_version": __version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
    }


# -------------------------------------------------------------------------------------------- command line
# Help of the options that map to TrainConfig fields (argparse adds the default).
_OPTION_HELP = {
    "steps": "optimiser steps in total, per process; a resumed run must keep it",
    "batch_size": "new patterns per step and process",
    "warmup_steps": "steps of linear learning-rate warm-up before the cosine decay",
    "seed": "seed of the model initialisation and of the data stream",
    "threads": "torch CPU threads, 0 for torch's default",
    "max_atoms": "largest number of atoms in a sampled unit cell",
    "checkpoint_every": "steps between checkpoints and model exports",
    "eval_every": "steps between validations on the fixed synthetic validation set",
    "eval_patterns": "patterns in that validation set",
    "log_every": "steps between rows of metrics.csv",
    "lr": "peak learning rate (AdamW)",
    "weight_decay": "AdamW weight decay",
    "label_smoothing": "label smoothing of the cross-entropy",
    "clean_fraction": "fraction of batches made with the 'clean' preset instead of --preset",
    "background_window_deg": "width in degrees of the background removal before the network, 0 for none",
    "snapshot_every": "steps between models kept in snapshots/ (a multiple of --checkpoint-every), 0: none",
    "workers": "DataLoader processes that make the data while the model trains (results do not change)",
    "tempering": "exponent of the 'tempered' space-group weights",
}


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The arguments of ``python -m xrdsynth.train`` / ``xrdsynth train`` (one per TrainConfig field)."""
    parser = parser or argparse.ArgumentParser(
        prog="xrdsynth train", description="Train a space-group classifier on synthetic crystals."
    )
    defaults = TrainConfig()
    default = " (default: %(default)s)"
    parser.add_argument(
        "--out",
        default=defaults.out,
        metavar="DIR",
        help="run folder; a folder with a run is resumed, with the same settings only" + default,
    )
    parser.add_argument(
        "--architecture",
        default=defaults.architecture,
        help="network, see xrdsynth.models.ARCHITECTURES" + default,
    )
    parser.add_argument(
        "--architecture-kwargs",
        type=json.loads,
        default=defaults.architecture_kwargs,
        metavar="JSON",
        help='keyword arguments of the architecture as JSON (default: \'{"width": 16, "stem_stride": 8}\')',
    )
    parser.add_argument(
        "--two-theta",
        nargs=3,
        type=float,
        default=defaults.two_theta,
        metavar=("START", "STOP", "N"),
        help="the model's 2θ grid in degrees: first, last, number of points (default: "
        f"{defaults.two_theta[0]:g} {defaults.two_theta[1]:g} {defaults.two_theta[2]})",
    )
    parser.add_argument(
        "--wavelength",
        default=defaults.wavelength,
        metavar="W",
        help="simulated wavelength, Å or a line (CuKa1, MoKa1, ...)" + default,
    )
    parser.add_argument(
        "--sqrt-scale",
        action=argparse.BooleanOptionalAction,
        default=defaults.sqrt_scale,
        help="the network reads the square root of the normalised pattern" + default,
    )
    for name in ("steps", "batch_size", "warmup_steps", "seed", "threads", "max_atoms", "checkpoint_every",
                 "snapshot_every", "eval_every", "eval_patterns", "log_every", "workers"):  # fmt: skip
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=getattr(defaults, name),
            metavar="N",
            help=_OPTION_HELP[name] + default,
        )
    for name in ("lr", "weight_decay", "label_smoothing", "clean_fraction", "tempering",
                 "background_window_deg"):  # fmt: skip
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=float,
            default=getattr(defaults, name),
            metavar="X",
            help=_OPTION_HELP[name] + default,
        )
    parser.add_argument("--device", default=defaults.device, help="cpu, cuda, cuda:N or auto" + default)
    parser.add_argument(
        "--space-group-weights",
        choices=("uniform", "statistics", "tempered"),
        default=defaults.space_group_weights,
        help="how often each space group is drawn: equally, as in the sampler statistics, or tempered"
        + default,
    )
    parser.add_argument(
        "--statistics",
        choices=tuple(NAMED_STATISTICS),
        default=defaults.statistics,
        help="sampler statistics: fitted volumes and distances ('default') or the earlier ones ('default-v1')"
        + default,
    )
    parser.add_argument(
        "--preset",
        choices=PRESETS,
        default=defaults.preset,
        help="recipe of the training patterns (see xrdsynth.transforms)" + default,
    )
    parser.add_argument(
        "--init-from",
        default=None,
        metavar="MODEL",
        help="model folder or shipped name whose weights start the run (same architecture and grid)",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the simulator's rendering")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of parsed :func:`build_parser` arguments."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    wavelength = values["wavelength"]
    with contextlib.suppress(ValueError):  # a number of Å, else a line name
        values["wavelength"] = float(wavelength)
    return TrainConfig(**values)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m xrdsynth.train [options]``: parse the options and train; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        train(config, progress=not args.no_progress)
    except ValueError as error:
        # Bad settings and refused resumes are the user's to fix: one message, no traceback.
        print(f"xrdsynth.train: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
