"""Measured patterns onto a classifier's grid: a linear map from the measured points to the grid cells.

Resampling is linear in the intensities, and its weights depend only on the two grids and the wavelengths,
so it is built once per call as a sparse (M, P) matrix W (a few nonzeros per grid cell) and applied to all N
patterns in one product, ``intensity @ W``: about one pass over the data instead of a dozen.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import scipy.sparse
import torch

if TYPE_CHECKING:
    from ._classifier import InputSpec

__all__ = ["as_float_array", "log_d_two_theta", "resample_pattern", "resample_to_log_d", "resampling_matrix"]

_RAD = math.pi / 180.0


def as_float_array(value: Any, name: str) -> npt.NDArray[np.float64]:
    """``value`` (array-like or tensor) as a float64 numpy array; ValueError if not numeric or not finite."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric, got {type(value).__name__}") from None
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _bracket(x: npt.NDArray[np.float64], points: npt.NDArray[np.float64]) -> tuple[np.ndarray, np.ndarray]:
    """For points within [x[0], x[-1]]: the interval index j (x[j] <= point <= x[j+1]) and the fraction
    of the way from x[j] to x[j+1], for linear interpolation on the increasing grid x."""
    j = np.clip(np.searchsorted(x, points, side="right") - 1, 0, x.size - 2)
    return j, (points - x[j]) / (x[j + 1] - x[j])


def resampling_matrix(x: npt.NDArray[np.float64], grid: npt.NDArray[np.float64]) -> scipy.sparse.csr_matrix:
    """The (M, P) sparse matrix W with ``y @ W`` = patterns y (N, M) sampled at points ``x`` (M,) (strictly
    increasing, degrees) resampled onto the equally spaced ``grid`` (P,) (degrees), as
    :func:`resample_pattern` defines it: the mean of the linear interpolant over each grid cell holding two or
    more points, its value at the centre of the other cells inside the scan, 0 outside.

    The mean over a cell [a, b] is (1 / (b - a)) times the sum, over the segments [x_i, x_i+1] it overlaps
    in [u, v], of the integral of the segment's line: y_i (v - u)(2 x_i+1 - u - v) / 2Δ + y_i+1 (v - u)(u + v
    - 2 x_i) / 2Δ, with Δ = x_i+1 - x_i.
    """
    m, p = x.size, grid.size
    step = (grid[-1] - grid[0]) / (p - 1)
    edges = np.concatenate([[grid[0] - step / 2], grid[:-1] + step / 2, [grid[-1] + step / 2]])
    e = np.clip(edges, x[0], x[-1])
    covered = np.diff(e)
    ok = covered > 1e-9 * step
    points_in_cell = np.diff(np.searchsorted(x, edges))
    sparse = ok & (points_in_cell < 2)
    averaged = np.flatnonzero(ok & ~sparse)
    # Every (cell, segment) pair that may overlap: the segments from the one holding the cell's left edge to
    # the one holding its right edge.
    first = _bracket(x, e[averaged])[0]
    last = _bracket(x, e[averaged + 1])[0]
    counts = last - first + 1
    cell = np.repeat(averaged, counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)  # 0, 1, .. per cell
    segment = np.repeat(first, counts) + within
    u = np.maximum(x[segment], e[cell])
    v = np.minimum(x[segment + 1], e[cell + 1])
    length = np.clip(v - u, 0.0, None)
    delta = x[segment + 1] - x[segment]
    scale = length / (2.0 * delta * covered[cell])
    left = scale * (2.0 * x[segment + 1] - u - v)
    right = scale * (u + v - 2.0 * x[segment])
    # Cells with fewer than two points: linear interpolation at the centre (the scan's end value beyond it).
    centre = np.flatnonzero(sparse)
    j, t = _bracket(x, np.clip(grid[centre], x[0], x[-1]))
    rows = np.concatenate([segment, segment + 1, j, j + 1])
    columns = np.concatenate([cell, cell, centre, centre])
    weights = np.concatenate([left, right, 1.0 - t, t])
    return scipy.sparse.csr_matrix((weights, (rows, columns)), shape=(m, p))


def resample_pattern(
    two_theta: npt.ArrayLike,
    intensity: npt.ArrayLike,
    wavelength: float,
    spec: InputSpec,
) -> npt.NDArray[np.float64]:
    """Measured patterns on the grid and wavelength of ``spec``.

    Each measured 2θ is converted to d = λ / (2 sin θ) and then to 2θ' at ``spec.wavelength``; the intensity
    is averaged over each grid cell of ``spec`` that holds two or more measured points (the integral of the
    linearly interpolated pattern over the cell divided by its width), so that finely sampled patterns are
    not aliased; other cells take the linearly interpolated value at their centre. Grid cells outside the
    measured range are 0. The map is linear (:func:`resampling_matrix`), applied to all patterns at once.

    At another wavelength the intensities are converted as well, so that the pattern looks as it would have at
    ``spec.wavelength`` (the classifier learned relative peak heights there). Mapping a peak through d
    stretches its width by J = d2θ′/d2θ, and the Lorentz–polarisation factor of the simulator (unpolarised
    beam, no monochromator) changes; with sin θ′ / sin θ = λ′ / λ fixed, the Lorentz part and J cancel up to a
    constant, and the heights scale by the polarisation ratio (1 + cos² 2θ′) / (1 + cos² 2θ) alone (a Mo scan
    on a Cu grid: up to 1.6 at the high end). Exact for peaks broadened by the sample; a simulated Mo pattern
    resampled to Cu then matches the Cu simulation to 0.3 % of its maximum, against 3 % without.

    Args:
        two_theta: (M,) degrees, strictly increasing, shared by all patterns.
        intensity: (M,) or (N, M).
        wavelength: Å, of the measurement.
        spec: the target grid.

    Returns:
        (N, P) float64, not normalised.
    """
    x = as_float_array(two_theta, "two_theta")
    y = as_float_array(intensity, "intensity")
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"two_theta must be 1-D with >= 2 points, got shape {x.shape}")
    if y.ndim == 1:
        y = y[None]
    if y.ndim != 2 or y.shape[1] != x.size:
        raise ValueError(f"intensity must have shape ({x.size},) or (N, {x.size}), got {y.shape}")
    if np.any(np.diff(x) <= 0):
        raise ValueError("two_theta must be strictly increasing")
    if x[0] <= 0 or x[-1] >= 180:
        raise ValueError(f"two_theta must lie in (0, 180) degrees, got {x[0]:g}..{x[-1]:g}")
    if not wavelength > 0 or not math.isfinite(wavelength):
        raise ValueError(f"wavelength must be a positive number of Å, got {wavelength}")
    # 2θ at the model's wavelength; reflections that do not exist there (sin > 1) are dropped.
    sine = spec.wavelength / wavelength * np.sin(x * _RAD / 2.0)
    inside = sine < 1.0
    x2 = 2.0 * np.arcsin(sine[inside]) / _RAD
    if x2.size < 2:
        raise ValueError("no measured point falls within 2θ < 180° at the model's wavelength")
    y2 = y if inside.all() else y[:, inside]
    matrix = resampling_matrix(x2, spec.two_theta)
    if wavelength != spec.wavelength:
        polarisation = (1.0 + np.cos(x2 * _RAD) ** 2) / (1.0 + np.cos(x[inside] * _RAD) ** 2)
        matrix = scipy.sparse.diags(polarisation) @ matrix
    return np.asarray(y2 @ matrix)


def log_d_two_theta(two_theta_min: float, two_theta_max: float, num_points: int) -> npt.NDArray[np.float64]:
    """(num_points,) 2θ in degrees, increasing from ``two_theta_min`` to ``two_theta_max``, equally spaced in
    ln d (equivalently in ln sin θ, at any wavelength): the points a ``log_d_points`` network reads.

    On this axis a change of all d-spacings by one factor (a cell scaled isotropically, a cubic lattice
    parameter) moves the whole pattern without changing its shape, and the Kα2 line sits at one fixed offset
    ln(λKα2 / λKα1) from its Kα1 line: both become translations, which a convolutional network handles
    alike everywhere along the pattern.
    """
    if not 0.0 < two_theta_min < two_theta_max < 180.0:
        raise ValueError(
            f"need 0 < two_theta_min < two_theta_max < 180, got {two_theta_min}, {two_theta_max}"
        )
    if int(num_points) < 2:
        raise ValueError(f"num_points must be >= 2, got {num_points}")
    ends = np.log(np.sin(np.array([two_theta_min, two_theta_max]) * _RAD / 2.0))
    u = np.linspace(ends[0], ends[1], int(num_points))
    grid = 2.0 * np.arcsin(np.exp(u)) / _RAD
    grid[0], grid[-1] = two_theta_min, two_theta_max  # exact ends despite rounding
    return grid


@lru_cache(maxsize=8)
def _log_d_cells(
    first: float, last: float, points: int, num_points: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The cells of :func:`log_d_two_theta` over an equally spaced grid of ``points`` from ``first`` to
    ``last`` degrees, in input steps: for each of the Q + 1 edges the segment j and the fraction t within it,
    and the Q cell widths. Cached: a network reading ln d resamples every batch onto the same cells."""
    if not 0.0 < first < last < 180.0 or points < 2:
        raise ValueError(f"need an increasing grid within (0, 180) degrees, got {first}..{last} ({points})")
    ends = np.log(np.sin(np.array([first, last]) * _RAD / 2.0))
    u = np.linspace(ends[0], ends[1], int(num_points))
    mid = 2.0 * np.arcsin(np.exp(0.5 * (u[1:] + u[:-1]))) / _RAD
    edges = np.clip(np.concatenate([[first], mid, [last]]), first, last)
    position = (edges - first) / ((last - first) / (points - 1))
    j = np.clip(np.floor(position).astype(np.int64), 0, points - 2)
    return j, position - j, np.diff(position)


def resample_to_log_d(patterns: torch.Tensor, two_theta: torch.Tensor, num_points: int) -> torch.Tensor:
    """(B, P) patterns on an equally spaced 2θ grid -> (B, num_points) on the grid of
    :func:`log_d_two_theta` over the same range: each output point is the mean of the linearly interpolated
    pattern over its cell (the cells are bounded by the midpoints, in ln d, between output points), so
    narrow peaks are neither lost nor aliased where the output is coarser than the input (high angles), and
    the pattern is interpolated where it is finer (low angles). A constant stays that constant.

    Args:
        patterns: (B, P) intensities, any scale.
        two_theta: (P,) the equally spaced input grid, degrees (0 < 2θ < 180).
        num_points: Q, points of the output.

    Returns:
        (B, Q) in the patterns' dtype and device.
    """
    if patterns.ndim != 2 or two_theta.ndim != 1 or patterns.shape[1] != two_theta.shape[0]:
        raise ValueError(
            f"need (B, P) patterns and a (P,) grid, got {tuple(patterns.shape)} and {tuple(two_theta.shape)}"
        )
    j, t, cell_width = _log_d_cells(float(two_theta[0]), float(two_theta[-1]), two_theta.shape[0], num_points)
    device = patterns.device
    y = patterns.to(torch.float64)
    # The exact integral of the linear interpolant from the first point, in units of steps: C at the nodes,
    # plus the part of segment j up to t: y_j t + (y_j+1 - y_j) t² / 2.
    nodes = torch.cat([y.new_zeros(y.shape[0], 1), torch.cumsum(0.5 * (y[:, 1:] + y[:, :-1]), dim=1)], dim=1)
    jj = torch.as_tensor(j, device=device)
    tt = torch.as_tensor(t, dtype=torch.float64, device=device)
    left, right = y[:, jj], y[:, jj + 1]
    integral = nodes[:, jj] + left * tt + (right - left) * tt.square() / 2.0
    width = torch.as_tensor(cell_width, dtype=torch.float64, device=device)
    mean = (integral[:, 1:] - integral[:, :-1]) / width
    # A mean lies within the pattern's range; rounding in the difference must not take a 0 below it (the
    # square root of the network's input would be NaN).
    mean = torch.minimum(torch.maximum(mean, y.amin(dim=1, keepdim=True)), y.amax(dim=1, keepdim=True))
    return mean.to(patterns.dtype)
