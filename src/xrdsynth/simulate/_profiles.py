"""The rendering of stick patterns into profiles (the widths come from :mod:`._widths`).

Rendering. The FWHM H(2theta) changes slowly across the pattern, so in the coordinate u(2theta) =
integral d(2theta) / H every peak has the same FWHM, 1. u is tabulated per pattern every 0.05 degrees
(trapezoid rule with its end correction) and interpolated between nodes by cubic Hermite polynomials with the
known slope 1/H. The sticks are deposited on a uniform u grid of 8 (Gaussian) or 10 (Lorentzian, pseudo-Voigt)
samples per FWHM (quadratic B-spline weights, conserving area), convolved with one kernel of FWHM 1 by FFT
(the Gaussian and Lorentzian have closed-form transforms; the deposit's own smoothing is divided out, and so
is the cubic B-spline's, which turns the samples into spline coefficients), and read back on the output 2theta
grid as that cubic spline with the Jacobian du/d(2theta) = 1/H. The cost is independent of the number of
reflections and the Lorentzian tails are exact, not truncated. Patterns of a batch whose u grids differ much
in length (random crystallite sizes) are rendered in up to four groups with their own FFT lengths. A rendered
peak differs from the exact profile by ~3e-4 of its height; the local approximation (H constant across one
peak) changes a peak's shape by less than 0.1% of its height for Scherrer widths (tested against closed
forms).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import torch

from .._errors import warn_at_caller
from .._math import FWHM_PER_SIGMA
from ._compile import fused as _fused
from ._widths import Widths, _batch_size, peak_widths, profile_margin

__all__ = ["Workspace", "render"]

# Zero padding of the u grid against wrap-around of the circular convolution, in FWHM.
_PAD_FWHM = {"gaussian": 8.0, "lorentzian": 200.0, "pseudo_voigt": 200.0}
# Samples of the rendering grid per FWHM: with the cubic-spline read-back, the largest error of a rendered
# peak is ~2e-4 of its height at these settings (the Lorentzian's slower-falling spectrum needs more).
_SAMPLES_PER_FWHM = {"gaussian": 8, "lorentzian": 10, "pseudo_voigt": 10}
_MAX_FFT = 2**18


def _fft_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (fast sizes for every FFT library)."""
    best = 1 << max(n - 1, 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            size = p35
            while size < n:
                size *= 2
            best = min(best, size)
            p35 *= 3
        p5 *= 5
    return best


def render(
    grid: torch.Tensor,
    pattern: torch.Tensor,
    position: torch.Tensor,
    area: torch.Tensor,
    batch_size: int,
    widths: Widths,
    profile: str,
    fuse: bool = False,
    workspace: Workspace | None = None,
    step_average: bool = False,
) -> torch.Tensor:
    """Profiles of stick patterns on a 2theta grid.

    Args:
        grid: (P,) output 2theta in degrees, increasing (not necessarily uniform), P >= 2.
        pattern: (S,) int64 pattern index of each stick, 0..batch_size-1.
        position: (S,) stick 2theta in degrees (sticks outside the range plus a margin are dropped).
        area: (S,) integrated intensity of each stick (its area in intensity x degrees).
        batch_size: number of patterns B.
        widths: per-pattern width parameters of batch size B.
        profile: one of :data:`PROFILES`.
        fuse: run the per-point stages (the u table, the stick positions, the read-back) through
            ``torch.compile``: the same numbers, several times faster on CPUs, after a one-time compilation.
        workspace: buffers to reuse for the large intermediate arrays (not used where autograd needs them).
        step_average: each point holds the mean of the profile over its step (the cell between the
            midpoints to its neighbours; the end cells extend half a spacing outward), as a detector counting
            through a continuous scan records it, instead of the profile's value at the point. Exact (the
            spline's antiderivative); peaks narrower than the step keep their area instead of being missed
            or over-read by the points.

    Returns:
        (B, P) intensity per degree 2theta: integrating a pattern over 2theta gives the sum of the areas of
        the sticks whose peaks lie inside the grid (with ``step_average``, sum(pattern * cell widths) does
        exactly).
    """
    dtype, device = area.dtype, area.device
    bsz = batch_size
    grid64 = grid.to(torch.float64)
    if workspace is None or (torch.is_grad_enabled() and (area.requires_grad or position.requires_grad)):
        workspace = _NO_WORKSPACE
    # The range covered: the grid plus a margin, so that peaks just outside contribute their tails.
    margin = profile_margin(grid64.to(dtype), widths, profile)
    low = max(float(grid64[0]) - margin, 1e-3)
    high = min(float(grid64[-1]) + margin, 180.0 - 1e-3)
    table = _u_table(low, high, widths, profile, dtype, device, fuse)
    lengths = table.u[:, -1] * table.scale + _PAD_FWHM[profile]  # (B,) float64: rendering grid in FWHM
    groups = _length_groups(lengths, _SAMPLES_PER_FWHM[profile])
    # FFT lengths are capped at _MAX_FFT: below 3 samples per FWHM in the longest pattern, say so.
    longest = float(lengths.max())
    if _MAX_FFT / longest < 3:
        warn_at_caller(
            f"peaks are so narrow ({1.0 / float((table.f.amax(dim=1) * table.scale).max()):.2g}° FWHM) that "
            "the rendering grid holds "
            f"only {_MAX_FFT / longest:.1f} samples per FWHM; widen the peaks or shorten the 2θ range"
        )

    inside = (position >= low) & (position <= high)
    if not bool(inside.all()):  # usually all are: the caller enumerated up to the same margin
        pattern, position, area = pattern[inside], position[inside], area[inside]
    if profile == "pseudo_voigt":
        eta = peak_widths(position.unsqueeze(1), _select(widths, pattern), profile)[1].squeeze(1)
        parts = [("gaussian", area * (1.0 - eta)), ("lorentzian", area * eta)]
    else:
        parts = [(profile, area)]
    if step_average:
        edges = cell_edges(grid64)
        edge_node, edge_fraction = table.locate(edges)
        cell_width = edges[1:] - edges[:-1]
        # A shared table is read at the edges once for all patterns (and all length groups).
        shared_edges = None
        if table.u.shape[0] == 1:
            shared_edges = _table_at(table.u, table.f, edge_node, edge_fraction, table.step)[0]
    node, fraction = table.locate(grid64)

    # A shared table is read at the output points once for all patterns.
    shared = None
    if table.u.shape[0] == 1 and not step_average:
        shared = _fused(_table_at, fuse)(table.u, table.f, node, fraction, table.step)

    def read_back(coefficients: torch.Tensor, part: _UTable, spacing: torch.Tensor) -> torch.Tensor:
        """(B, P) from a part's spline coefficients and (B,) u per sample."""
        in_table_units = spacing / part.scale
        if step_average:
            edge_u = shared_edges
            if edge_u is None:
                edge_u = _table_at(part.u, part.f, edge_node, edge_fraction, part.step)[0]
            return _spline_cell_means(coefficients, edge_u, in_table_units, cell_width)
        if not fuse and not (torch.is_grad_enabled() and coefficients.requires_grad):
            return _read_back_in_blocks(coefficients, part, shared, node, fraction, in_table_units)
        if shared is not None:
            return _fused(_spline_read_back, fuse)(coefficients, *shared, in_table_units)
        read = _fused(_read_back, fuse)
        return read(coefficients, part.u, part.f, node, fraction, part.step, in_table_units)

    if len(groups) == 1:
        coefficients, spacing = _render_samples(
            table, lengths, groups[0][1], pattern, position, parts, bsz, fuse, workspace
        )
        return read_back(coefficients, table, spacing)
    # Patterns in groups of similar length, each on its own FFT length; sticks sorted by group.
    group_of = torch.empty(bsz, dtype=torch.int64, device=device)
    local = torch.empty(bsz, dtype=torch.int64, device=device)
    for g, (members, _) in enumerate(groups):
        group_of[members] = g
        local[members] = torch.arange(len(members), device=device)
    order = torch.argsort(group_of[pattern], stable=True)
    sizes = torch.bincount(group_of[pattern], minlength=len(groups)).tolist()
    outputs, start = [], 0
    for (members, n), size in zip(groups, sizes, strict=True):
        sticks = order[start : start + size]
        start += size
        part = table.select(members)
        coefficients, spacing = _render_samples(
            part,
            lengths[members],
            n,
            local[pattern[sticks]],
            position[sticks],
            [(shape, mass[sticks]) for shape, mass in parts],
            len(members),
            fuse,
            workspace,
        )
        outputs.append(read_back(coefficients, part, spacing))
    inverse = torch.argsort(torch.cat([members for members, _ in groups]))
    return torch.cat(outputs)[inverse]


# Patterns whose rendering grids differ in length are rendered in groups (up to this many, of at least
# _MIN_GROUP patterns each) with an FFT length each, when that saves at least a sixth of the samples.
_MAX_GROUPS = 4
_MIN_GROUP = 64


def _length_groups(lengths: torch.Tensor, samples_per_fwhm: int) -> list[tuple[torch.Tensor | None, int]]:
    """Split patterns into groups of similar rendering length: (members or None for all, FFT length)."""

    def fft_length(longest: float) -> int:
        return min(_fft_size(max(math.ceil(samples_per_fwhm * longest), 256)), _MAX_FFT)

    values = lengths.detach().cpu().numpy()
    whole = fft_length(float(values.max()))
    count = min(_MAX_GROUPS, len(values) // _MIN_GROUP)
    if count < 2:
        return [(None, whole)]
    order = np.argsort(values, kind="stable")
    bounds = np.linspace(0, len(values), count + 1).round().astype(np.int64)
    groups = [(order[a:b], fft_length(float(values[order[b - 1]]))) for a, b in itertools.pairwise(bounds)]
    if sum(len(m) * n for m, n in groups) > (5 / 6) * len(values) * whole:
        return [(None, whole)]
    device = lengths.device
    return [(torch.from_numpy(m).to(device), n) for m, n in groups]


def _render_samples(
    table: _UTable,
    lengths: torch.Tensor,
    n: int,
    pattern: torch.Tensor,
    position: torch.Tensor,
    parts: list[tuple[str, torch.Tensor]],
    bsz: int,
    fuse: bool,
    workspace: Workspace,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The sticks of ``bsz`` patterns convolved with their profiles on uniform u grids of ``n`` samples.

    Returns (bsz, n) cubic B-spline coefficients of the mass per sample and (bsz,) float64 u per sample.
    """
    dtype, device = parts[0][1].dtype, position.device
    spacing = lengths / n  # (B,) float64 u per sample
    # Sticks -> u -> a quadratic B-spline deposit on the nearest sample and its two neighbours. Its spread
    # (variance 1/4 sample^2) does not depend on where the stick falls between samples, so dividing by its
    # mean transform sinc^3 removes it exactly to second order; a linear deposit would leave an
    # offset-dependent width error of up to 1/12 sample^2.
    node, fraction = table.locate(position.to(torch.float64))
    index = _fused(_stick_samples, fuse)(
        table.u, table.f, pattern, node, fraction, table.step, spacing / table.scale
    )
    centre = index.detach().round().to(torch.int64).clamp(1, n - 2)
    offset = (index - centre.to(torch.float64)).to(dtype)
    flat = (pattern * n + centre).repeat(3) + torch.arange(-1, 2, device=device).repeat_interleave(
        len(centre)
    )
    share = torch.cat([0.5 * (0.5 - offset).square(), 0.75 - offset.square(), 0.5 * (0.5 + offset).square()])

    freq = torch.fft.rfftfreq(n, device=device, dtype=dtype)  # cycles per sample
    samples_per_fwhm = (1.0 / spacing).to(dtype).unsqueeze(-1)  # (B, 1)
    # Dividing by the deposit's transform (sinc^3) undoes its smoothing; dividing by the sampled cubic
    # B-spline's transform (2 + cos 2 pi f) / 3 turns the samples into the coefficients of the cubic spline
    # that interpolates them, which the read-back evaluates (far more accurate than a local cubic).
    filters = torch.special.sinc(freq).pow(3).clamp_min(1e-3) * (
        (2.0 + torch.cos(2.0 * math.pi * freq)) / 3.0
    )
    spectrum = None
    complex_dtype = torch.complex64 if dtype == torch.float32 else torch.complex128
    for shape, mass in parts:
        sticks = workspace.zeros(f"sticks {shape}", (bsz * n,), dtype, device)
        sticks.index_add_(0, flat, mass.repeat(3) * share)
        if workspace.reuse:
            transform = workspace.empty(f"transform {shape}", (bsz, n // 2 + 1), complex_dtype, device)
            transform = torch.fft.rfft(sticks.view(bsz, n), out=transform)
        else:  # out= does not support autograd
            transform = torch.fft.rfft(sticks.view(bsz, n))
        kernel = _fused(_profile_transform, fuse)(samples_per_fwhm, freq, filters, shape == "gaussian")
        term = transform.mul_(kernel)
        spectrum = term if spectrum is None else spectrum.add_(term)
    if not workspace.reuse:
        return torch.fft.irfft(spectrum, n=n), spacing  # type: ignore[arg-type]
    coefficients = workspace.empty("coefficients", (bsz, n), dtype, device)
    return torch.fft.irfft(spectrum, n=n, out=coefficients), spacing  # type: ignore[arg-type]


def _profile_transform(
    samples_per_fwhm: torch.Tensor, freq: torch.Tensor, filters: torch.Tensor, gaussian: bool
) -> torch.Tensor:
    """(B, F) the profile's transform at (F,) frequencies in cycles per sample, for (B, 1) samples per FWHM,
    divided by the deposit's and the spline's transforms ``filters`` (F,)."""
    if gaussian:
        sigma = samples_per_fwhm / FWHM_PER_SIGMA
        exponent = (-2.0 * math.pi**2) * sigma.square() * freq.square()
    else:
        exponent = -math.pi * samples_per_fwhm * freq  # exp(-2 pi gamma f), gamma = HWHM
    # Clamped so that exp never returns subnormal numbers (slow on CPUs, and below float32 resolution).
    return torch.exp(exponent.clamp_min(-80.0)) / filters


class Workspace:
    """Buffers for the large intermediate arrays of rendering, kept from one call to the next.

    A fresh multi-megabyte array costs a page fault per 4 KiB page on its first touch each time the memory
    allocator has handed the previous one back to the system (glibc does so for large blocks): about a fifth
    of a call's time on a 64-pattern batch. Reusing the buffers avoids that. They hold nothing between calls
    that a result depends on; each is as large as the largest request seen (buffers above ``max_bytes`` are
    not kept). Not for concurrent calls: give each thread its own (PowderSimulator keeps one per thread).
    """

    def __init__(self, max_bytes: int = 1 << 28) -> None:
        self.max_bytes = max_bytes
        self.reuse = max_bytes > 0
        self._buffers: dict[str, torch.Tensor] = {}

    def empty(
        self, name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        """An uninitialised tensor of ``shape``, a view of the buffer ``name``."""
        numel = math.prod(shape)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.dtype != dtype or buffer.device != device or buffer.numel() < numel:
            buffer = torch.empty(numel, dtype=dtype, device=device)
            if numel * buffer.element_size() > self.max_bytes:
                return buffer.view(shape)
            self._buffers[name] = buffer
        return buffer[:numel].view(shape)

    def zeros(
        self, name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        """A zero-filled tensor of ``shape``, a view of the buffer ``name``."""
        return self.empty(name, shape, dtype, device).zero_()


# A workspace that keeps nothing: every request is a fresh tensor, and no out= arguments (for calls that need
# autograd, whose graph holds on to the intermediate arrays).
_NO_WORKSPACE = Workspace(max_bytes=0)


# Largest step of the table of u (degrees 2theta): the widths change on a scale of degrees, so cubic Hermite
# interpolation between nodes this far apart is exact to ~1e-9 FWHM.
_TABLE_STEP = 0.05


@dataclass(frozen=True)
class _UTable:
    """u(2theta) = integral of 1/H and its derivative 1/H on a uniform 2theta table, per pattern.

    Where every pattern's width is one parameter times a common function of theta (a crystallite size, or a
    fixed FWHM, alone), the patterns' u differ only by a factor: the table then holds one row, and pattern
    b's u and 1/H are ``scale[b]`` times it (a 64x smaller table to build and to read).

    Attributes:
        low: 2theta of node 0 in degrees.
        step: (1,) float64 node spacing in degrees (a tensor: compiled code does not specialise on it).
        u: (B, M), or (1, M) shared, float64 u at the nodes, 0 at node 0.
        f: (B, M), or (1, M) shared, float64 1/H at the nodes, 1/degrees.
        scale: (B,) float64 factor of each pattern's row (ones for a table of B rows).
    """

    low: float
    step: torch.Tensor
    u: torch.Tensor
    f: torch.Tensor
    scale: torch.Tensor

    def select(self, members: torch.Tensor) -> _UTable:
        """The table of some patterns."""
        if self.u.shape[0] == 1:
            return _UTable(self.low, self.step, self.u, self.f, self.scale[members])
        return _UTable(self.low, self.step, self.u[members], self.f[members], self.scale[members])

    def locate(self, two_theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Left node index (int64) and fraction in [0, 1] (float64) of float64 positions."""
        x = (two_theta - self.low) / self.step
        node = x.floor().clamp(0, self.u.shape[1] - 2)
        return node.to(torch.int64), (x - node).clamp(0.0, 1.0)


def _u_table(
    low: float, high: float, widths: Widths, profile: str, dtype: torch.dtype, device, fuse: bool = False
) -> _UTable:
    nodes = max(math.ceil((high - low) / _TABLE_STEP), 4) + 1
    x = torch.linspace(low, high, nodes, dtype=torch.float64, device=device)
    step = torch.tensor([(high - low) / (nodes - 1)], dtype=torch.float64, device=device)
    bsz = _batch_size(widths)
    one = torch.ones(1, dtype=dtype, device=device)
    single = widths.microstrain is None and widths.caglioti is None
    if widths.crystallite_size_nm is not None and widths.instrument_fwhm is None and single:
        # H = K lambda / (L cos theta): 1/H of size L is L times that of a size of 1 nm.
        unit, scale = Widths(widths.wavelength, crystallite_size_nm=one), widths.crystallite_size_nm
    elif widths.instrument_fwhm is not None and widths.crystallite_size_nm is None and single:
        unit, scale = Widths(widths.wavelength, instrument_fwhm=one), 1.0 / widths.instrument_fwhm
    else:
        unit, scale = widths, torch.ones(bsz, dtype=torch.float64, device=device)
    u, f = _fused(_integrate_inverse_widths, fuse)(x.to(dtype), unit, profile, step)
    return _UTable(low, step, u, f, scale.to(torch.float64))


def _integrate_inverse_widths(
    x: torch.Tensor, widths: Widths, profile: str, step: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """u = integral of 1/H and 1/H itself at the (M,) uniform nodes x, step ``step`` degrees: (B, M) float64.

    Trapezoid rule with the Euler-Maclaurin end correction h^2/12 (f'(x_0) - f'(x)), f' by second-order
    differences: error O(h^4).
    """
    f = (1.0 / peak_widths(x, widths, profile)[0]).to(torch.float64)  # (B, M)
    slope = (
        torch.cat(
            [
                -1.5 * f[:, :1] + 2.0 * f[:, 1:2] - 0.5 * f[:, 2:3],
                0.5 * (f[:, 2:] - f[:, :-2]),
                1.5 * f[:, -1:] - 2.0 * f[:, -2:-1] + 0.5 * f[:, -3:-2],
            ],
            dim=1,
        )
        / step
    )
    u = torch.nn.functional.pad(torch.cumsum((f[:, 1:] + f[:, :-1]) * (step / 2.0), dim=1), (1, 0))
    return u + (step * step / 12.0) * (slope[:, :1] - slope), f


def _stick_samples(
    u: torch.Tensor,
    f: torch.Tensor,
    pattern: torch.Tensor,
    node: torch.Tensor,
    fraction: torch.Tensor,
    step: torch.Tensor,
    spacing: torch.Tensor,
) -> torch.Tensor:
    """(S,) float64 positions of sticks in samples of the rendering grid, from the (B, M) or shared (1, M)
    u table and the (B,) u per sample in units of the table's u."""
    row = pattern if u.shape[0] > 1 else torch.zeros_like(pattern)
    value, _ = _hermite(u[row, node], u[row, node + 1], f[row, node], f[row, node + 1], fraction, step)
    return value / spacing[pattern]


def _hermite(
    u0: torch.Tensor,
    u1: torch.Tensor,
    f0: torch.Tensor,
    f1: torch.Tensor,
    t: torch.Tensor,
    step: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cubic Hermite interpolation of u between two table nodes with values u0, u1 and derivatives f0, f1 at
    fraction t in [0, 1] of a step of ``step`` degrees: u and du/d2theta there (float64)."""
    t2 = t * t
    t3 = t2 * t
    value = (
        (2 * t3 - 3 * t2 + 1) * u0 + (3 * t2 - 2 * t3) * u1 + step * ((t3 - 2 * t2 + t) * f0 + (t3 - t2) * f1)
    )
    slope = (6 * t2 - 6 * t) * (u0 - u1) / step + (3 * t2 - 4 * t + 1) * f0 + (3 * t2 - 2 * t) * f1
    return value, slope


def _read_back(
    coefficients: torch.Tensor,
    u: torch.Tensor,
    f: torch.Tensor,
    node: torch.Tensor,
    fraction: torch.Tensor,
    step: torch.Tensor,
    spacing: torch.Tensor,
) -> torch.Tensor:
    """Density in 2theta at the output points: (B, n) spline coefficients of the mass per u sample, the
    (B, M) or shared (1, M) u table and its derivative, (P,) table nodes and fractions of the points, (B,)
    float64 u per sample in units of the table's u -> (B, P) in the coefficients' dtype."""
    value, slope = _table_at(u, f, node, fraction, step)
    return _spline_read_back(coefficients, value, slope, spacing)


# Elements per block of the eager read-back: its ~15 temporaries of a block stay in the CPU's L2 cache and are
# reused from the allocator's free list, where temporaries of the whole (B, P) batch are fresh multi-megabyte
# arrays whose pages fault on first touch at every call (the read-back of 64 patterns: 11 ms -> 2 ms).
# On a GPU the same loop would launch ~50 kernels per block of 3 patterns: there the blocks are large
# (2^22 elements: a few hundred megabytes of temporaries), one block for most batches.
_BLOCK_ELEMENTS = 1 << 15
_BLOCK_ELEMENTS_GPU = 1 << 22


def _read_back_in_blocks(
    coefficients: torch.Tensor,
    table: _UTable,
    shared: tuple[torch.Tensor, torch.Tensor] | None,
    node: torch.Tensor,
    fraction: torch.Tensor,
    spacing: torch.Tensor,
) -> torch.Tensor:
    """:func:`_read_back` (or, with the table read at the points ``shared``, :func:`_spline_read_back`) a
    block of patterns at a time, into one (B, P) output; for calls without autograd."""
    bsz, points = coefficients.shape[0], node.shape[0]
    out = torch.empty(bsz, points, dtype=coefficients.dtype, device=coefficients.device)
    elements = _BLOCK_ELEMENTS if coefficients.device.type == "cpu" else _BLOCK_ELEMENTS_GPU
    rows = max(1, elements // points)
    for start in range(0, bsz, rows):
        block = slice(start, start + rows)
        if shared is not None:
            value, slope = shared
        else:
            value, slope = _table_at(table.u[block], table.f[block], node, fraction, table.step)
        out[block] = _spline_read_back(coefficients[block], value, slope, spacing[block])
    return out


def _table_at(
    u: torch.Tensor, f: torch.Tensor, node: torch.Tensor, fraction: torch.Tensor, step: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """u and du/d2theta, (B, P) or (1, P) float64, from the (B, M) or (1, M) table at (P,) nodes and
    fractions."""
    return _hermite(u[:, node], u[:, node + 1], f[:, node], f[:, node + 1], fraction, step)


def _spline_read_back(
    coefficients: torch.Tensor, value: torch.Tensor, slope: torch.Tensor, spacing: torch.Tensor
) -> torch.Tensor:
    """Density in 2theta from (B, n) spline coefficients, u and du/d2theta at the output points ((B, P) or
    shared (1, P)) and (B,) float64 u per sample -> (B, P) in the coefficients' dtype."""
    position = value / spacing.unsqueeze(-1)
    density_u = _spline_interpolation(coefficients, position)
    return density_u * (slope / spacing.unsqueeze(-1)).to(coefficients.dtype)


def _spline_interpolation(coefficients: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    """The cubic B-spline with coefficients ``coefficients`` (B, n) evaluated at float64 sample positions
    ``position`` (B, M)."""
    n = coefficients.shape[1]
    j = position.detach().floor().clamp(1, n - 3)
    t = (position - j).clamp(0.0, 1.0).to(coefficients.dtype)
    # On the interval [j, j+1] the spline is a cubic in t whose four coefficients depend on c[j-1..j+2]:
    # computed once per interval on the (B, n) grid where it has fewer points than the output (the usual
    # case), else at the output points; then three multiply-adds per point (4x faster than the B-spline
    # basis evaluated at every point).
    if n - 3 <= position.shape[1]:
        interval = j.to(torch.int64) - 1
        polynomial = _interval_polynomials(
            coefficients[:, :-3], coefficients[:, 1:-2], coefficients[:, 2:-1], coefficients[:, 3:]
        )
        a0, a1, a2, a3 = (torch.gather(a, 1, interval) for a in polynomial)
    else:
        at = j.to(torch.int64)
        a0, a1, a2, a3 = _interval_polynomials(
            *(torch.gather(coefficients, 1, at + offset) for offset in (-1, 0, 1, 2))
        )
    return ((a3 * t + a2) * t + a1) * t + a0


def cell_edges(grid: torch.Tensor) -> torch.Tensor:
    """(P + 1,) edges of the cells of a (P,) increasing grid: the midpoints between neighbours, and half a
    spacing beyond each end."""
    middle = 0.5 * (grid[1:] + grid[:-1])
    first = grid[:1] - 0.5 * (grid[1:2] - grid[:1])
    last = grid[-1:] + 0.5 * (grid[-1:] - grid[-2:-1])
    return torch.cat([first, middle, last])


def _spline_cell_means(
    coefficients: torch.Tensor, edge_u: torch.Tensor, spacing: torch.Tensor, cell_width: torch.Tensor
) -> torch.Tensor:
    """Mean density in 2theta over each cell: (B, n) spline coefficients of the mass per sample, u at the
    (P + 1) cell edges ((B, P + 1) or shared (1, P + 1), float64, table units), (B,) float64 u per sample in
    table units and (P,) float64 cell widths in degrees -> (B, P) in the coefficients' dtype.

    The mass between two edges is the difference of the spline's antiderivative there (the integral over
    2theta of density * du/d2theta is the integral over u of the density in u). Without autograd a block of
    patterns at a time: the (B, n) float64 running sums of a batch of narrow peaks would take gigabytes.
    """
    if torch.is_grad_enabled() and coefficients.requires_grad:
        return _cell_means(coefficients, edge_u, spacing, cell_width)
    bsz, n = coefficients.shape
    out = torch.empty(bsz, cell_width.shape[0], dtype=coefficients.dtype, device=coefficients.device)
    elements = _BLOCK_ELEMENTS if coefficients.device.type == "cpu" else _BLOCK_ELEMENTS_GPU
    rows = max(1, (4 * elements) // max(n, edge_u.shape[1]))
    for start in range(0, bsz, rows):
        block = slice(start, start + rows)
        edges = edge_u if edge_u.shape[0] == 1 else edge_u[block]
        out[block] = _cell_means(coefficients[block], edges, spacing[block], cell_width)
    return out


def _cell_means(
    coefficients: torch.Tensor, edge_u: torch.Tensor, spacing: torch.Tensor, cell_width: torch.Tensor
) -> torch.Tensor:
    """:func:`_spline_cell_means` of one block of patterns."""
    n = coefficients.shape[1]
    c = coefficients.to(torch.float64)
    # The integral of the uniform cubic B-spline over its interval [j, j+1] (samples) is
    # (c[j-1] + 11 c[j] + 11 c[j+1] + c[j+2]) / 24; running sums in float64, so that differences of
    # nearby edges keep their precision far below the strongest peak. Interval i spans samples
    # [i + 1, i + 2]; before[i] is the mass of the intervals below it.
    whole = (c[:, :-3] + c[:, 3:] + 11.0 * (c[:, 1:-2] + c[:, 2:-1])) / 24.0
    before = torch.nn.functional.pad(torch.cumsum(whole, dim=1), (1, 0))
    # Outside [1, n - 2] the padded rendering grid holds no mass: the antiderivative is constant there.
    position = (edge_u / spacing.unsqueeze(-1)).clamp(1.0, n - 2.0)  # (B, P + 1) in samples
    j = position.floor().clamp(1, n - 3)
    interval = (j.to(torch.int64) - 1).expand(coefficients.shape[0], -1)
    t = position - j
    a0, a1, a2, a3 = _interval_polynomials(*(torch.gather(c, 1, interval + offset) for offset in range(4)))
    within = t * (a0 + t * (a1 / 2.0 + t * (a2 / 3.0 + t * a3 / 4.0)))
    antiderivative = torch.gather(before, 1, interval) + within
    return ((antiderivative[:, 1:] - antiderivative[:, :-1]) / cell_width).to(coefficients.dtype)


def _interval_polynomials(
    previous: torch.Tensor, here: torch.Tensor, following: torch.Tensor, after: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Power-basis coefficients (a0, a1, a2, a3) in t of the uniform cubic B-spline on [j, j+1] from its
    coefficients c[j-1], c[j], c[j+1], c[j+2]."""
    return (
        (previous + 4.0 * here + following) / 6.0,
        0.5 * (following - previous),
        0.5 * (previous + following) - here,
        (after - previous) / 6.0 + 0.5 * (here - following),
    )


def _select(widths: Widths, rows: torch.Tensor) -> Widths:
    """The width parameters of pattern ``rows[s]`` for each stick s (a batch of S one-stick patterns)."""

    def pick(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t[rows]

    return Widths(
        widths.wavelength,
        pick(widths.crystallite_size_nm),
        pick(widths.microstrain),
        pick(widths.instrument_fwhm),
        pick(widths.caglioti),
    )
