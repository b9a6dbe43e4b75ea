"""The model card a training run writes next to its weights: what it learned from, how, and on what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._version import __version__
from ._config import TrainConfig
from ._hardware import describe_hardware

__all__ = ["model_card"]


def model_card(
    config: TrainConfig, step: int, samples: int, elapsed: float, device: torch.device, world_size: int
) -> dict[str, Any]:
    """The card of the model after ``step`` steps (``samples`` patterns, ``elapsed`` seconds) of a run on
    ``world_size`` processes, each on a ``device`` like this one."""
    return {
        "name": Path(config.out).name,
        "task": "space-group classification (230 classes) of powder X-ray diffraction patterns",
        "training_data": (
            f"synthetic crystals only: xrdsynth.SpaceGroupSampler with the {config.statistics!r} statistics "
            f"({config.space_group_weights} space-group weights"
            f"{'' if config.space_group_counts is None else ' of the recipe space_group_counts'}), "
            "simulated on the fly by "
            "xrdsynth.PowderSimulator; every pattern new"
        ),
        "recipe": config.to_dict(),
        "seed": config.seed,
        "steps": step,
        "samples_seen": samples,
        "wall_time_s": round(elapsed, 1),
        "hardware": f"{world_size} x {describe_hardware(device)}",
        "xrdsynth_version": __version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
    }
