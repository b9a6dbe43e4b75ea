"""Sample and instrument effects as small seeded transforms, and named presets built from them.

Two kinds, split where the physics splits: :class:`ReflectionTransform` effects act on reflections before
rendering (Kα2 and Kβ lines, instrument function, crystallite size, microstrain, preferred orientation,
particle statistics, zero shift, specimen displacement) and return per-pattern
:class:`~xrdsynth.simulate.PatternParameters` that the simulator applies; :class:`PatternTransform` effects
act on rendered (B, P) patterns (impurity phase, backgrounds, amorphous hump, air scatter, counting noise,
read-out noise, saturation, background subtraction as in processed database patterns, scan range, a coarser
scan step, an automatic divergence slit). Each
draws its parameters for a batch from documented ranges with an explicit generator, then applies them.

:func:`preset` builds the named recipes (``"clean"``, ``"laboratory-cu"``) that training, datasets and users
share, as an :class:`AugmentedSimulator`. :func:`remove_background`, :func:`smooth_gaussian` and
:func:`rerender_peaks` (with :func:`strip_kalpha2`) are the background subtraction, smoothing and peak
re-rendering the classifiers can apply to simulated and measured patterns alike; :func:`kbeta_ratio` and
:func:`strip_kbeta` find and remove a Kβ residue, :func:`kalpha2_ratio` finds a Kα2 line.
"""

from ._background import remove_background, smooth_gaussian
from ._base import PatternTransform, ReflectionTransform, Sequential, make_generator
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
from ._peaks import kalpha2_ratio, kbeta_ratio, rerender_peaks, strip_kalpha2, strip_kbeta
from ._presets import PRESETS, AugmentedSimulator, laboratory_cu_transforms, preset
from ._reflection import (
    AxialDivergence,
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

__all__ = [
    "PRESETS",
    "AirScatter",
    "AmorphousHump",
    "AugmentedSimulator",
    "AutomaticSlit",
    "AxialDivergence",
    "Background",
    "Clip",
    "CoarseScan",
    "CrystalliteSize",
    "GaussianNoise",
    "Impurity",
    "InstrumentFunction",
    "KAlphaDoublet",
    "KBetaResidue",
    "Microstrain",
    "ParticleStatistics",
    "PatternTransform",
    "PoissonNoise",
    "PreferredOrientation",
    "ReflectionTransform",
    "ScanRange",
    "Sequential",
    "Smoothing",
    "SpecimenDisplacement",
    "SubtractBackground",
    "ZeroShift",
    "kalpha2_ratio",
    "kbeta_ratio",
    "laboratory_cu_transforms",
    "make_generator",
    "preset",
    "remove_background",
    "rerender_peaks",
    "smooth_gaussian",
    "strip_kalpha2",
    "strip_kbeta",
]
