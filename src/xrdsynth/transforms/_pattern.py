"""Effects on rendered patterns: other phases, backgrounds, counting statistics, smoothing, scan range,
saturation.

Patterns are (B, P) on a (P,) 2θ grid in degrees, scaled so that the strongest peak is about 1; levels are
relative to that peak. Each transform returns a new tensor.
"""

from __future__ import annotations

import math

import torch

from .._base import AMORPHOUS_HUMP_D_SPACING, AMORPHOUS_HUMP_FWHM, check_range
from .._radiation import WAVELENGTHS, two_theta_from_d
from ..simulate.functional import amorphous_hump, chebyshev_background
from ._background import remove_background, smooth_gaussian
from ._base import PatternTransform, applied, log_uniform, nothing_drawn, uniform

__all__ = [
    "AirScatter",
    "AmorphousHump",
    "Background",
    "Clip",
    "GaussianNoise",
    "Impurity",
    "PoissonNoise",
    "ScanRange",
    "Smoothing",
    "SubtractBackground",
]

_RAD = math.pi / 180.0


class Impurity(PatternTransform):
    """A second phase: another pattern of the same batch added at a fraction of the main phase's height.

    Args:
        fraction: (low, high) peak height of the impurity relative to the main phase.
        p: probability that a pattern has an impurity.
    """

    def __init__(self, fraction: float | tuple[float, float] = (0.01, 0.1), p: float = 1.0, seed=0) -> None:
        super().__init__(p, seed)
        self.fraction = check_range("fraction", fraction, 0.0, 1.0)

    def extra_repr(self) -> str:
        return f"fraction={self.fraction}, p={self.p}"

    def draw(self, batch_size, generator, dtype=torch.float32):
        fraction = uniform(self.fraction, batch_size, generator, dtype)
        offset = torch.randint(1, max(batch_size, 2), (1,), generator=generator, device=generator.device)
        return {"applied": applied(self.p, batch_size, generator), "fraction": fraction, "offset": offset}

    def apply(self, patterns, two_theta, parameters, generator):
        if patterns.shape[0] < 2:
            return patterns.clone()
        other = torch.roll(patterns, int(parameters["offset"]), dims=0)
        weight = (parameters["fraction"] * parameters["applied"]).to(patterns).unsqueeze(1)
        return patterns + weight * other


class Background(PatternTransform):
    """A smooth background (a Chebyshev series with decaying random coefficients, 0 to 1 over the grid,
    times ``level``) on a constant floor (fluorescence of the sample, detector dark counts).

    Args:
        level: (low, high) height of the curved part relative to the strongest peak.
        floor: (low, high) constant part relative to the strongest peak.
        order: number of Chebyshev terms (more: wigglier).
        p: probability that a pattern has a background.
    """

    def __init__(
        self,
        level: float | tuple[float, float] = (0.0, 0.2),
        floor: float | tuple[float, float] = (0.0, 0.05),
        order: int = 6,
        p: float = 1.0,
        seed=0,
    ) -> None:
        super().__init__(p, seed)
        self.level = check_range("level", level, 0.0)
        self.floor = check_range("floor", floor, 0.0)
        if int(order) < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        self.order = int(order)

    def extra_repr(self) -> str:
        return f"level={self.level}, floor={self.floor}, order={self.order}, p={self.p}"

    def draw(self, batch_size, generator, dtype=torch.float32):
        decay = 1.0 / (1.0 + torch.arange(self.order, dtype=dtype, device=generator.device)).square()
        coefficients = torch.randn(
            batch_size, self.order, generator=generator, device=generator.device, dtype=dtype
        )
        return {
            "applied": applied(self.p, batch_size, generator),
            "level": uniform(self.level, batch_size, generator, dtype),
            "floor": uniform(self.floor, batch_size, generator, dtype),
            "coefficients": coefficients * decay,
        }

    def apply(self, patterns, two_theta, parameters, generator):
        curve = chebyshev_background(two_theta, parameters["coefficients"].to(patterns))
        on = parameters["applied"].to(patterns).unsqueeze(1)
        level = parameters["level"].to(patterns).unsqueeze(1)
        floor = parameters["floor"].to(patterns).unsqueeze(1)
        return patterns + on * (level * curve + floor)


class AmorphousHump(PatternTransform):
    """Broad scattering of an amorphous component (glass holder, amorphous phase): a Gaussian hump.

    Args:
        level: (low, high) hump height relative to the strongest peak.
        d_spacing: (low, high) where the hump's centre lies, as a d-spacing in Å (glass: ~3.5–4.5 Å).
        fwhm: (low, high) hump FWHM in degrees 2θ.
        wavelength: Å, to place the hump on the 2θ grid.
        p: probability of a hump.
    """

    def __init__(
        self,
        level: float | tuple[float, float] = (0.0, 0.15),
        d_spacing: float | tuple[float, float] = AMORPHOUS_HUMP_D_SPACING,
        fwhm: float | tuple[float, float] = AMORPHOUS_HUMP_FWHM,
        wavelength: float = WAVELENGTHS["CuKa1"],
        p: float = 1.0,
        seed=0,
    ) -> None:
        super().__init__(p, seed)
        self.level = check_range("level", level, 0.0)
        self.d_spacing = check_range("d_spacing", d_spacing, 0.0, open_low=True)
        self.fwhm = check_range("fwhm", fwhm, 0.0, open_low=True)
        if not wavelength > 0:
            raise ValueError(f"wavelength must be positive, got {wavelength}")
        self.wavelength = float(wavelength)

    def extra_repr(self) -> str:
        return f"level={self.level}, d_spacing={self.d_spacing} Å, fwhm={self.fwhm}°, p={self.p}"

    def draw(self, batch_size, generator, dtype=torch.float32):
        d = uniform(self.d_spacing, batch_size, generator, dtype)
        # Bragg's law; a d below λ/2 (no reflection, NaN) puts the centre at the 180° end.
        center = torch.nan_to_num(two_theta_from_d(d, self.wavelength), nan=180.0)
        return {
            "applied": applied(self.p, batch_size, generator),
            "level": uniform(self.level, batch_size, generator, dtype),
            "center": center,
            "fwhm": uniform(self.fwhm, batch_size, generator, dtype),
        }

    def apply(self, patterns, two_theta, parameters, generator):
        hump = amorphous_hump(two_theta, parameters["center"].to(patterns), parameters["fwhm"].to(patterns))
        weight = (parameters["level"] * parameters["applied"]).to(patterns).unsqueeze(1)
        return patterns + weight * hump


class AirScatter(PatternTransform):
    """Scattering of the primary beam by air near the sample: a rise towards low angles, level·exp(−(2θ −
    2θ₀)/decay) with 2θ₀ the grid's first angle.

    Args:
        level: (low, high) height at the grid's start relative to the strongest peak.
        decay_deg: (low, high) decay length in degrees 2θ.
        p: probability.
    """

    def __init__(
        self,
        level: float | tuple[float, float] = (0.0, 0.3),
        decay_deg: float | tuple[float, float] = (1.0, 8.0),
        p: float = 1.0,
        seed=0,
    ) -> None:
        super().__init__(p, seed)
        self.level = check_range("level", level, 0.0)
        self.decay_deg = check_range("decay_deg", decay_deg, 0.0, open_low=True)

    def extra_repr(self) -> str:
        return f"level={self.level}, decay_deg={self.decay_deg}, p={self.p}"

    def draw(self, batch_size, generator, dtype=torch.float32):
        return {
            "applied": applied(self.p, batch_size, generator),
            "level": uniform(self.level, batch_size, generator, dtype),
            "decay": uniform(self.decay_deg, batch_size, generator, dtype),
        }

    def apply(self, patterns, two_theta, parameters, generator):
        distance = (two_theta - two_theta[0]).unsqueeze(0)
        curve = torch.exp(-distance / parameters["decay"].to(patterns).unsqueeze(1))
        weight = (parameters["level"] * parameters["applied"]).to(patterns).unsqueeze(1)
        return patterns + weight * curve


class AutomaticSlit(PatternTransform):
    """An automatic (variable) divergence slit: it opens with the angle to keep the irradiated length, so
    everything it lets through, background included, is counted sin θ / sin θ_max times what a fixed slit
    would count at the grid's last angle. Put it before the counting noise (the counts are what the slit lets
    through). ``Classifier.predict`` divides a pattern by sin θ where its file states such a slit (XRDML).

    Args:
        p: probability that a pattern was measured so (the others as with a fixed slit).
    """

    def __init__(self, p: float = 1.0, seed=0) -> None:
        super().__init__(p, seed)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def draw(self, batch_size, generator, dtype=torch.float32):
        if self.p == 0.0:
            return nothing_drawn(batch_size, generator, dtype)
        return {"applied": applied(self.p, batch_size, generator)}

    def apply(self, patterns, two_theta, parameters, generator):
        sine = torch.sin(torch.deg2rad(two_theta.to(patterns)) / 2)
        factor = sine / sine.max()
        rows = parameters["applied"].to(patterns.device).unsqueeze(1)
        return torch.where(rows, patterns * factor, patterns)


class PoissonNoise(PatternTransform):
    """Counting statistics: the pattern is scaled to ``counts`` at its strongest point, each point drawn
    from a Poisson distribution, and scaled back.

    Args:
        counts: (low, high) counts at the strongest point, drawn log-uniformly (a quick scan: ~100; a long
            one: 1e5).
        p: probability (the others stay noise-free).
    """

    def __init__(self, counts: float | tuple[float, float] = (100.0, 1e5), p: float = 1.0, seed=0) -> None:
        super().__init__(p, seed)
        self.counts = check_range("counts", counts, 0.0, open_low=True)

    def extra_repr(self) -> str:
        return f"counts={self.counts}, p={self.p}"

    def draw(self, batch_size, generator, dtype=torch.float32):
        return {
            "applied": applied(self.p, batch_size, generator),
            "counts": log_uniform(self.counts, batch_size, generator, dtype),
        }

    def apply(self, patterns, two_theta, parameters, generator):
        peak = patterns.amax(dim=1, keepdim=True)
        # An empty (all-zero) pattern has no counts to draw: it stays 0.
        scale = parameters["counts"].to(patterns).unsqueeze(1) / torch.where(peak > 0, peak, 1.0)
        noisy = torch.poisson(patterns.clamp_min(0.0) * scale, generator=generator) / scale
        return torch.where(parameters["applied"].unsqueeze(1), noisy, patterns)


class GaussianNoise(PatternTransform):
    """Additive read-out noise N(0, σ²) per point, σ relative to the strongest peak.

    Args:
        sigma: (low, high) standard deviation relative to the pattern's maximum.
        p: probability.
    """

    def __init__(self, sigma: float | tuple[float, float] = (0.0, 0.01), p: float = 1.0, seed=0) -> None:
        super().__init__(p, seed)
        self.sigma = check_range("sigma", sigma, 0.0)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, p={self.p}"

    def draw(self, batch_size, generator, dtype=torch.float32):
        return {
            "applied": applied(self.p, batch_size, generator),
            "sigma": uniform(self.sigma, batch_size, generator, dtype),
        }

    def apply(self, patterns, two_theta, parameters, generator):
        noise = torch.randn(patterns.shape, generator=generator, device=patterns.device, dtype=patterns.dtype)
        peak = patterns.amax(dim=1, keepdim=True)
        sigma = (parameters["sigma"] * parameters["applied"]).to(patterns).unsqueeze(1)
        return patterns + noise * sigma * peak


class Smoothing(PatternTransform):
    """A smoothed export: the pattern, its noise included, convolved with a unit-area Gaussian whose FWHM is
    drawn in ``fwhm`` (degrees 2θ), as instrument software smooths or rebins scans. The noise becomes
    correlated from point to point; peak areas and positions stay, heights fall where a peak is not much
    wider than the kernel (a Gaussian peak of FWHM H comes out with √(H² + FWHM²)). Put it after the noise.

    The grid is taken as evenly spaced (its mean step); the ends are extended with their values.

    Args:
        fwhm: (low, high) FWHM of the smoothing kernel in degrees 2θ, drawn uniformly.
        p: probability that a pattern is smoothed (the others are left alone).
    """

    def __init__(self, fwhm: float | tuple[float, float] = (0.02, 0.08), p: float = 1.0, seed=0) -> None:
        super().__init__(p, seed)
        self.fwhm = check_range("fwhm", fwhm, 0.0, open_low=True)

    def extra_repr(self) -> str:
        return f"fwhm={self.fwhm}, p={self.p}"

    def draw(self, batch_size, generator, dtype=torch.float32):
        if self.p == 0.0:
            return nothing_drawn(batch_size, generator, dtype, "fwhm")
        return {
            "applied": applied(self.p, batch_size, generator),
            "fwhm": uniform(self.fwhm, batch_size, generator, dtype),
        }

    def apply(self, patterns, two_theta, parameters, generator):
        rows = parameters["applied"].to(patterns.device)
        if not bool(rows.any()):
            return patterns.clone()
        smoothed = smooth_gaussian(patterns[rows], two_theta, parameters["fwhm"].to(patterns)[rows])
        out = patterns.clone()
        out[rows] = smoothed
        return out


class CoarseScan(PatternTransform):
    """A scan measured at a coarser step than the grid, resampled onto it: the pattern, its noise included, is
    kept at the points of a scan of step ``step`` (the grid point nearest each of its steps, from a random
    first point) and linearly interpolated between them, as a classifier resamples such a measurement onto its
    grid. Each kept point carries the noise of one count, so the noise becomes bumps a step wide, which a
    network trained on noise that is white at its grid reads as faint peaks (scripts/check_scan_settings.py).
    Put it after the noise.

    The grid is taken as evenly spaced (its mean step); beyond the first and last kept points the pattern
    takes their values.

    Args:
        step: (low, high) step of the coarse scan in degrees 2θ, drawn uniformly; a step at or below the
            grid's keeps every point (the pattern is unchanged).
        p: probability that a pattern is coarse (the others are left alone).
    """

    def __init__(self, step: float | tuple[float, float] = (0.03, 0.1), p: float = 1.0, seed=0) -> None:
        super().__init__(p, seed)
        self.step = check_range("step", step, 0.0, open_low=True)

    def extra_repr(self) -> str:
        return f"step={self.step}, p={self.p}"

    def draw(self, batch_size, generator, dtype=torch.float32):
        if self.p == 0.0:
            return nothing_drawn(batch_size, generator, dtype, "step", "offset")
        device = generator.device
        return {
            "applied": applied(self.p, batch_size, generator),
            "step": uniform(self.step, batch_size, generator, dtype),
            "offset": torch.rand(batch_size, generator=generator, dtype=dtype, device=device),
        }

    def apply(self, patterns, two_theta, parameters, generator):
        out = patterns.clone()
        points = patterns.shape[1]
        grid_step = float(two_theta[-1] - two_theta[0]) / max(points - 1, 1)
        index = torch.arange(points, device=patterns.device, dtype=torch.float64)
        rows = torch.nonzero(parameters["applied"].to(patterns.device)).squeeze(1).tolist()
        for row in rows:
            ratio = float(parameters["step"][row]) / grid_step  # grid points per coarse step
            if ratio <= 1.0:
                continue
            first = float(parameters["offset"][row]) * ratio
            kept = torch.arange(first, points - 0.5, ratio, device=patterns.device, dtype=torch.float64)
            kept = torch.unique(kept.round().clamp(max=points - 1))
            if kept.numel() < 2:
                continue
            # Linear interpolation between the kept points (their values at the ends beyond them).
            upper = torch.searchsorted(kept, index).clamp(1, kept.numel() - 1)
            left, right = kept[upper - 1], kept[upper]
            weight = ((index - left) / (right - left)).clamp(0.0, 1.0).to(patterns.dtype)
            values = patterns[row]
            out[row] = values[left.long()] * (1 - weight) + values[right.long()] * weight
        return out


class ScanRange(PatternTransform):
    """A scan that covers only part of the grid: points before its start and after its end are 0 (as a
    measured pattern resampled onto a wider grid looks).

    Args:
        start: (low, high) first measured 2θ in degrees, drawn per pattern among those affected.
        stop: (low, high) last measured 2θ in degrees.
        p: probability that a pattern's range is cut (the others keep the whole grid).
    """

    def __init__(
        self,
        start: float | tuple[float, float] = (5.0, 20.0),
        stop: float | tuple[float, float] = (60.0, 90.0),
        p: float = 1.0,
        seed=0,
    ) -> None:
        super().__init__(p, seed)
        self.start = check_range("start", start, 0.0, 180.0)
        self.stop = check_range("stop", stop, 0.0, 180.0)
        if self.start[1] >= self.stop[0]:
            raise ValueError(f"every start must lie below every stop, got start={start}, stop={stop}")

    def extra_repr(self) -> str:
        return f"start={self.start}, stop={self.stop}, p={self.p}"

    def draw(self, batch_size, generator, dtype=torch.float32):
        return {
            "applied": applied(self.p, batch_size, generator),
            "start": uniform(self.start, batch_size, generator, dtype),
            "stop": uniform(self.stop, batch_size, generator, dtype),
        }

    def apply(self, patterns, two_theta, parameters, generator):
        start = torch.where(parameters["applied"], parameters["start"].to(patterns), -math.inf).unsqueeze(1)
        stop = torch.where(parameters["applied"], parameters["stop"].to(patterns), math.inf).unsqueeze(1)
        inside = (two_theta.unsqueeze(0) >= start) & (two_theta.unsqueeze(0) <= stop)
        return torch.where(inside, patterns, torch.zeros_like(patterns))


class Clip(PatternTransform):
    """A saturated detector: intensities above ``level`` times the pattern's maximum are cut there.

    Args:
        level: (low, high) fraction of the maximum where the detector saturates.
        p: probability.
    """

    def __init__(self, level: float | tuple[float, float] = (0.5, 0.95), p: float = 1.0, seed=0) -> None:
        super().__init__(p, seed)
        self.level = check_range("level", level, 0.0, 1.0, open_low=True)

    def extra_repr(self) -> str:
        return f"level={self.level}, p={self.p}"

    def draw(self, batch_size, generator, dtype=torch.float32):
        return {
            "applied": applied(self.p, batch_size, generator),
            "level": uniform(self.level, batch_size, generator, dtype),
        }

    def apply(self, patterns, two_theta, parameters, generator):
        level = torch.where(parameters["applied"], parameters["level"].to(patterns), 1.0).unsqueeze(1)
        return torch.minimum(patterns, level * patterns.amax(dim=1, keepdim=True))


class SubtractBackground(PatternTransform):
    """Processed data as databases distribute them (RRUFF, for one): the background estimated and
    subtracted (:func:`~xrdsynth.transforms.remove_background`), negative values clipped at 0, so that only a
    positive noise band remains between peaks.

    Args:
        window_deg: (low, high) width of the background estimate in degrees 2θ, drawn per batch.
        p: probability that a pattern is processed.
    """

    def __init__(self, window_deg: float | tuple[float, float] = (1.5, 5.0), p: float = 1.0, seed=0) -> None:
        super().__init__(p, seed)
        self.window_deg = check_range("window_deg", window_deg, 0.0, open_low=True)

    def extra_repr(self) -> str:
        return f"window_deg={self.window_deg}, p={self.p}"

    def draw(self, batch_size, generator, dtype=torch.float32):
        return {
            "applied": applied(self.p, batch_size, generator),
            "window": uniform(self.window_deg, 1, generator, torch.float64),
        }

    def apply(self, patterns, two_theta, parameters, generator):
        if not bool(parameters["applied"].any()):
            return patterns.clone()
        flat = remove_background(patterns, two_theta, float(parameters["window"]))
        return torch.where(parameters["applied"].unsqueeze(1), flat, patterns)
