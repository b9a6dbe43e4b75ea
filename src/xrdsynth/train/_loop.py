"""The training loop: one optimiser step per new batch, validation, metrics, checkpoints and model exports,
in one process or under ``torchrun``."""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F

from .._base import NUM_SPACE_GROUPS
from .._precision import native_bfloat16
from ..data import SyntheticPowderDataset
from ..models import Classifier, InputSpec, load_pretrained, save_pretrained
from ..simulate import resolve_wavelength
from ..symmetry import CRYSTAL_SYSTEM_OF_GROUP, CRYSTAL_SYSTEMS
from ._card import model_card
from ._checkpoint import atomic_torch_save, check_resume, statistics_fingerprint
from ._config import PRECISIONS, TrainConfig
from ._data import build_data, validation_set
from ._hardware import resolve_device
from ._metrics import Metrics, validation_scores

__all__ = ["crystal_system_loss", "train", "views_divergence"]

# The cosine decay ends at this fraction of the peak learning rate rather than at 0, so that the last steps
# still learn from their (always new) patterns. The shipped models were trained with it (a change changes
# every run).
_LR_FLOOR_FRACTION = 0.02
# Global norm the gradients are clipped to, so that one batch with an unusually large gradient (early steps,
# a rare extreme crystal) cannot throw the weights off. Also part of the shipped models' recipe.
_GRADIENT_CLIP_NORM = 5.0
_SYSTEM_OF_GROUP = torch.tensor(CRYSTAL_SYSTEM_OF_GROUP, dtype=torch.int64)


def views_divergence(logits: torch.Tensor, views: int, anchor: str = "mean") -> torch.Tensor:
    """Mean divergence among consecutive groups of ``views`` rows of (B, C) ``logits``.

    Each group holds the patterns of one crystal (``crystal_reuse``). With ``anchor="mean"`` the divergence of
    a group is its Jensen-Shannon divergence, the mean over its views of KL(p_v || p̄) with p̄ the mean of
    their probabilities (0 when all views agree, at most ln(views)); gradients flow into every view. With
    ``anchor="clean"`` the first view (the clean pattern of ``clean_views``) is the teacher: the mean over the
    other views of KL(p_1 || p_v), with no gradient into p_1, so the clean answer is not pulled toward the
    laboratory ones.
    """
    if views < 1 or logits.ndim != 2 or logits.shape[0] % views:
        shape = tuple(logits.shape)
        raise ValueError(f"logits (B, C) must hold whole groups of views={views} rows, got {shape}")
    log_p = F.log_softmax(logits.float(), dim=-1).reshape(-1, views, logits.shape[-1])
    if anchor == "clean":
        teacher = log_p[:, :1].detach()
        return (teacher.exp() * (teacher - log_p[:, 1:])).sum(dim=-1).mean()
    if anchor != "mean":
        raise ValueError(f"anchor must be 'mean' or 'clean', got {anchor!r}")
    log_mean = torch.logsumexp(log_p, dim=1, keepdim=True) - math.log(views)
    return (log_p.exp() * (log_p - log_mean)).sum(dim=-1).mean()


def crystal_system_loss(logits: torch.Tensor, space_group: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of the true crystal systems under (B, 230) ``logits``, the probability
    of a system being the sum of the softmax over its space groups; ``space_group`` (B,) int64 holds the
    training targets, 0..229 (number − 1).

    The space-group cross-entropy rewards the right group only; this term rewards putting the probability
    on the right system when the group is uncertain, which is what the summed probabilities of
    :attr:`xrdsynth.models.Prediction.crystal_system_probability` read.
    """
    if logits.ndim != 2 or logits.shape[1] != NUM_SPACE_GROUPS or space_group.shape != logits.shape[:1]:
        raise ValueError(
            f"logits must be (B, {NUM_SPACE_GROUPS}) and space_group (B,), got {tuple(logits.shape)} and "
            f"{tuple(space_group.shape)}"
        )
    system = _SYSTEM_OF_GROUP.to(logits.device)
    log_p = F.log_softmax(logits.float(), dim=-1)
    # log of the summed probability of each system: logsumexp over its groups (-inf elsewhere).
    member = system[None, :] == torch.arange(len(CRYSTAL_SYSTEMS), device=logits.device)[:, None]  # (7, 230)
    log_system = torch.logsumexp(torch.where(member[None], log_p[:, None, :], -math.inf), dim=-1)  # (B, 7)
    return F.nll_loss(log_system, system[space_group])


def _learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up to ``config.lr`` over ``warmup_steps``, then a cosine decay to ``_LR_FLOOR_FRACTION``
    of it at ``config.steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (_LR_FLOOR_FRACTION + (1.0 - _LR_FLOOR_FRACTION) * cosine)


def train(config: TrainConfig, progress: bool = True, *, _stop_after: int | None = None) -> Classifier:
    """Train (or resume) a classifier as described by ``config``; returns it (on rank 0: also saved).

    Works in one process, or under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment), where each rank
    trains on its own data and the process group is created and destroyed here.

    A folder that already holds a run (``checkpoint.pt``, or ``config.json`` of a run stopped before its
    first checkpoint) is resumed only with the same settings, so that the result equals an uninterrupted
    run: every field must match except ``out``, ``device``, ``threads``, ``workers``, ``compile``,
    ``precision`` (another device or precision changes the arithmetic: the result is then close to an
    uninterrupted run, not equal),
    ``checkpoint_every``, ``snapshot_every``, ``eval_every`` and ``log_every``, and the number of processes
    must be the same. ``steps`` must match too (the learning-rate schedule depends on it): to train longer,
    start a new run.

    Raises:
        ValueError: the folder holds a run with other settings (every differing field is listed).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    check_resume(config, Path(config.out), world_size)
    device = resolve_device(config.device, local_rank)
    if config.precision == "bfloat16" and not native_bfloat16(device):
        # Emulated bfloat16 is no faster than float32 anywhere and far slower on a CPU (docs/training.md).
        warnings.warn(
            f"precision='bfloat16' on {device}, which has no native bfloat16 (AVX512-BF16 or AMX on a CPU): "
            "torch emulates it, a training step about 13x slower than precision='float32' on an AVX2 CPU",
            RuntimeWarning,
            stacklevel=2,
        )
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
        baseline_threshold=config.baseline_threshold,
        background_window_deg=config.background_window_deg,
        smoothing_fwhm_deg=config.smoothing_fwhm_deg,
        log_d_points=config.log_d_points,
        rerender_size_nm=config.rerender_size_nm,
        kalpha2_strip_ratio=config.kalpha2_strip_ratio,
        kbeta_strip=config.kbeta_strip,
    )
    torch.manual_seed(config.seed)  # the model initialisation only; data use their own generators
    classifier = Classifier.from_architecture(
        config.architecture, spec, **{**config.architecture_kwargs, "num_classes": NUM_SPACE_GROUPS}
    ).to(device)
    if config.init_from is not None:
        _initialise_from(classifier, config.init_from)
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    step, samples, elapsed = 0, 0, 0.0
    statistics_sha256 = statistics_fingerprint(config.statistics)  # stored with every checkpoint
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
        crystal_reuse=config.crystal_reuse,
        crystal_pool=config.crystal_pool,
    )
    validation = validation_set(config, device) if rank == 0 else None
    metrics = Metrics(out, resume_step=step) if rank == 0 else None
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
    autocast_dtype = PRECISIONS[config.precision]  # None: float32 throughout
    model.train()
    while step < config.steps:
        patterns, labels = next(iterator)
        target = labels["space_group"].to(device)
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(config, step)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logits = model(patterns.to(device, torch.float32))
        # The loss in float32 whatever the forward pass's precision (logits are bfloat16 under autocast).
        logits = logits.float()
        loss = F.cross_entropy(logits, target, label_smoothing=config.label_smoothing)
        if config.crystal_system_loss:
            loss = loss + config.crystal_system_loss * crystal_system_loss(logits, target)
        if config.consistency:
            divergence = views_divergence(logits, config.crystal_reuse, config.consistency_anchor)
            loss = loss + config.consistency * divergence
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(classifier.parameters(), _GRADIENT_CLIP_NORM)
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
                row.update(validation_scores(classifier, *validation))
                model.train()
            metrics.write(row)
            window_start, window_samples = time.perf_counter(), 0
            running_loss, running_correct, running_n = 0.0, 0, 0
        if step % config.checkpoint_every == 0 or last:
            if rank == 0:
                elapsed = time.perf_counter() - started
                atomic_torch_save(
                    {
                        "model": classifier.model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "step": step,
                        "samples": samples,
                        "elapsed_s": elapsed,
                        "config": json.dumps(config.to_dict()),
                        "statistics_sha256": statistics_sha256,
                    },
                    checkpoint_path,
                )
                classifier.card = model_card(config, step, samples, elapsed, device, world_size)
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


# Basic-block ResNets by their blocks per stage: a donor of one can start a run of a deeper one.
_RESNET_DEPTHS = {"resnet10": (1, 1, 1, 1), "resnet18": (2, 2, 2, 2)}


def _initialise_from(classifier: Classifier, source: str) -> None:
    """Copy the weights of a saved or shipped classifier into ``classifier`` (same architecture and grid).

    A basic-block ResNet may also start a deeper one of the same width, stem and kernel (``resnet10`` ->
    ``resnet18``): its blocks fill the first blocks of each stage and the added blocks keep their
    zero-initialised last norm, so they start as the identity and the deeper network computes exactly what
    the donor did (function-preserving deepening, as in Net2Net's Net2DeeperNet). A ResNet may likewise start
    one with a position head (``position_points``): the head starts at zero, the rest is the donor's.
    """
    donor = load_pretrained(source)

    def network(c: Classifier) -> tuple[str, dict[str, Any]]:
        return c.architecture, {**c.architecture_kwargs, "num_classes": NUM_SPACE_GROUPS}

    (donor_name, donor_kwargs), (name, kwargs) = network(donor), network(classifier)
    head_added = (
        name in _RESNET_DEPTHS
        and not donor_kwargs.get("position_points")
        and bool(kwargs.get("position_points"))
    )
    if head_added:
        kwargs = {k: v for k, v in kwargs.items() if k not in ("position_points", "position_dropout")}
    deepening = (
        donor_name in _RESNET_DEPTHS
        and name in _RESNET_DEPTHS
        and donor_kwargs == kwargs
        and all(a <= b for a, b in zip(_RESNET_DEPTHS[donor_name], _RESNET_DEPTHS[name], strict=True))
    )
    if (donor_name, donor_kwargs) != (name, kwargs) and not deepening:
        raise ValueError(
            f"init_from {source!r} is a {donor.architecture} {donor.architecture_kwargs}, "
            f"not the run's {classifier.architecture} {classifier.architecture_kwargs}"
        )
    if donor.spec.num_points != classifier.spec.num_points:
        raise ValueError(
            f"init_from {source!r} reads {donor.spec.num_points} points, the run {classifier.spec.num_points}"
        )
    missing, unexpected = classifier.model.load_state_dict(donor.model.state_dict(), strict=False)
    # Only whole added blocks may be missing: stages.<stage>.<block beyond the donor's depth>.*
    depths = _RESNET_DEPTHS.get(donor_name, ())

    def added_block(key: str) -> bool:
        parts = key.split(".")
        return deepening and parts[0] == "stages" and int(parts[2]) >= depths[int(parts[1])]

    misfits = list(unexpected) + [
        k for k in missing if not added_block(k) and not (head_added and k.startswith("position_head."))
    ]
    if misfits:
        raise ValueError(f"init_from {source!r}: weights that do not fit the run's network: {misfits}")
