"""Effects on the reflections, drawn per pattern and applied by the simulator before rendering.

Each returns :class:`~xrdsynth.simulate.PatternParameters` for a batch; the physics (Bragg positions,
Lorentz–polarisation, profile widths, March–Dollase factors) stays in the simulator.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._base import check_range
from .._radiation import K_BETA
from ..simulate import KALPHA2_RATIO, WAVELENGTHS, PatternParameters, resolve_wavelength
from ._base import ReflectionTransform, applied, check_probability, log_uniform, uniform

__all__ = [
    "AxialDivergence",
    "CrystalliteSize",
    "InstrumentFunction",
    "KAlphaDoublet",
    "KBetaResidue",
    "Microstrain",
    "ParticleStatistics",
    "PreferredOrientation",
    "SpecimenDisplacement",
    "ZeroShift",
]

# Low-index directions a preferred orientation is drawn from (reciprocal-lattice vectors hkl).
ORIENTATIONS = ((0, 0, 1), (0, 1, 0), (1, 0, 0), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1))


def _anode(line: str | float) -> str:
    """The anode element of a named Kα1 line ("CuKa1" -> "Cu")."""
    name = resolve_wavelength(line).name
    if not name.endswith("Ka1"):
        raise ValueError(
            f"need a named Kα1 line such as 'CuKa1' (the simulator's principal line), got {line!r}"
        )
    return name[:-3]


class _ExtraLine(ReflectionTransform):
    """A further wavelength line of the tube, with its intensity relative to the principal line drawn
    uniformly in ``ratio`` for the patterns (a share ``p``) that show it."""

    def __init__(self, line: str, wavelength: float, ratio: float | tuple[float, float], p: float) -> None:
        super().__init__()
        self.line = line
        self.wavelength = wavelength
        self.ratio = check_range("ratio", ratio, 0.0, 1.0)
        self.p = check_probability(p)

    def extra_repr(self) -> str:
        return f"line={self.line!r}, ratio={self.ratio}, p={self.p}"

    def draw(self, batch_size: int, generator: torch.Generator, dtype: torch.dtype = torch.float32):
        weight = uniform(self.ratio, batch_size, generator, dtype) * applied(self.p, batch_size, generator)
        return PatternParameters(extra_lines=((self.wavelength, weight),))


class KAlphaDoublet(_ExtraLine):
    """The Kα2 line of a laboratory tube, added to a simulator that renders Kα1 only.

    Args:
        line: the simulator's principal line ("CuKa1", "MoKa1", ...).
        ratio: intensity of Kα2 relative to Kα1 (0.5 for an unfiltered tube), a number or a (low, high)
            range drawn per pattern.
        p: probability that a pattern has the doublet (the rest: a Kα1 monochromator).
    """

    def __init__(
        self, line: str = "CuKa1", ratio: float | tuple[float, float] = KALPHA2_RATIO, p: float = 1.0
    ):
        super().__init__(line, WAVELENGTHS[_anode(line) + "Ka2"], ratio, p)


class KBetaResidue(_ExtraLine):
    """What a Kβ filter lets through: a weak Kβ line at shorter wavelength.

    Args:
        line: the simulator's principal line ("CuKa1", ...).
        ratio: Kβ intensity relative to Kα1 (a Ni filter leaves ~0.5-2 % for Cu).
        p: probability that a pattern shows it.
    """

    def __init__(
        self, line: str = "CuKa1", ratio: float | tuple[float, float] = (0.002, 0.02), p: float = 1.0
    ):
        super().__init__(line, K_BETA[_anode(line)], ratio, p)


class InstrumentFunction(ReflectionTransform):
    """A diffractometer's own peak width, the Caglioti function FWHM² = U tan²θ + V tanθ + W (degrees²).

    U, V and W are drawn uniformly per pattern; V is raised where needed so that FWHM² stays positive at
    every angle (V ≥ -2√(UW) keeps the minimum of the quadratic in tanθ at or above 0; -1.9√(UW) is used,
    which keeps the narrowest peak at least ~0.3√W wide).

    Args:
        u, v, w: ranges in degrees² (typical laboratory Bragg–Brentano: U 0–0.01, V −0.006–0, W 0.001–0.006,
            FWHM 0.04–0.1° at 30° 2θ).
    """

    def __init__(
        self,
        u: float | tuple[float, float] = (0.0, 0.01),
        v: float | tuple[float, float] = (-0.006, 0.0),
        w: float | tuple[float, float] = (0.001, 0.006),
    ) -> None:
        super().__init__()
        self.u = check_range("u", u, 0.0)
        self.v = check_range("v", v)
        self.w = check_range("w", w, 0.0, open_low=True)

    def extra_repr(self) -> str:
        return f"u={self.u}, v={self.v}, w={self.w}"

    def draw(self, batch_size: int, generator: torch.Generator, dtype: torch.dtype = torch.float32):
        u = uniform(self.u, batch_size, generator, dtype)
        v = uniform(self.v, batch_size, generator, dtype)
        w = uniform(self.w, batch_size, generator, dtype)
        v = torch.maximum(v, -1.9 * torch.sqrt(u * w))
        return PatternParameters(caglioti=torch.stack([u, v, w], dim=1))


class CrystalliteSize(ReflectionTransform):
    """Scherrer size broadening, FWHM = Kλ / (L cosθ), with L drawn log-uniformly per pattern.

    Args:
        size_nm: (low, high) crystallite size in nm; laboratory samples range from tens of nm (broad peaks)
            to µm (instrument-limited peaks).
    """

    def __init__(self, size_nm: float | tuple[float, float] = (20.0, 2000.0)) -> None:
        super().__init__()
        self.size_nm = check_range("size_nm", size_nm, 0.0, open_low=True)

    def extra_repr(self) -> str:
        return f"size_nm={self.size_nm}"

    def draw(self, batch_size: int, generator: torch.Generator, dtype: torch.dtype = torch.float32):
        return PatternParameters(crystallite_size_nm=log_uniform(self.size_nm, batch_size, generator, dtype))


class Microstrain(ReflectionTransform):
    """Microstrain broadening, FWHM = 4ε tanθ, with ε uniform per pattern.

    Args:
        strain: (low, high) dimensionless ε (1e-3 is a strongly strained powder).
        p: probability of strain (the others get ε = 0).
    """

    def __init__(self, strain: float | tuple[float, float] = (0.0, 1e-3), p: float = 1.0) -> None:
        super().__init__()
        self.strain = check_range("strain", strain, 0.0)
        self.p = check_probability(p)

    def extra_repr(self) -> str:
        return f"strain={self.strain}, p={self.p}"

    def draw(self, batch_size: int, generator: torch.Generator, dtype: torch.dtype = torch.float32):
        eps = uniform(self.strain, batch_size, generator, dtype) * applied(self.p, batch_size, generator)
        return PatternParameters(microstrain=eps)


class PreferredOrientation(ReflectionTransform):
    """March–Dollase texture along a random low-index direction.

    r is drawn log-uniformly in ``r`` (r < 1 plates lying flat, r > 1 needles; 1 a random powder).

    Args:
        r: (low, high) March–Dollase parameter (real flat-plate samples: ~0.5–1.5).
        directions: reciprocal-lattice directions hkl to choose from, one per pattern.
        p: probability of texture (the others get r = 1).
    """

    def __init__(
        self,
        r: float | tuple[float, float] = (0.6, 1.4),
        directions: Sequence[tuple[int, int, int]] = ORIENTATIONS,
        p: float = 1.0,
    ) -> None:
        super().__init__()
        self.r = check_range("r", r, 0.0, open_low=True)
        self.directions = tuple(tuple(int(i) for i in d) for d in directions)
        if not self.directions or any(len(d) != 3 or d == (0, 0, 0) for d in self.directions):
            raise ValueError(f"directions must be non-zero hkl triples, got {directions!r}")
        self.p = check_probability(p)

    def extra_repr(self) -> str:
        return f"r={self.r}, p={self.p}, {len(self.directions)} directions"

    def draw(self, batch_size: int, generator: torch.Generator, dtype: torch.dtype = torch.float32):
        r = log_uniform(self.r, batch_size, generator, dtype)
        r = torch.where(applied(self.p, batch_size, generator), r, torch.ones_like(r))
        choice = torch.randint(
            len(self.directions), (batch_size,), generator=generator, device=generator.device
        )
        axes = torch.tensor(self.directions, dtype=dtype, device=generator.device)[choice]
        return PatternParameters(march_dollase=r, orientation_hkl=axes)


class ParticleStatistics(ReflectionTransform):
    """Intensity errors of a powder with too few crystallites in diffracting position (particle statistics).

    A flat sample of a coarse or little-ground powder (often a mineral scraped from a specimen) puts only a
    few grains in reflecting position for each reflection, so each peak's intensity departs from the ideal
    powder average by a random factor, independently from one reflection to the next. The simulator
    multiplies every reflection's intensity by exp(σ z − σ²/2), z standard normal, one draw per reflection
    (shared by its Kα1 and Kα2 lines; mean 1, so the average pattern is unchanged); σ is drawn per pattern,
    uniform in ``sigma``. σ = 0.3 means a typical peak is off by about 30 %.

    Args:
        sigma: (low, high) standard deviation of the natural log of the factor.
        p: probability that a pattern has such errors (the others get σ = 0). With p = 0 nothing is drawn,
            so a chain that carries the effect switched off gives the same patterns as one without it.
    """

    def __init__(self, sigma: float | tuple[float, float] = (0.05, 0.5), p: float = 1.0) -> None:
        super().__init__()
        self.sigma = check_range("sigma", sigma, 0.0)
        if self.sigma[1] > 3.0:
            raise ValueError(f"sigma above 3 (factors spread over e^±9) is not a powder: {sigma!r}")
        self.p = check_probability(p)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, p={self.p}"

    def draw(self, batch_size: int, generator: torch.Generator, dtype: torch.dtype = torch.float32):
        if self.p == 0.0:
            return PatternParameters()
        sigma = uniform(self.sigma, batch_size, generator, dtype) * applied(self.p, batch_size, generator)
        return PatternParameters(grain_scatter=sigma)


class ZeroShift(ReflectionTransform):
    """A misaligned goniometer zero: every peak moves by the same Δ2θ (degrees), uniform per pattern."""

    def __init__(self, shift: float | tuple[float, float] = (-0.05, 0.05)) -> None:
        super().__init__()
        self.shift = check_range("shift", shift)

    def extra_repr(self) -> str:
        return f"shift={self.shift}"

    def draw(self, batch_size: int, generator: torch.Generator, dtype: torch.dtype = torch.float32):
        return PatternParameters(zero_shift=uniform(self.shift, batch_size, generator, dtype))


class SpecimenDisplacement(ReflectionTransform):
    """A sample surface above or below the focusing circle: Δ2θ = −2 s cosθ / R (radians), s in mm.

    The goniometer radius R is the simulator's ``goniometer_radius_mm``.

    Args:
        displacement_mm: (low, high) height error s in mm, uniform per pattern.
    """

    def __init__(self, displacement_mm: float | tuple[float, float] = (-0.1, 0.1)) -> None:
        super().__init__()
        self.displacement_mm = check_range("displacement_mm", displacement_mm)
        if max(abs(v) for v in self.displacement_mm) > 5.0:
            raise ValueError(f"displacement_mm beyond ±5 mm is not a laboratory sample: {displacement_mm!r}")

    def extra_repr(self) -> str:
        return f"displacement_mm={self.displacement_mm}"

    def draw(self, batch_size: int, generator: torch.Generator, dtype: torch.dtype = torch.float32):
        s = uniform(self.displacement_mm, batch_size, generator, dtype)
        return PatternParameters(specimen_displacement_mm=s)


class AxialDivergence(ReflectionTransform):
    """The low-angle asymmetry of a Bragg–Brentano instrument's peaks (Finger, Cox & Jephcoat 1994): each
    reflection spreads towards lower 2θ by about (a²/2) cot 2θ (towards higher 2θ above 90°), with
    a = (S + H)/L the sample and detector heights over the goniometer radius, drawn per pattern.

    Args:
        ratio: (low, high) a; laboratory diffractometers with Soller slits: ~0.01–0.05.
        p: probability (the others: no asymmetry).
    """

    def __init__(self, ratio: float | tuple[float, float] = (0.01, 0.05), p: float = 1.0) -> None:
        super().__init__()
        self.ratio = check_range("ratio", ratio, 0.0, 0.5)
        self.p = check_probability(p)

    def extra_repr(self) -> str:
        return f"ratio={self.ratio}, p={self.p}"

    def draw(self, batch_size: int, generator: torch.Generator, dtype: torch.dtype = torch.float32):
        a = uniform(self.ratio, batch_size, generator, dtype) * applied(self.p, batch_size, generator)
        return PatternParameters(axial_divergence=a)
