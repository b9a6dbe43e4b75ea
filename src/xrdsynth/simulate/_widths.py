"""Peak widths: the FWHM and Lorentzian fraction of every peak from size, strain and instrument parameters.

Widths (FWHM in degrees 2theta, theta the Bragg angle, lambda in Å):

- crystallite size L (Scherrer, K = 0.9): H_size = K lambda / (L cos(theta)), in radians;
- microstrain epsilon (dimensionless, e.g. 1e-3): H_strain = 4 epsilon tan(theta), in radians;
- Caglioti instrument function: H_inst^2 = U tan^2(theta) + V tan(theta) + W, in degrees^2;
- an instrument FWHM in degrees (``instrument_fwhm``), added to the Caglioti width as a constant W term.

``fwhm`` alone always means the total FWHM of a peak (what :func:`peak_widths` returns).

How they combine depends on the profile shape: Gaussian widths add in quadrature, Lorentzian widths add
linearly; for the pseudo-Voigt of Thompson, Cox & Hastings (J. Appl. Cryst. 20, 79, 1987) the instrument
(Caglioti, instrument FWHM) is the Gaussian part and size and strain are the Lorentzian part, combined with
the TCH polynomial into one FWHM and a mixing parameter eta.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._deprecation import renamed_attributes

__all__ = ["PROFILES", "SCHERRER_K", "Widths", "peak_widths", "profile_margins"]

PROFILES = ("gaussian", "lorentzian", "pseudo_voigt")
SCHERRER_K = 0.9
# Peaks further than this many FWHM outside the output range are not rendered (their tails are below
# 1e-4 of their height for the Lorentzian, nothing for the Gaussian).
_MARGIN_FWHM = {"gaussian": 5.0, "lorentzian": 50.0, "pseudo_voigt": 50.0}


@renamed_attributes(fwhm="instrument_fwhm")
@dataclass(frozen=True)
class Widths:
    """Per-pattern width parameters (each None when that contribution is off).

    Attributes:
        wavelength: Å, the line the widths refer to.
        crystallite_size_nm: (B,) nm.
        microstrain: (B,) dimensionless.
        instrument_fwhm: (B,) degrees, an instrument FWHM, combined with the Caglioti width in quadrature
            (its square adds to W); ``fwhm`` is its deprecated former name.
        caglioti: (B, 3) U, V, W in degrees^2.
    """

    wavelength: float
    crystallite_size_nm: torch.Tensor | None = None
    microstrain: torch.Tensor | None = None
    instrument_fwhm: torch.Tensor | None = None
    caglioti: torch.Tensor | None = None


def _combine(coefficients: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """sum_k coefficients[b, k] basis[..., m, k]: (B, K) with (M, K) shared or (B, M, K) per row -> (B, M)."""
    if basis.ndim == 2:
        return coefficients @ basis.T
    return (coefficients.unsqueeze(1) * basis).sum(-1)


def peak_widths(two_theta: torch.Tensor, widths: Widths, profile: str) -> tuple[torch.Tensor, torch.Tensor]:
    """FWHM and Lorentzian fraction at given positions.

    Each contribution is a per-pattern coefficient times a function of theta (1/cos, tan, 1), so the widths
    of a whole batch on a shared grid are a few small matrix products.

    Args:
        two_theta: (M,) degrees shared by all patterns, or (B, M) per pattern.
        widths: per-pattern parameters, tensors of batch size B.
        profile: one of :data:`PROFILES`.

    Returns:
        fwhm (B, M) in degrees (> 0) and eta (B, M) in [0, 1] (0: Gaussian, 1: Lorentzian).
    """
    theta = torch.deg2rad(two_theta) / 2.0
    sec, tan = 1.0 / torch.cos(theta), torch.tan(theta)
    one = torch.ones_like(tan)
    bsz = _batch_size(widths)
    dtype, device = two_theta.dtype, two_theta.device
    deg = 180.0 / math.pi
    zeros = torch.zeros(bsz, dtype=dtype, device=device)
    # Sample broadening (size, strain) in degrees, per pattern: coefficients of 1/cos and tan.
    size = (
        zeros
        if widths.crystallite_size_nm is None
        else (deg * SCHERRER_K * widths.wavelength / (10.0 * widths.crystallite_size_nm.to(dtype)))
    )
    strain = zeros if widths.microstrain is None else deg * 4.0 * widths.microstrain.to(dtype)
    # Instrument broadening squared (degrees^2): coefficients of tan^2, tan, 1.
    u = v = w = zeros
    if widths.caglioti is not None:
        u, v, w = (widths.caglioti[:, i].to(dtype) for i in range(3))
    if widths.instrument_fwhm is not None:
        w = w + widths.instrument_fwhm.to(dtype).square()
    instrument2 = _combine(torch.stack([u, v, w], 1), torch.stack([tan * tan, tan, one], -1)).clamp_min(0.0)
    if profile == "gaussian":
        squared = torch.stack([size.square(), strain.square()], 1)
        fwhm = torch.sqrt(_combine(squared, torch.stack([sec * sec, tan * tan], -1)) + instrument2)
        return fwhm, torch.zeros_like(fwhm)
    lorentz = _combine(torch.stack([size, strain], 1), torch.stack([sec, tan], -1))
    if profile == "lorentzian":
        fwhm = lorentz + torch.sqrt(instrument2)
        return fwhm, torch.ones_like(fwhm)
    hg, hl = torch.sqrt(instrument2), lorentz
    fwhm = (
        hg**5
        + 2.69269 * hg**4 * hl
        + 2.42843 * hg**3 * hl**2
        + 4.47163 * hg**2 * hl**3
        + 0.07842 * hg * hl**4
        + hl**5
    ) ** 0.2
    q = hl / fwhm.clamp_min(torch.finfo(fwhm.dtype).tiny)
    eta = (1.36603 * q - 0.47719 * q**2 + 0.11116 * q**3).clamp(0.0, 1.0)
    return fwhm, eta


def profile_margin(grid: torch.Tensor, widths: Widths, profile: str) -> float:
    """How far (degrees 2theta) beyond the ends of the (P,) grid peaks still reach it: ``_MARGIN_FWHM`` of the
    profile times the widest FWHM of the batch at the grid's ends and middle."""
    return float(profile_margins(grid, widths, profile).max())


def profile_margins(grid: torch.Tensor, widths: Widths, profile: str) -> torch.Tensor:
    """(B,) the margin of :func:`profile_margin` for each pattern, from its own widths (degrees 2theta)."""
    ends = grid[[0, len(grid) // 2, -1]]
    return _MARGIN_FWHM[profile] * peak_widths(ends, widths, profile)[0].amax(dim=1)


def _batch_size(widths: Widths) -> int:
    for t in (widths.crystallite_size_nm, widths.microstrain, widths.instrument_fwhm, widths.caglioti):
        if t is not None:
            return int(t.shape[0])
    raise ValueError(
        "no peak width given: set a crystallite size, microstrain, instrument FWHM or Caglioti U, V, W"
    )
