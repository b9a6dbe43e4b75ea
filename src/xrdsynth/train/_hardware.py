"""Which device a training process uses, and that device in words (for model cards and reports)."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

import torch

__all__ = ["describe_hardware", "resolve_device"]


def resolve_device(name: str, local_rank: int) -> torch.device:
    """The device of ``TrainConfig.device`` for the process of rank ``local_rank`` on its node: "auto" is
    that rank's GPU when there is one, else the CPU; "cuda" without an index is that rank's GPU."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


def describe_hardware(device: torch.device | str) -> str:
    """The device in words, as model cards record it.

    Args:
        device: a CUDA device (its name is returned, e.g. "NVIDIA H200"), or the CPU.

    Returns:
        For a GPU its name; for the CPU its model, cores and torch's threads, e.g. "AMD EPYC 9B14 (2 cores),
        2 torch threads" ("1 torch thread" for one; the model from ``/proc/cpuinfo`` where there is one, else
        from :mod:`platform`).
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    threads = torch.get_num_threads()
    return f"{name} ({os.cpu_count()} cores), {threads} torch thread{'s' if threads != 1 else ''}"
