"""The settings of a training run: :class:`TrainConfig` (stored in ``config.json`` and the model card)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .._base import DEFAULT_TWO_THETA
from .._radiation import KALPHA2_OF_KALPHA1, KBETA_OF_KALPHA1
from ..sampler import NAMED_STATISTICS
from ..simulate import resolve_wavelength
from ..transforms import PRESETS, laboratory_cu_transforms

__all__ = ["CONSISTENCY_ANCHORS", "PRECISIONS", "SPACE_GROUP_WEIGHTS", "TrainConfig"]

#: The 2θ grid networks are trained on by default: the range of the simulator's default grid at half its
#: resolution (0.02°, still several points across the narrowest laboratory peaks), which halves the cost of
#: every convolution; measured patterns are interpolated onto it.
TRAINING_TWO_THETA = (DEFAULT_TWO_THETA[0], DEFAULT_TWO_THETA[1], (DEFAULT_TWO_THETA[2] + 1) // 2)

#: How often each space group is drawn (see :attr:`TrainConfig.space_group_weights`).
SPACE_GROUP_WEIGHTS = ("uniform", "statistics", "tempered")
# What the consistency term pulls the predictions of one crystal's patterns toward (see views_divergence).
CONSISTENCY_ANCHORS = ("mean", "clean")
#: The network's arithmetic in training (see :attr:`TrainConfig.precision`): name -> autocast dtype.
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


# Effects that clean_effects refuses: they have their own options or need another simulator.
_NOT_CLEAN_EFFECTS = (
    "InstrumentFunction", "CrystalliteSize", "Microstrain", "KAlphaDoublet", "Background", "PoissonNoise",
)  # fmt: skip


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
        baseline_threshold: levels below this fraction of the strongest peak are read as zero, measured
            patterns too (:attr:`xrdsynth.models.InputSpec.baseline_threshold`; 0: every level is read).
        background_window_deg: the network reads patterns with their background removed by a
            morphological opening of this width in degrees (0: none); measured patterns get the same.
        smoothing_fwhm_deg: then convolved with a Gaussian of this FWHM in degrees (0: none), measured
            patterns too (:attr:`xrdsynth.models.InputSpec.smoothing_fwhm_deg`).
        log_d_points: the network reads the pattern resampled onto this many points equally spaced in ln d
            (:attr:`xrdsynth.models.InputSpec.log_d_points`; 0: the 2θ grid itself).
        kalpha2_strip_ratio: the Kα2 line is stripped at this intensity ratio before the network, measured
            patterns too (:attr:`xrdsynth.models.InputSpec.kalpha2_strip_ratio`; 0: kept).
        kbeta_strip: a Kβ residue found in a pattern is removed before the network, measured patterns too
            (:attr:`xrdsynth.models.InputSpec.kbeta_strip`).
        rerender_size_nm: the network reads the pattern's peaks drawn again as Gaussians of the Scherrer
            width of this crystallite size in nm, Kα2 stripped
            (:attr:`xrdsynth.models.InputSpec.rerender_size_nm`; 0: the pattern itself).
        steps: optimiser steps in total (per rank, each on ``batch_size`` new patterns).
        batch_size: patterns per step and rank.
        lr: peak learning rate (AdamW).
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up, then cosine decay to 2% of ``lr`` at ``steps``.
        label_smoothing: of the cross-entropy.
        crystal_system_loss: weight of a second negative log-likelihood added to the loss, that of the
            true crystal system, whose probability is the sum of the network's probabilities over the
            system's space groups (:func:`~xrdsynth.train.crystal_system_loss`; 0: none). The answer of
            :attr:`~xrdsynth.models.Prediction.most_probable_crystal_system` is that sum's largest.
        seed: of the model initialisation and of the data stream.
        device: "cpu", "cuda", "cuda:1", or "auto" (the rank's GPU when there is one).
        threads: torch CPU threads (0: torch's default).
        space_group_weights: "uniform", "statistics" (as often as in the sampler statistics), or
            "tempered" (statistics to the power ``tempering``: common groups more often, rare ones still
            seen).
        tempering: exponent of the "tempered" weights.
        space_group_counts: how many structures of each space group 1..230 (230 numbers) the
            "statistics" and "tempered" weights follow instead of the sampler statistics' counts, e.g.
            one structure per mineral (``scripts/count_space_groups.py``: a collection that holds many
            refinements of a few common minerals over-counts their groups); None: the statistics'.
        statistics: the sampler statistics, a name in :data:`xrdsynth.sampler.NAMED_STATISTICS`
            ("default": fitted volumes and distances; "default-v1": the statistics of the shipped
            classifier's training, crystals with larger cells and shorter distances), or the path of a
            statistics file (:meth:`xrdsynth.sampler.SamplerStatistics.save`, e.g. fitted on your own
            collection); the path is stored as given, so a resumed run must see the same file.
        preset: the recipe of the training patterns, a name in :data:`xrdsynth.transforms.PRESETS`
            ("laboratory-cu": Kα doublet, instrument function, sizes from 15 nm to 2 µm, strain, texture,
            shifts, impurity, backgrounds, counting noise, partial scans; "clean": Kα1 Gaussian peaks).
        preset_overrides: arguments of some effects of the preset, by class name, e.g.
            ``{"PreferredOrientation": {"r": [0.35, 1.8], "p": 0.8}}`` (see
            :func:`xrdsynth.transforms.laboratory_cu_transforms`); the clean batches are not affected.
        clean_fraction: fraction of batches made with the "clean" preset instead.
        clean_doublet: probability that a pattern of the clean batches (or clean views) carries the Cu Kα
            doublet of the laboratory preset (its Kα2/Kα1 ratio), on the clean preset's Gaussian peaks and
            nothing else. The laboratory preset shows the doublet only together with its instrument
            widths, so without this the network never sees Kα2 on narrow Gaussian peaks alone (0: never).
        clean_noise: probability that a pattern of the clean batches (or clean views) carries the laboratory
            preset's smooth background, and independently its Poisson counting noise (the preset's ranges),
            on the clean preset's Gaussian peaks: the preset shows both only with its instrument widths
            (0: never).
        clean_pseudo_voigt: share of the clean batches (or clean views) rendered with pseudo-Voigt peaks,
            the laboratory preset's profile, instead of Gaussians (the same 20–100 nm crystallites and
            effects). The Lorentzian tails of a pseudo-Voigt put faint intensity between the peaks, which a
            network that only saw noise-free Gaussians reads as structure (0: Gaussians only).
        clean_effects: more laboratory effects on a share of the clean patterns (or clean views), by class
            name: probability, e.g. ``{"ScanRange": 0.15, "KBetaResidue": 0.15}``; each with the laboratory
            preset's arguments (as ``preset_overrides`` set them) but that probability, in the preset's
            order (with ``clean_doublet`` and ``clean_noise``). Not the width effects (``InstrumentFunction``,
            ``CrystalliteSize``, ``Microstrain``: they need the preset's pseudo-Voigt simulator, see
            ``widths_fraction``), nor the doublet, background and counting noise, which have their options.
        widths_fraction: fraction of batches made with the laboratory preset's peak widths and nothing else:
            pseudo-Voigt peaks with its instrument function, crystallite sizes and microstrain (as
            ``preset_overrides`` set them), Cu Kα1 alone, no background or noise. The preset shows its narrow
            instrument-limited peaks only together with its other effects, and the clean batches only
            Gaussian peaks of 20–100 nm crystallites (0: none; taken from the laboratory batches, so
            ``clean_fraction + widths_fraction`` must not exceed 1).
        free_atoms: probability that the crystals of a sampler call (a batch's, with ``crystal_pool`` 1) are
            drawn with their atoms placed freely: uniform coordinates, no minimum distances and no pushes,
            at the fitted volumes without the statistics' ``volume_shift`` (which compensates for the
            cells grown by pushing). The network reads the sampler's pushed arrangements better than random
            ones, and real ones no better than random ones (``scripts/probe_coordinates.py``); training on
            free atoms too did not help on real minerals or measured patterns (docs/training.md); 0: never.
        clean_views: with ``crystal_reuse`` r >= 2, the first of the r patterns of every crystal is made
            with the "clean" preset and the others with ``preset`` (instead of whole clean batches,
            ``clean_fraction`` must be 0): each crystal is seen clean and with laboratory effects in one
            batch, for ``consistency``.
        crystal_reuse: patterns made from each sampled crystal of a batch, each with its own draws of
            the preset's effects (:class:`~xrdsynth.data.SyntheticPowderDataset`): a batch of 128 with 4
            holds 32 crystals. Sampling realistic crystals costs more CPU than simulating them, so this
            trades crystals per pattern for patterns per second.
        crystal_pool: batches whose crystals are sampled in one call of the sampler
            (:class:`~xrdsynth.data.SyntheticPowderDataset`): 1 on a CPU; on a GPU, where the sampler is
            bound by kernel launches, 32 or more (the shipped recipe at batch 1024 trained at 4,347
            patterns/s on an H200 with 32). Other crystals than with 1, from the same distribution.
        consistency: weight of a consistency term added to the loss (0: none; needs ``crystal_reuse`` >= 2
            dividing ``batch_size``): the Jensen-Shannon divergence among the predictions for the patterns
            of one crystal, which differ only in their laboratory effects, so that the network learns to
            answer alike whatever the instrument and sample add (as AugMix does for images). The loss in
            metrics.csv includes the term.
        consistency_anchor: "mean" (the Jensen-Shannon divergence among all patterns of a crystal) or
            "clean" (needs ``clean_views``: the laboratory patterns' predictions are pulled toward the clean
            pattern's, which is left alone, as a teacher's).
        init_from: a saved model folder or shipped model name whose weights start the run (same
            architecture and grid, or a shallower basic-block ResNet of the same width, e.g. a resnet10
            starting a resnet18, whose added blocks start as the identity); None starts from random
            weights.
        max_atoms: largest cell the sampler makes.
        compile: fuse the simulator's rendering with torch.compile.
        step_average: render each grid point as the mean of the profile over its step
            (:class:`~xrdsynth.PowderSimulator`'s ``step_average``), as measured scans are averaged onto the
            classifier's grid, instead of the profile's value at the point (which misses or over-reads peaks
            narrower than the step: the laboratory preset's narrowest are about one step of 0.02° wide).
        precision: arithmetic of the network's forward pass: "float32", or "bfloat16" (mixed precision:
            convolutions and matrix products in bfloat16 under ``torch.autocast``, weights, optimiser state
            and loss in float32). On CPUs with bfloat16 instructions (AVX512-BF16, AMX) and on recent GPUs
            a step takes about 0.6 of the float32 time; elsewhere torch emulates bfloat16 (13x the float32
            time on an AVX2 CPU, and the run warns). May change on resume.
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
    two_theta: tuple[float, float, int] = TRAINING_TWO_THETA
    wavelength: str | float = "CuKa1"
    sqrt_scale: bool = True
    baseline_threshold: float = 0.0
    background_window_deg: float = 3.0
    smoothing_fwhm_deg: float = 0.0
    log_d_points: int = 0
    rerender_size_nm: float = 0.0
    kalpha2_strip_ratio: float = 0.0
    kbeta_strip: bool = False
    steps: int = 1000
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 200
    label_smoothing: float = 0.05
    crystal_system_loss: float = 0.0
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    space_group_weights: str = "uniform"
    tempering: float = 0.5
    space_group_counts: tuple[float, ...] | None = None
    statistics: str = "default"
    preset: str = "laboratory-cu"
    preset_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    clean_fraction: float = 0.0
    clean_doublet: float = 0.0
    clean_noise: float = 0.0
    clean_pseudo_voigt: float = 0.0
    clean_effects: dict[str, float] = field(default_factory=dict)
    widths_fraction: float = 0.0
    free_atoms: float = 0.0
    clean_views: bool = False
    crystal_reuse: int = 1
    crystal_pool: int = 1
    consistency: float = 0.0
    consistency_anchor: str = "mean"
    init_from: str | None = None
    max_atoms: int = 100
    compile: bool = False
    step_average: bool = False
    precision: str = "float32"
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
        if self.preset_overrides:
            if self.preset != "laboratory-cu" or self.clean_fraction == 1.0:
                raise ValueError(
                    "preset_overrides change effects of the laboratory-cu preset; this run has none "
                    f"(preset {self.preset!r}, clean_fraction {self.clean_fraction})"
                )
            laboratory_cu_transforms(self.preset_overrides)  # refuses unknown effects or arguments now
        cu = resolve_wavelength(self.wavelength).wavelength == resolve_wavelength("CuKa1").wavelength
        if self.preset == "laboratory-cu" and self.clean_fraction < 1.0 and not cu:
            raise ValueError(
                f"the laboratory-cu preset simulates Cu Kα1 (Kα2 is one of its effects); got wavelength "
                f"{self.wavelength!r} (the clean preset takes any)"
            )
        if not 0.0 <= self.clean_doublet <= 1.0:
            raise ValueError(f"clean_doublet must be a probability in [0, 1], got {self.clean_doublet}")
        clean_batches = self.preset == "clean" or self.clean_fraction > 0 or self.clean_views
        if self.clean_doublet and not (cu and clean_batches):
            raise ValueError(
                "clean_doublet adds the Cu Kα doublet to clean patterns: it needs clean batches "
                "(clean_fraction > 0, clean_views or the clean preset) at Cu Kα1, got clean_fraction "
                f"{self.clean_fraction}, clean_views {self.clean_views}, preset {self.preset!r}, "
                f"wavelength {self.wavelength!r}"
            )
        if not 0.0 <= self.clean_noise <= 1.0:
            raise ValueError(f"clean_noise must be a probability in [0, 1], got {self.clean_noise}")
        if self.clean_noise and not clean_batches:
            raise ValueError(
                "clean_noise adds the laboratory preset's background and counting noise to clean patterns: "
                "it needs clean batches (clean_fraction > 0, clean_views or the clean preset), got "
                f"clean_fraction {self.clean_fraction}, clean_views {self.clean_views}, "
                f"preset {self.preset!r}"
            )
        if not 0.0 <= self.clean_pseudo_voigt <= 1.0:
            raise ValueError(f"clean_pseudo_voigt must be a share in [0, 1], got {self.clean_pseudo_voigt}")
        if self.clean_pseudo_voigt and not clean_batches:
            raise ValueError(
                "clean_pseudo_voigt renders a share of the clean batches with pseudo-Voigt peaks: it needs "
                "clean batches (clean_fraction > 0, clean_views or the clean preset), got clean_fraction "
                f"{self.clean_fraction}, clean_views {self.clean_views}, preset {self.preset!r}"
            )
        if self.clean_effects:
            names = [type(t).__name__ for t in laboratory_cu_transforms(self.preset_overrides or None)]
            refused = sorted(set(self.clean_effects) & set(_NOT_CLEAN_EFFECTS))
            unknown = sorted(set(self.clean_effects) - set(names))
            if refused or unknown:
                raise ValueError(
                    f"clean_effects: {', '.join(refused + unknown)} cannot go on clean patterns (the width "
                    "effects need widths_fraction, the doublet, background and noise clean_doublet and "
                    f"clean_noise); the laboratory-cu preset's effects: {', '.join(names)}"
                )
            values = self.clean_effects.values()
            if not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in values
            ):
                raise ValueError(
                    f"clean_effects must map effects to probabilities in [0, 1], got {self.clean_effects}"
                )
            if not clean_batches:
                raise ValueError(
                    "clean_effects puts laboratory effects on clean patterns: it needs clean batches "
                    "(clean_fraction > 0, clean_views or the clean preset)"
                )
        if not 0.0 <= self.widths_fraction <= 1.0 - self.clean_fraction:
            raise ValueError(
                f"widths_fraction must be in [0, 1 - clean_fraction = {1.0 - self.clean_fraction:g}], got "
                f"{self.widths_fraction}"
            )
        if self.widths_fraction and (self.preset != "laboratory-cu" or self.clean_views):
            raise ValueError(
                "widths_fraction takes the laboratory-cu preset's peak widths for a share of its batches: it "
                f"needs that preset and whole clean batches, got preset {self.preset!r}, clean_views "
                f"{self.clean_views}"
            )
        if not 0.0 <= self.free_atoms <= 1.0:
            raise ValueError(f"free_atoms must be a probability in [0, 1], got {self.free_atoms}")
        if not 0.0 <= self.baseline_threshold < 1.0:
            raise ValueError(f"baseline_threshold must be in [0, 1), got {self.baseline_threshold}")
        if not self.background_window_deg >= 0:
            raise ValueError(f"background_window_deg must be >= 0, got {self.background_window_deg}")
        if not (math.isfinite(self.smoothing_fwhm_deg) and self.smoothing_fwhm_deg >= 0):
            raise ValueError(f"smoothing_fwhm_deg must be >= 0, got {self.smoothing_fwhm_deg}")
        if not (math.isfinite(self.rerender_size_nm) and self.rerender_size_nm >= 0):
            raise ValueError(f"rerender_size_nm must be >= 0, got {self.rerender_size_nm}")
        if not 0.0 <= self.kalpha2_strip_ratio < 1.0:
            raise ValueError(f"kalpha2_strip_ratio must be in [0, 1), got {self.kalpha2_strip_ratio}")
        kalpha1 = round(resolve_wavelength(self.wavelength).wavelength, 6)
        if self.kalpha2_strip_ratio and kalpha1 not in KALPHA2_OF_KALPHA1:
            raise ValueError(f"kalpha2_strip_ratio needs a tube's Kα1 wavelength, got {self.wavelength!r}")
        if self.kalpha2_strip_ratio and self.rerender_size_nm:
            raise ValueError("rerender_size_nm strips the Kα2 line itself; leave kalpha2_strip_ratio at 0")
        if not isinstance(self.kbeta_strip, bool):
            raise ValueError(f"kbeta_strip must be True or False, got {self.kbeta_strip!r}")
        if self.kbeta_strip and kalpha1 not in KBETA_OF_KALPHA1:
            raise ValueError(f"kbeta_strip needs a tube's Kα1 wavelength, got {self.wavelength!r}")
        points = self.log_d_points
        if isinstance(points, bool) or not isinstance(points, int) or not (points == 0 or points >= 16):
            raise ValueError(f"log_d_points must be 0 or an int >= 16, got {self.log_d_points}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.statistics not in NAMED_STATISTICS and not Path(self.statistics).is_file():
            raise ValueError(
                f"statistics must be one of {', '.join(NAMED_STATISTICS)} or the path of a statistics "
                f"file, got {self.statistics!r} (no such file)"
            )
        reuse = self.crystal_reuse
        if isinstance(reuse, bool) or not isinstance(reuse, int) or not 1 <= reuse <= self.batch_size:
            raise ValueError(
                f"crystal_reuse must be between 1 and batch_size ({self.batch_size}), "
                f"got {self.crystal_reuse}"
            )
        pool = self.crystal_pool
        if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
            raise ValueError(f"crystal_pool must be a positive int, got {pool!r}")
        if not (math.isfinite(self.crystal_system_loss) and self.crystal_system_loss >= 0):
            raise ValueError(f"crystal_system_loss must be >= 0, got {self.crystal_system_loss}")
        if not (math.isfinite(self.consistency) and self.consistency >= 0):
            raise ValueError(f"consistency must be >= 0, got {self.consistency}")
        if self.consistency and (reuse < 2 or self.batch_size % reuse):
            raise ValueError(
                "consistency compares the patterns of one crystal: it needs crystal_reuse >= 2 dividing "
                f"batch_size, got crystal_reuse={reuse}, batch_size={self.batch_size}"
            )
        if self.consistency_anchor not in CONSISTENCY_ANCHORS:
            raise ValueError(
                f"consistency_anchor must be one of {', '.join(CONSISTENCY_ANCHORS)}, "
                f"got {self.consistency_anchor!r}"
            )
        if self.consistency_anchor == "clean" and not self.clean_views:
            raise ValueError("consistency_anchor 'clean' needs clean_views")
        if self.clean_views and (reuse < 2 or self.clean_fraction or self.preset == "clean"):
            raise ValueError(
                "clean_views makes the first pattern of each crystal clean: it needs crystal_reuse >= 2, "
                f"clean_fraction 0 and a laboratory preset, got crystal_reuse={reuse}, "
                f"clean_fraction={self.clean_fraction}, preset={self.preset!r}"
            )
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.space_group_weights not in SPACE_GROUP_WEIGHTS:
            raise ValueError(
                "space_group_weights must be uniform, statistics or tempered, "
                f"got {self.space_group_weights!r}"
            )
        if self.space_group_counts is not None:
            counts = tuple(float(c) for c in self.space_group_counts)
            if len(counts) != 230 or not all(math.isfinite(c) and c >= 0 for c in counts):
                raise ValueError(
                    "space_group_counts must be 230 finite counts >= 0, one per space group 1..230"
                )
            if self.space_group_weights == "uniform":
                raise ValueError("space_group_counts needs space_group_weights 'statistics' or 'tempered'")
            self.space_group_counts = counts
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
