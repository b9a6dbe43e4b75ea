"""Background removal and smoothing that measured and simulated patterns share (the classifiers'
preprocessing)."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .._math import FWHM_PER_SIGMA

__all__ = ["remove_background", "smooth_gaussian"]

# The smoothing kernel reaches this many standard deviations on each side (the rest is below 3e-4 of it).
_KERNEL_SIGMAS = 4.0

# Points of the coarse grid per background window: enough to follow a curved background, few enough to be
# cheap (the morphology runs on the coarse grid).
_COARSE_POINTS_PER_WINDOW = 16


def remove_background(
    patterns: torch.Tensor, two_theta: torch.Tensor, window_deg: float = 3.0
) -> torch.Tensor:
    """Subtract a smooth background estimated by a morphological opening, and clip at 0.

    The background is the opening (minimum filter, then maximum filter) of the pattern with a window of
    ``window_deg`` degrees, smoothed by a moving average of the same width: it follows every feature broader
    than the window (backgrounds, amorphous humps, air scatter) and passes under peaks narrower than it. It
    runs on a grid ~16 times coarser than the window and is interpolated back, so the cost is a few passes
    over the pattern whatever the window. Under noise the estimate follows the lower edge of the noise, so
    the result keeps a positive noise band, as background-subtracted measured patterns (e.g. RRUFF's) do.

    Args:
        patterns: (B, P) intensities on an equally spaced grid.
        two_theta: (P,) the grid in degrees (only its step is used).
        window_deg: width of the opening in degrees 2θ; features narrower than this count as peaks.

    Returns:
        (B, P) patterns minus their background, >= 0.
    """
    step = _grid_step(patterns, two_theta)
    if not window_deg > 0:
        raise ValueError(f"window_deg must be positive, got {window_deg}")
    points = patterns.shape[1]
    factor = max(1, int(window_deg / step / _COARSE_POINTS_PER_WINDOW))
    padded = -(-points // factor) * factor
    x = patterns.unsqueeze(1)
    if padded > points:
        x = F.pad(x, (0, padded - points), mode="replicate")
    # Minimum per block of `factor` points: the coarse grid keeps the lower envelope.
    coarse = -F.max_pool1d(-x, factor, factor)
    width = max(3, round(window_deg / (step * factor)) | 1)
    half = min(width // 2, coarse.shape[-1] - 1)
    width = 2 * half + 1
    if half < 1:  # a pattern shorter than two coarse points: its minimum is the background
        background = coarse.amin(dim=-1, keepdim=True).expand(-1, -1, padded)
        return (patterns - background[..., :points].squeeze(1)).clamp_min(0.0)
    eroded = -F.max_pool1d(-_extend(coarse, half), width, 1)
    opened = F.max_pool1d(_extend(eroded, half), width, 1)
    smooth = F.avg_pool1d(_extend(opened, half), width, 1)
    background = F.interpolate(smooth, size=padded, mode="linear", align_corners=False)[..., :points]
    return (patterns - background.squeeze(1)).clamp_min(0.0)


def _grid_step(patterns: torch.Tensor, two_theta: torch.Tensor) -> float:
    """The step in degrees of the equally spaced (P,) grid of (B, P) patterns; ValueError for other shapes."""
    if patterns.ndim != 2 or two_theta.ndim != 1 or patterns.shape[1] != two_theta.shape[0]:
        raise ValueError(
            f"need (B, P) patterns and a (P,) grid, got {tuple(patterns.shape)}, {tuple(two_theta.shape)}"
        )
    return float(two_theta[-1] - two_theta[0]) / max(patterns.shape[1] - 1, 1)


def _extend(x: torch.Tensor, half: int) -> torch.Tensor:
    """(B, 1, L) -> (B, 1, L + 2 half), continued at both ends by point reflection (2 x_end - x_mirror),
    which continues a straight line exactly: a background that still slopes at the grid's ends is followed
    there, not flattened as repeating the end value would."""
    left = 2.0 * x[..., :1] - x[..., 1 : half + 1].flip(-1)
    right = 2.0 * x[..., -1:] - x[..., -half - 1 : -1].flip(-1)
    return torch.cat([left, x, right], dim=-1)


def smooth_gaussian(
    patterns: torch.Tensor, two_theta: torch.Tensor, fwhm_deg: float | torch.Tensor
) -> torch.Tensor:
    """Convolve patterns with a unit-area Gaussian of ``fwhm_deg`` degrees 2θ FWHM.

    A peak of FWHM H comes out with FWHM sqrt(H² + fwhm_deg²) and the same area: instrument-limited peaks of
    ~0.05° and Scherrer peaks of a few tenths of a degree end up closer in width, and a Kα doublet whose
    lines are closer than ``fwhm_deg`` merges into one peak. The ends are continued with their end values.

    Args:
        patterns: (B, P) intensities on an equally spaced grid.
        two_theta: (P,) the grid in degrees (only its step is used).
        fwhm_deg: FWHM of the Gaussian in degrees 2θ, > 0: one for all patterns, or a (B,) tensor, one per
            pattern.

    Returns:
        (B, P) smoothed patterns, in the patterns' dtype and device.
    """
    step = _grid_step(patterns, two_theta)
    if isinstance(fwhm_deg, torch.Tensor):
        if fwhm_deg.shape != (patterns.shape[0],) or not bool(torch.isfinite(fwhm_deg).all()):
            raise ValueError(
                f"fwhm_deg must be one finite FWHM per pattern, got shape {tuple(fwhm_deg.shape)}"
            )
        if not bool((fwhm_deg > 0).all()):
            raise ValueError("fwhm_deg must be positive")
        sigma = fwhm_deg.to(patterns) / FWHM_PER_SIGMA / step  # (B,) in grid points
    else:
        if not (math.isfinite(fwhm_deg) and fwhm_deg > 0):
            raise ValueError(f"fwhm_deg must be a positive number, got {fwhm_deg}")
        sigma = torch.full(
            (1,), fwhm_deg / FWHM_PER_SIGMA / step, dtype=patterns.dtype, device=patterns.device
        )
    bsz, points = patterns.shape
    half = min(max(1, math.ceil(_KERNEL_SIGMAS * float(sigma.max()))), points - 1)
    offsets = torch.arange(-half, half + 1, dtype=patterns.dtype, device=patterns.device)
    kernels = torch.exp(-0.5 * (offsets / sigma.unsqueeze(1)).square())
    kernels = (kernels / kernels.sum(dim=1, keepdim=True)).unsqueeze(1)  # (1 or B, 1, K), unit area
    if len(sigma) == 1:
        padded = F.pad(patterns.unsqueeze(1), (half, half), mode="replicate")
        return F.conv1d(padded, kernels).squeeze(1)
    # One kernel per pattern: the patterns as channels of one signal, each convolved with its own.
    padded = F.pad(patterns.unsqueeze(0), (half, half), mode="replicate")
    return F.conv1d(padded, kernels, groups=bsz).squeeze(0)
