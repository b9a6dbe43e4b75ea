"""Small numerical helpers shared by the package (numpy and torch alike)."""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch

__all__ = ["FWHM_PER_SIGMA", "periodic_distances", "wrap_fractional"]

#: FWHM of a Gaussian over its standard deviation, 2 sqrt(2 ln 2).
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


def wrap_fractional(x: ArrayT) -> ArrayT:
    """Fractional coordinates wrapped into [0, 1), same shape, type, device and dtype as ``x``.

    Plain ``x % 1`` is not enough: for a tiny negative number it rounds to exactly 1.0, a coordinate
    outside [0, 1) that then looks different from the equal coordinate 0.0.
    """
    if isinstance(x, torch.Tensor):
        r = torch.remainder(x, 1.0)
        return torch.where(r >= 1.0, r - 1.0, r)
    r = np.mod(x, 1.0)
    return np.where(r >= 1.0, r - 1.0, r)


def periodic_distances(frac_a: np.ndarray, frac_b: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """Distances in Å between every point of ``frac_a`` (A, 3) and of ``frac_b`` (B, 3): (A, B) float64.

    The nearest image is taken by rounding the fractional differences, which is exact for distances well
    below half the cell's shortest width: use it for tolerances and short contacts, not for long vectors.
    ``lattice`` is (3, 3) in Å with rows a, b, c.
    """
    delta = frac_a[:, None, :] - frac_b[None, :, :]
    delta -= np.round(delta)
    return np.linalg.norm(delta @ lattice, axis=-1)
