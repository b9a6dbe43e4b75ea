"""Sample and instrument effects on whole patterns: background, counting noise, detector noise.

Pure functions on (B, P) patterns; the simulator draws their per-pattern parameters from ranges with its
seeded generator. Effects on peak positions and intensities (zero shift, specimen displacement, preferred
orientation) act on the sticks and live in the simulator.
"""

from __future__ import annotations

import torch

from .._math import FWHM_PER_SIGMA

__all__ = ["amorphous_hump", "chebyshev_background", "gaussian_noise", "poisson_noise"]


def chebyshev_background(grid: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """A smooth background: a Chebyshev series over the grid, shifted to a minimum of 0 and scaled to max 1.

    Args:
        grid: (P,) 2theta in degrees (mapped linearly onto [-1, 1]).
        coefficients: (B, K) coefficients of T_0 .. T_{K-1}; higher orders make wigglier curves.

    Returns:
        (B, P) backgrounds with minimum 0 and maximum 1 (a constant series gives zeros).
    """
    x = 2.0 * (grid - grid[0]) / (grid[-1] - grid[0]) - 1.0
    k = coefficients.shape[1]
    # T_k(x) = cos(k arccos x) on [-1, 1]: one (K, P) table, then a matrix product.
    table = torch.cos(
        torch.arange(k, dtype=grid.dtype, device=grid.device).unsqueeze(1)
        * torch.arccos(x.clamp(-1.0, 1.0)).unsqueeze(0)
    )
    curve = coefficients.to(grid.dtype) @ table
    curve = curve - curve.min(dim=1, keepdim=True).values
    return curve / curve.max(dim=1, keepdim=True).values.clamp_min(torch.finfo(grid.dtype).tiny)


def amorphous_hump(grid: torch.Tensor, center: torch.Tensor, fwhm: torch.Tensor) -> torch.Tensor:
    """Broad scattering of an amorphous component (glass, a holder, an amorphous phase): a Gaussian hump.

    Args:
        grid: (P,) 2theta in degrees.
        center: (B,) hump position in degrees 2theta.
        fwhm: (B,) hump width in degrees 2theta.

    Returns:
        (B, P) humps of height 1.
    """
    sigma = (fwhm / FWHM_PER_SIGMA).unsqueeze(1)
    return torch.exp(-0.5 * ((grid.unsqueeze(0) - center.unsqueeze(1)) / sigma).square())


def poisson_noise(
    patterns: torch.Tensor, counts: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Counting statistics of a detector: each point becomes Poisson(counts * y) / counts.

    Args:
        patterns: (B, P) non-negative intensities, max about 1.
        counts: (B,) counts at intensity 1 (the strongest peak); fewer counts mean noisier patterns.
        generator: source of randomness (on the patterns' device).
    """
    scale = counts.to(patterns.dtype).unsqueeze(1)
    return torch.poisson(patterns.clamp_min(0.0) * scale, generator=generator) / scale


def gaussian_noise(
    patterns: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Additive electronic / read-out noise: y + N(0, sigma^2) per point.

    Args:
        patterns: (B, P) intensities.
        sigma: (B,) standard deviation in the units of the patterns.
        generator: source of randomness (on the patterns' device).
    """
    noise = torch.randn(patterns.shape, generator=generator, dtype=patterns.dtype, device=patterns.device)
    return patterns + noise * sigma.to(patterns.dtype).unsqueeze(1)
