"""Named recipes: a simulator's settings plus the transforms that make its patterns look measured.

A preset is what training, the datasets and users share; ``preset("laboratory-cu")`` builds an
:class:`AugmentedSimulator`, which datasets call like a simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._base import DEFAULT_TWO_THETA
from ..simulate import PowderSimulator
from ..structure import Crystal, CrystalBatch
from ._base import PatternTransform, ReflectionTransform, Sequential
from ._pattern import (
    AirScatter,
    AmorphousHump,
    AutomaticSlit,
    Background,
    Clip,
    CoarseScan,
    GaussianNoise,
    Impurity,
    PoissonNoise,
    ScanRange,
    Smoothing,
    SubtractBackground,
)
from ._reflection import (
    CrystalliteSize,
    InstrumentFunction,
    KAlphaDoublet,
    KBetaResidue,
    Microstrain,
    ParticleStatistics,
    PreferredOrientation,
    SpecimenDisplacement,
    ZeroShift,
)

__all__ = ["PRESETS", "AugmentedSimulator", "laboratory_cu_transforms", "preset"]


class AugmentedSimulator(nn.Module):
    """A :class:`~xrdsynth.PowderSimulator` followed by transforms: draws the reflection effects, simulates,
    applies the pattern effects and scales each pattern to a maximum of 1.

    Args:
        simulator: the physics (grid, principal wavelength, profile shape).
        transforms: a :class:`~xrdsynth.transforms.Sequential` (or a list of transforms).
        sqrt_scale: return √ of the normalised pattern.
    """

    def __init__(
        self,
        simulator: PowderSimulator,
        transforms: Sequential | Sequence[ReflectionTransform | PatternTransform] = (),
        sqrt_scale: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(simulator, PowderSimulator):
            raise ValueError(f"simulator must be a PowderSimulator, got {type(simulator).__name__}")
        self.simulator = simulator
        self.transforms = transforms if isinstance(transforms, Sequential) else Sequential(*transforms)
        self.sqrt_scale = bool(sqrt_scale)

    @property
    def device(self) -> torch.device:
        return self.simulator.device

    @property
    def two_theta(self) -> torch.Tensor:
        """(P,) the grid in degrees."""
        return self.simulator.two_theta

    @property
    def wavelength(self) -> float:
        return self.simulator.wavelength

    def generator(self) -> torch.Generator:
        return self.simulator.generator()

    def forward(
        self, crystals: CrystalBatch | Crystal | Sequence[Crystal], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(B, P) patterns with maximum 1 (√ of them with ``sqrt_scale``)."""
        gen = self.simulator.generator() if generator is None else generator
        n = 1 if isinstance(crystals, Crystal) else len(crystals)
        parameters = self.transforms.draw_reflections(n, gen, self.simulator.dtype)
        patterns = self.simulator(crystals, generator=gen, parameters=parameters)
        patterns = self.transforms.apply_patterns(patterns, self.simulator.two_theta, gen)
        return patterns.sqrt() if self.sqrt_scale else patterns


# The laboratory-cu chain: each effect's class and the arguments the preset gives it, in order.
_LABORATORY_CU: tuple[tuple[type[ReflectionTransform | PatternTransform], dict[str, Any]], ...] = (
    (KAlphaDoublet, {"line": "CuKa1", "ratio": (0.45, 0.55), "p": 0.9}),
    (KBetaResidue, {"line": "CuKa1", "ratio": (0.002, 0.02), "p": 0.15}),
    (InstrumentFunction, {"u": (0.0, 0.008), "v": (-0.004, 0.0), "w": (0.0005, 0.005)}),
    (CrystalliteSize, {"size_nm": (30.0, 3000.0)}),
    (Microstrain, {"strain": (0.0, 1e-3), "p": 0.5}),
    (PreferredOrientation, {"r": (0.5, 1.5), "p": 0.5}),
    # Off (p = 0: nothing drawn, the preset's patterns as before it existed): training with it did not
    # change rruff-dev accuracy (docs/training.md); switch on with overrides={"ParticleStatistics": {...}}.
    (ParticleStatistics, {"sigma": (0.05, 0.5), "p": 0.0}),
    (ZeroShift, {"shift": (-0.06, 0.06)}),
    (SpecimenDisplacement, {"displacement_mm": (-0.15, 0.15)}),
    (Impurity, {"fraction": (0.01, 0.1), "p": 0.15}),
    (Background, {"level": (0.0, 0.5), "floor": (0.0, 0.2), "p": 0.8}),
    (AmorphousHump, {"level": (0.0, 0.2), "p": 0.2}),
    (AirScatter, {"level": (0.0, 0.5), "decay_deg": (1.0, 8.0), "p": 0.3}),
    # Off (p = 0): counts of an automatic divergence slit, growing as sin θ (scripts/check_scan_settings.py:
    # 6 points of top-1 for a network that never saw them). The shipped classifier's recipe switches it on
    # with overrides={"AutomaticSlit": {"p": 0.2}}.
    (AutomaticSlit, {"p": 0.0}),
    (PoissonNoise, {"counts": (50.0, 3e4), "p": 0.95}),
    (GaussianNoise, {"sigma": (0.0, 0.01), "p": 0.1}),
    # Off (p = 0): a smoothed export, noise correlated from point to point; rruff-dev read after a 0.03°
    # smoothing loses 5 points (docs/training.md, session 43). Switch on with overrides={"Smoothing": {...}}.
    (Smoothing, {"fwhm": (0.02, 0.08), "p": 0.0}),
    # Off (p = 0): a scan of 0.03-0.1° steps, its counting noise interpolated onto the grid, which a network
    # that never saw such scans reads badly (scripts/check_scan_settings.py: 0.1° steps 23 % against 50 %).
    # The shipped classifier's recipe switches it on with overrides={"CoarseScan": {"p": 0.3}}.
    (CoarseScan, {"step": (0.03, 0.1), "p": 0.0}),
    (Clip, {"level": (0.6, 0.95), "p": 0.03}),
    (SubtractBackground, {"window_deg": (1.5, 5.0), "p": 0.75}),
    (ScanRange, {"start": (5.0, 20.0), "stop": (60.0, 90.0), "p": 0.3}),
)


def laboratory_cu_transforms(
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[ReflectionTransform | PatternTransform]:
    """The effects of the ``laboratory-cu`` preset, in order (a Bragg–Brentano diffractometer with a Cu
    tube, Ni filter or none, a flat powder sample), with ranges set so that RRUFF's measured patterns fall
    inside the simulated distributions (see "Realism" in docs/transforms.md).

    Args:
        overrides: arguments that replace the preset's for some effects, by class name, e.g.
            ``{"PreferredOrientation": {"r": (0.35, 1.8), "p": 0.8}}``; the effect's other arguments stay
            the preset's. Lists (from JSON) are taken as tuples.

    Raises:
        ValueError: an override for an effect the preset does not have, or arguments the effect refuses.
    """
    overrides = dict(overrides or {})
    names = [cls.__name__ for cls, _ in _LABORATORY_CU]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ValueError(
            f"no effect {', '.join(map(repr, unknown))} in the laboratory-cu preset; its effects: "
            + ", ".join(names)
        )
    chain: list[ReflectionTransform | PatternTransform] = []
    for cls, arguments in _LABORATORY_CU:
        given = overrides.get(cls.__name__, {})
        if not isinstance(given, Mapping):
            raise ValueError(
                f"the override of {cls.__name__} must map argument names to values, got {given!r}"
            )
        merged = {**arguments, **{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}}
        try:
            chain.append(cls(**merged))
        except (TypeError, ValueError) as error:  # an argument the effect does not take, or a bad value
            raise ValueError(f"{cls.__name__}: {error}") from None
    return chain


def _clean(wavelength: str | float = "CuKa1", **settings: Any) -> AugmentedSimulator:
    sim = PowderSimulator(
        wavelength=wavelength, profile="gaussian", crystallite_size_nm=(20.0, 100.0), **settings
    )
    return AugmentedSimulator(sim, ())


def _laboratory_cu(
    overrides: Mapping[str, Mapping[str, Any]] | None = None, **settings: Any
) -> AugmentedSimulator:
    # Widths come from the transforms (instrument function, size, strain); the simulator's own size range
    # is only the fallback when a chain leaves size out.
    transforms = laboratory_cu_transforms(overrides)
    sim = PowderSimulator(
        wavelength="CuKa1", profile="pseudo_voigt", crystallite_size_nm=(20.0, 100.0), **settings
    )
    return AugmentedSimulator(sim, transforms)


_BUILDERS: dict[str, Callable[..., AugmentedSimulator]] = {"clean": _clean, "laboratory-cu": _laboratory_cu}
PRESETS: tuple[str, ...] = tuple(_BUILDERS)
"""Names :func:`preset` knows: ``"clean"`` (Cu Kα1, Gaussian peaks from 20–100 nm crystallites, nothing
else) and ``"laboratory-cu"`` (:func:`laboratory_cu_transforms` on pseudo-Voigt peaks)."""


def preset(
    name: str,
    two_theta: Any = DEFAULT_TWO_THETA,
    *,
    device: torch.device | str = "cpu",
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = torch.float32,
    compile: bool = False,
    sqrt_scale: bool = False,
    wavelength: str | float | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    step_average: bool = False,
) -> AugmentedSimulator:
    """A named recipe as an :class:`AugmentedSimulator` on ``device``.

    Args:
        name: one of :data:`PRESETS`.
        two_theta: the grid, as for :class:`~xrdsynth.PowderSimulator`.
        device, seed, dtype, compile: passed to the simulator (the seed drives every random draw).
        sqrt_scale: return √ of the normalised patterns.
        step_average: each point the mean of the profile over its step, as measured scans averaged onto a
            classifier's grid are (:class:`~xrdsynth.PowderSimulator`'s ``step_average``).
        wavelength: the line of the ``"clean"`` preset (default Cu Kα1); the laboratory preset is Cu's.
        overrides: arguments of some of the preset's effects, by class name (see
            :func:`laboratory_cu_transforms`); the ``"clean"`` preset has none to override.

    Raises:
        ValueError: an unknown name, a wavelength for a preset tied to its tube, or overrides the preset
            cannot take.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    settings: dict[str, Any] = {
        "two_theta": two_theta, "device": device, "seed": seed, "dtype": dtype, "compile": compile,
        "step_average": step_average,
    }  # fmt: skip
    if wavelength is not None:
        if name != "clean":
            raise ValueError(f"the {name!r} preset has its own wavelength; only 'clean' takes one")
        settings["wavelength"] = wavelength
    if overrides:
        if name == "clean":
            raise ValueError("the 'clean' preset has no effects to override")
        settings["overrides"] = overrides
    augmented = _BUILDERS[name](**settings)
    augmented.sqrt_scale = bool(sqrt_scale)
    return augmented
