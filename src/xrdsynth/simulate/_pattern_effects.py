"""Effects on whole normalised patterns that :class:`~xrdsynth.PowderSimulator` applies after rendering:
an impurity phase, a background, an amorphous hump, counting and read-out noise, the square-root scale.

(The composable, replayable versions of these effects are the :mod:`xrdsynth.transforms`; these are the
simulator's own settings, kept so that existing simulators give the same patterns.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._base import AMORPHOUS_HUMP_D_SPACING, AMORPHOUS_HUMP_FWHM
from .._errors import warn_at_caller
from .._radiation import two_theta_from_d
from ._augment import amorphous_hump, chebyshev_background, gaussian_noise, poisson_noise
from ._settings import Setting, draw_uniform

__all__ = ["AMORPHOUS_HUMP_D_SPACING", "AMORPHOUS_HUMP_FWHM", "PatternEffects", "finish_patterns"]


@dataclass(frozen=True)
class PatternEffects:
    """The simulator's pattern-level settings (each None when off; ranges as checked by the simulator).

    Attributes:
        impurity_fraction: peak height of another crystal of the batch relative to the main phase.
        background: height of a Chebyshev background relative to the strongest peak.
        background_order: number of Chebyshev terms.
        amorphous_hump: height of the amorphous hump relative to the strongest peak.
        poisson_counts: counts at the strongest peak for Poisson noise.
        gaussian_noise: standard deviation of Gaussian noise relative to the strongest peak.
        sqrt_scale: return the square root of the normalised pattern.
    """

    impurity_fraction: Setting = None
    background: Setting = None
    background_order: int = 6
    amorphous_hump: Setting = None
    poisson_counts: Setting = None
    gaussian_noise: Setting = None
    sqrt_scale: bool = False


def finish_patterns(
    patterns: torch.Tensor,
    grid: torch.Tensor,
    wavelength: float,
    effects: PatternEffects,
    generator: torch.Generator,
) -> torch.Tensor:
    """Normalise, then add impurity, background, hump and noise, normalise again, optional sqrt.

    Args:
        patterns: (B, P) unnormalised profiles (intensity per degree 2θ); changed in place when no gradient
            is wanted (they are the caller's own).
        grid: (P,) 2θ in degrees, in the patterns' dtype.
        wavelength: the principal line in Å (places the amorphous hump).
        effects: which effects, with their ranges.
        generator: draws every per-pattern parameter, in a fixed order.

    Returns:
        (B, P) patterns with maximum 1 (0 for a pattern without reflections, with a warning).
    """
    bsz = patterns.shape[0]
    dtype, device = patterns.dtype, patterns.device
    peak = patterns.amax(dim=1, keepdim=True)
    empty = peak.squeeze(1) <= 0
    if bool(empty.any()):
        warn_at_caller(
            f"{int(empty.sum())} of {bsz} crystals have no reflection in the 2θ range; their patterns are 0"
        )
    # Clamped: the FFT leaves round-off of order 1e-8 around zero, and intensities are not negative.
    scale = torch.where(peak > 0, peak, torch.ones_like(peak))
    if torch.is_grad_enabled() and patterns.requires_grad:
        patterns = (patterns / scale).clamp_min(0.0)
    else:
        # In place: the (B, P) patterns are this call's own; two fresh copies would cost page faults.
        patterns = patterns.div_(scale).clamp_min_(0.0)

    def draw(spec: Setting) -> torch.Tensor | None:
        return draw_uniform(spec, bsz, generator, dtype, device)

    fraction = draw(effects.impurity_fraction)
    if fraction is not None:
        if bsz < 2:
            raise ValueError(
                "impurity_fraction needs batches of at least 2 crystals (the impurity is another one)"
            )
        offset = int(torch.randint(1, bsz, (1,), generator=generator, device=device))
        patterns = patterns + fraction.unsqueeze(1) * torch.roll(patterns, offset, dims=0)
    level = draw(effects.background)
    if level is not None:
        order = effects.background_order
        coefficients = torch.randn(bsz, order, generator=generator, dtype=dtype, device=device)
        # Decaying coefficients keep the background smooth (most weight in the low orders).
        decay = 1.0 / (1.0 + torch.arange(order, dtype=dtype, device=device)).square()
        patterns = patterns + level.unsqueeze(1) * chebyshev_background(grid, coefficients * decay)
    hump = draw(effects.amorphous_hump)
    if hump is not None:
        d_low, d_high = AMORPHOUS_HUMP_D_SPACING
        d = d_low + (d_high - d_low) * torch.rand(bsz, generator=generator, dtype=dtype, device=device)
        # Bragg's law; a d below λ/2 (no reflection, NaN) puts the centre at the 180° end as before.
        center = torch.nan_to_num(two_theta_from_d(d, wavelength), nan=180.0)
        w_low, w_high = AMORPHOUS_HUMP_FWHM
        width = w_low + (w_high - w_low) * torch.rand(bsz, generator=generator, dtype=dtype, device=device)
        patterns = patterns + hump.unsqueeze(1) * amorphous_hump(grid, center, width)
    counts = draw(effects.poisson_counts)
    if counts is not None:
        patterns = poisson_noise(patterns, counts, generator)
    sigma = draw(effects.gaussian_noise)
    if sigma is not None:
        patterns = gaussian_noise(patterns, sigma, generator)
    if any(v is not None for v in (fraction, level, hump, counts, sigma)):
        peak = patterns.amax(dim=1, keepdim=True)
        patterns = patterns / torch.where(peak > 0, peak, torch.ones_like(peak))
    if effects.sqrt_scale:
        patterns = torch.sqrt(patterns.clamp_min(0.0))
    return patterns
