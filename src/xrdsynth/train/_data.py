"""The training data: the sampler and simulator of a recipe, the clean/laboratory mixture, and the fixed
synthetic validation set."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
from torch import nn

from .._base import NUM_SPACE_GROUPS
from ..data import SyntheticPowderDataset
from ..sampler import SpaceGroupSampler
from ..simulate import PowderSimulator
from ..structure import CrystalBatch
from ..transforms import (
    AugmentedSimulator,
    Background,
    CrystalliteSize,
    InstrumentFunction,
    KAlphaDoublet,
    Microstrain,
    PatternTransform,
    PoissonNoise,
    ReflectionTransform,
    laboratory_cu_transforms,
    preset,
)
from ._config import TrainConfig

__all__ = [
    "VALIDATION_SEED_OFFSET",
    "PlacementMixture",
    "SimulatorMixture",
    "ViewMixture",
    "build_data",
    "validation_set",
]

# Validation data comes from a stream whose seed cannot collide with a training seed.
VALIDATION_SEED_OFFSET = 1_000_003


class SimulatorMixture(nn.Module):
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


class PlacementMixture(SpaceGroupSampler):
    """A sampler whose calls draw their crystals, with probability ``free_atoms``, with atoms placed freely.

    Freely: the same space groups, compositions, Wyckoff positions, cell shapes and fitted volumes, but
    uniform coordinates without minimum distances or pushes (``min_distance_scale=0``), and the statistics'
    ``volume_shift`` set to 0, since it only compensates for the cells that pushing grows (the free crystals'
    median volume per atom stays near the pushed ones'). Labels stay exact (the certificates do not depend on
    the distances). Each call draws one number from its generator to choose, then all of its crystals from
    one of the two; the same seed gives the same crystals. The other arguments are
    :class:`~xrdsynth.sampler.SpaceGroupSampler`'s.
    """

    def __init__(self, free_atoms: float, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= free_atoms <= 1.0:
            raise ValueError(f"free_atoms must be a probability in [0, 1], got {free_atoms}")
        self.free_atoms = float(free_atoms)
        self._kwargs = kwargs
        self._free: SpaceGroupSampler | None = None  # built at first use, as the sampler's tables are

    def sample(
        self, n: int, space_group: int | str | None = None, generator: torch.Generator | None = None
    ) -> CrystalBatch:
        """``n`` crystals, all pushed apart or all placed freely (see the class)."""
        gen = self.generator if generator is None else generator
        u = float(torch.rand(1, generator=gen, device=gen.device, dtype=torch.float64))
        if u >= self.free_atoms:
            return super().sample(n, space_group, generator=gen)
        if self._free is None:
            statistics = dataclasses.replace(self.resolved_statistics(), volume_shift=0.0)
            self._free = SpaceGroupSampler(
                **{**self._kwargs, "statistics": statistics, "min_distance_scale": 0.0}
            )
        return self._free.sample(n, space_group, generator=gen)


class ViewMixture(nn.Module):
    """The first of every ``views`` consecutive crystals of a batch from the clean simulator, the others from
    the laboratory one (same grid).

    With ``crystal_reuse`` = ``views`` the consecutive rows are one sampled crystal, so every crystal is seen
    clean and under laboratory effects in the same batch, which is what a consistency term between its
    patterns needs to teach the network to answer the same for both.
    """

    def __init__(self, clean: nn.Module, laboratory: nn.Module, views: int) -> None:
        super().__init__()
        if views < 2:
            raise ValueError(f"views must be >= 2, got {views}")
        self.clean, self.laboratory, self.views = clean, laboratory, int(views)

    @property
    def device(self) -> torch.device:
        """The device of the simulators."""
        return self.clean.device

    @property
    def two_theta(self) -> torch.Tensor:
        """(P,) the 2θ grid in degrees, shared by both simulators."""
        return self.clean.two_theta

    def forward(self, batch: CrystalBatch, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, P) patterns of ``batch``: rows 0, views, 2 views, ... clean, the others laboratory (the clean
        rows are drawn first from ``generator``, then the laboratory ones)."""
        gen = self.clean.generator() if generator is None else generator
        first = torch.arange(len(batch), device=batch.device) % self.views == 0
        patterns: torch.Tensor | None = None
        for simulator, rows in ((self.clean, first), (self.laboratory, ~first)):
            index = torch.nonzero(rows).squeeze(1)
            if index.numel() == 0:
                continue
            made = simulator(batch.take(index), generator=gen)
            if patterns is None:
                patterns = made.new_zeros((len(batch), made.shape[1]))
            patterns[index.to(made.device)] = made
        assert patterns is not None  # a batch has at least one row
        return patterns


def space_group_weights(config: TrainConfig) -> str | list[float]:
    """The sampler's ``space_group_weights`` for ``config``: a name, or one weight per group 1..230."""
    if config.space_group_counts is not None:
        counts = list(config.space_group_counts)
    elif config.space_group_weights != "tempered":
        return config.space_group_weights
    else:
        # A name or a file, resolved as the sampler resolves it (a sampler constructs without I/O).
        fitted = SpaceGroupSampler(statistics=config.statistics).resolved_statistics().space_group_counts
        counts = [float(fitted.get(g, 0)) for g in range(1, NUM_SPACE_GROUPS + 1)]
    if config.space_group_weights == "statistics":
        return counts
    # +1: every group keeps a chance, however rare in the statistics.
    return [(c + 1.0) ** config.tempering for c in counts]


def build_data(config: TrainConfig, device: torch.device) -> tuple[SpaceGroupSampler, nn.Module]:
    """The sampler and the simulator (a preset, or a mixture with the clean preset) of a training recipe,
    on ``device``. Patterns come out linear, maximum 1: the classifier's preprocessing does the rest."""
    sampler_settings = {
        "statistics": config.statistics,
        "seed": config.seed,
        "device": device,
        "max_atoms": config.max_atoms,
        "space_group_weights": space_group_weights(config),
    }
    sampler = (
        PlacementMixture(config.free_atoms, **sampler_settings)
        if config.free_atoms
        else SpaceGroupSampler(**sampler_settings)
    )
    settings = {
        "two_theta": config.two_theta, "device": device, "seed": config.seed, "compile": config.compile,
        "step_average": config.step_average,
    }  # fmt: skip
    clean_settings = {**settings, "wavelength": config.wavelength}
    if config.preset == "clean":
        main = clean_data(config, clean_settings)
    else:
        main = preset(config.preset, **settings, overrides=config.preset_overrides or None)
    if config.clean_views:
        return sampler, ViewMixture(clean_data(config, clean_settings), main, config.crystal_reuse)
    if config.clean_fraction == 0.0 and config.widths_fraction == 0.0:
        return sampler, main
    clean = clean_data(config, clean_settings)
    if config.clean_fraction == 1.0:
        return sampler, clean
    laboratory = 1.0 - config.clean_fraction - config.widths_fraction
    if not config.widths_fraction:
        return sampler, SimulatorMixture([clean, main], [config.clean_fraction, laboratory])
    widths = widths_preset(config, main.simulator)
    return sampler, SimulatorMixture(
        [clean, main, widths], [config.clean_fraction, laboratory, config.widths_fraction]
    )


def widths_preset(config: TrainConfig, simulator: nn.Module) -> AugmentedSimulator:
    """The laboratory preset's peak widths alone: its pseudo-Voigt ``simulator`` with its instrument
    function, crystallite sizes and microstrain (as ``config.preset_overrides`` set them), Cu Kα1, nothing
    else."""
    kinds = (InstrumentFunction, CrystalliteSize, Microstrain)
    widths = [t for t in laboratory_cu_transforms(config.preset_overrides or None) if isinstance(t, kinds)]
    return AugmentedSimulator(simulator, widths)


def clean_data(config: TrainConfig, settings: dict) -> nn.Module:
    """The clean batches: :func:`clean_preset`, or with ``config.clean_pseudo_voigt`` a per-batch mixture of
    it and the same recipe on pseudo-Voigt peaks."""
    gaussian = clean_preset(config, settings)
    share = config.clean_pseudo_voigt
    if not share:
        return gaussian
    pseudo_voigt = clean_preset(config, settings, profile="pseudo_voigt")
    if share == 1.0:
        return pseudo_voigt
    return SimulatorMixture([gaussian, pseudo_voigt], [1.0 - share, share])


def clean_preset(config: TrainConfig, settings: dict, profile: str = "gaussian") -> AugmentedSimulator:
    """The "clean" preset (its simulator with ``profile`` peaks), with the laboratory preset's Kα doublet on
    a share ``config.clean_doublet`` of its patterns, its smooth background and Poisson noise each on a share
    ``config.clean_noise``, and the effects of ``config.clean_effects`` each on its share (the laboratory
    effects as ``config.preset_overrides`` set them, in the preset's order)."""
    clean = preset("clean", **settings)
    if profile != "gaussian":
        # The clean preset's simulator with another peak shape (the same grid, sizes, device and seed).
        sizes = clean.simulator.crystallite_size_nm
        clean = AugmentedSimulator(PowderSimulator(profile=profile, crystallite_size_nm=sizes, **settings))
    if not (config.clean_doublet or config.clean_noise or config.clean_effects):
        return clean
    # clean_effects refuses these three names, so the options never compete for an effect.
    probabilities = {
        KAlphaDoublet.__name__: config.clean_doublet,
        Background.__name__: config.clean_noise,
        PoissonNoise.__name__: config.clean_noise,
        **config.clean_effects,
    }
    on_clean: list[ReflectionTransform | PatternTransform] = []
    for effect in laboratory_cu_transforms(config.preset_overrides or None):
        probability = probabilities.get(type(effect).__name__)
        if probability:
            effect.p = float(probability)  # a fresh chain: the preset's arguments, this probability
            on_clean.append(effect)
    return AugmentedSimulator(clean.simulator, on_clean)


def validation_set(config: TrainConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed synthetic validation set from a seed no training stream uses."""
    seed = config.seed + VALIDATION_SEED_OFFSET
    sampler, simulator = build_data(dataclasses.replace(config, seed=seed), device)
    batch = min(config.batch_size, config.eval_patterns)
    stream = SyntheticPowderDataset(
        sampler, simulator, batch_size=batch, seed=seed,
        num_batches=math.ceil(config.eval_patterns / batch), rank=0, world_size=1,
    )  # fmt: skip
    patterns, labels = zip(*stream, strict=True)
    space_groups = torch.cat([lab["space_group"] for lab in labels])
    return torch.cat(patterns)[: config.eval_patterns], space_groups[: config.eval_patterns].to(device)
