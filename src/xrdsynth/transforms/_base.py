"""The two kinds of transform, and chains of them.

Every transform splits in two steps, as augmentation libraries do: ``draw`` picks the parameters of a whole
batch from the transform's ranges with an explicit generator, ``apply`` uses them. Drawn parameters can be
kept, inspected and replayed, so an augmented batch is reproducible.

- A :class:`ReflectionTransform` acts on the reflections before rendering (lines, widths, shifts,
  texture): its ``draw`` returns :class:`~xrdsynth.simulate.PatternParameters` that the simulator applies.
- A :class:`PatternTransform` acts on rendered (B, P) patterns (backgrounds, noise, scan range, ...).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .._base import Range
from ..simulate import PatternParameters

__all__ = ["PatternTransform", "ReflectionTransform", "Sequential", "make_generator"]


def make_generator(seed: int | torch.Generator | None, device: torch.device | str) -> torch.Generator:
    """A generator on ``device`` from an int seed, an existing generator, or None (nondeterministic)."""
    if isinstance(seed, torch.Generator):
        return seed
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator


def check_probability(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    return float(p)


def uniform(bounds: Range, n: int, generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """(n,) values uniform in [low, high] on the generator's device."""
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand(n, generator=generator, device=generator.device, dtype=dtype)


def log_uniform(bounds: Range, n: int, generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """(n,) values whose logarithm is uniform in [log low, log high] (bounds > 0)."""
    lo, hi = bounds
    return torch.exp(uniform((math.log(lo), math.log(hi)), n, generator, dtype))


def applied(p: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n,) bool: which patterns a transform with probability ``p`` acts on."""
    return torch.rand(n, generator=generator, device=generator.device) < p


def nothing_drawn(
    batch_size: int, generator: torch.Generator, dtype: torch.dtype, *names: str
) -> dict[str, torch.Tensor]:
    """The parameters of a pattern transform switched off (p = 0), taken from nothing: ``applied`` all False
    and each of ``names`` (B,) zeros. A chain that carries an effect switched off (the laboratory preset's
    Smoothing, CoarseScan, AutomaticSlit) then draws every other effect as it did before the effect
    existed."""
    device = generator.device
    zeros = {name: torch.zeros(batch_size, dtype=dtype, device=device) for name in names}
    return {"applied": torch.zeros(batch_size, dtype=torch.bool, device=device), **zeros}


class ReflectionTransform(nn.Module):
    """An effect on the reflections, drawn per pattern and applied by the simulator before rendering.

    Subclasses implement :meth:`draw`. Calling the transform is drawing.
    """

    def draw(
        self, batch_size: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
    ) -> PatternParameters:
        """Parameters for a batch of ``batch_size`` patterns, on the generator's device."""
        raise NotImplementedError

    def forward(
        self, batch_size: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
    ) -> PatternParameters:
        return self.draw(batch_size, generator, dtype)


class PatternTransform(nn.Module):
    """An effect on rendered patterns: ``apply(patterns, two_theta, draw(...))``.

    Args:
        p: probability that a pattern is affected.
        seed: of the generator used when a call gives none (int, generator or None).
    """

    def __init__(self, p: float = 1.0, seed: int | torch.Generator | None = 0) -> None:
        super().__init__()
        self.p = check_probability(p)
        self.seed = seed
        self._generator: torch.Generator | None = None

    def draw(
        self, batch_size: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
    ) -> dict[str, torch.Tensor]:
        """Per-pattern parameters of a batch; always holds ``applied``, a (B,) bool mask."""
        raise NotImplementedError

    def apply(
        self,
        patterns: torch.Tensor,
        two_theta: torch.Tensor,
        parameters: dict[str, torch.Tensor],
        generator: torch.Generator,
    ) -> torch.Tensor:
        """(B, P) patterns and their (P,) grid in degrees -> (B, P) patterns with the effect."""
        raise NotImplementedError

    def forward(
        self,
        patterns: torch.Tensor,
        two_theta: torch.Tensor,
        generator: torch.Generator | None = None,
        parameters: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Draw (unless ``parameters`` are given) and apply; a new tensor, the input is not changed."""
        if patterns.ndim != 2 or two_theta.ndim != 1 or patterns.shape[1] != two_theta.shape[0]:
            raise ValueError(
                f"need (B, P) patterns and a (P,) grid, got {tuple(patterns.shape)} and "
                f"{tuple(two_theta.shape)}"
            )
        if generator is None:
            if self._generator is None or self._generator.device != patterns.device:
                self._generator = make_generator(self.seed, patterns.device)
            generator = self._generator
        if parameters is None:
            parameters = self.draw(patterns.shape[0], generator, patterns.dtype)
        return self.apply(patterns, two_theta.to(patterns.dtype), parameters, generator)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_generator"] = None  # generators do not pickle; a copy restarts from the seed
        return state


class Sequential(nn.Module):
    """Reflection transforms (drawn, then merged into one set of parameters for the simulator) and pattern
    transforms (applied in order after rendering), followed by normalisation to a maximum of 1.

    Args:
        transforms: any mix of :class:`ReflectionTransform` and :class:`PatternTransform`, in order.
    """

    def __init__(self, *transforms: ReflectionTransform | PatternTransform) -> None:
        super().__init__()
        for t in transforms:
            if not isinstance(t, (ReflectionTransform, PatternTransform)):
                raise ValueError(f"{type(t).__name__} is not a ReflectionTransform or PatternTransform")
        self.reflection = nn.ModuleList([t for t in transforms if isinstance(t, ReflectionTransform)])
        self.pattern = nn.ModuleList([t for t in transforms if isinstance(t, PatternTransform)])

    def draw_reflections(
        self, batch_size: int, generator: torch.Generator, dtype: torch.dtype = torch.float32
    ) -> PatternParameters:
        """The merged parameters of every reflection transform (later ones override earlier ones)."""
        merged = PatternParameters()
        for t in self.reflection:
            merged = merged.updated(t.draw(batch_size, generator, dtype))
        return merged

    def apply_patterns(
        self, patterns: torch.Tensor, two_theta: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        """Every pattern transform in order, then each pattern scaled to a maximum of 1."""
        for t in self.pattern:
            patterns = t(patterns, two_theta, generator)
        return normalise(patterns)


def normalise(patterns: torch.Tensor) -> torch.Tensor:
    """(B, P) patterns clipped at 0 and divided by their maximum (all-zero rows stay 0)."""
    patterns = patterns.clamp_min(0.0)
    peak = patterns.amax(dim=1, keepdim=True)
    return patterns / torch.where(peak > 0, peak, torch.ones_like(peak))
