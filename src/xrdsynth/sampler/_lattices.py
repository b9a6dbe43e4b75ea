"""Lattices and volumes of sampled crystals: the volume from the composition, then cell edges and angles
per lattice system, drawn from the statistics, as functions of explicit tensors (see :mod:`._core` for
the conventions: batched over crystals, randomness from the ``generator`` argument)."""

from __future__ import annotations

import math

import torch

from ..symmetry import LATTICE_SYSTEMS
from ._core import Composition, DeviceTables
from ._statistics import LATTICE_VARIABLES

__all__ = [
    "ANGLE_RANGE",
    "KERNEL_ANGLE_RANGE",
    "KERNEL_MAX_LENGTH_RATIO",
    "MAX_LENGTH_RATIO",
    "METRIC_ANGLE_MARGIN",
    "METRIC_MARGIN",
    "MIN_CELL_FLATNESS",
    "SHAPE_REJECTION_ROUNDS",
    "draw_lattices",
    "draw_volumes",
]

# Sane cell shapes: angles of free cells, and length ratios, stay inside these bounds.
ANGLE_RANGE = {"triclinic": (60.0, 120.0), "monoclinic": (90.0, 125.0)}
# Draws from the kernel density start from real cells (amcsd-dev's standard monoclinic settings reach
# beta = 135°, a tenth of them beyond 125°): their bounds only keep the noise from leaving sane shapes.
KERNEL_ANGLE_RANGE = {"triclinic": (50.0, 130.0), "monoclinic": (90.0, 150.0)}
MAX_LENGTH_RATIO = 5.0
# Real cells are longer: a quarter of amcsd-dev's I4/mmm cells and a third of its R-3m ones (hexagonal
# axes) have c/a beyond 5 (layered structures, up to 17), and bounding kernel draws by 5 dropped them all
# (the sampled I4/mmm c/a spanned 2.3-3.6 between its 10 and 90 % quantiles against 1.7-7.6 in the real
# cells). Kernel draws, which start from real cells, are only kept from extremes the noise could reach.
KERNEL_MAX_LENGTH_RATIO = 20.0
# Smallest accepted 1 - cos²α - cos²β - cos²γ + 2 cosα cosβ cosγ = (V / abc)²: rejects very flat cells.
MIN_CELL_FLATNESS = 0.1
SHAPE_REJECTION_ROUNDS = 10
# No cell within a whisker of a more symmetric lattice: where the atoms sit on fixed special positions, a cell
# whose edges a higher lattice system would make equal differ by less than spglib's tolerance lets it read a
# higher group (Pmmm crystals with a within 10⁻³ Å of b read as P4/mmm: 3 in 1,000 before this). Such shapes
# are redrawn: edges a higher system would make equal differ by at least METRIC_MARGIN in ln (0.2 %, 0.01 Å
# at 5 Å, ten times spglib's 10⁻³ Å; orthorhombic a, b, c; tetragonal a and c), a monoclinic β stays at
# least METRIC_ANGLE_MARGIN degrees from 90°, and a rhombohedral cell's c/a (hexagonal axes) as far from the
# ratios of its cubic cases (α = 109.47°, 90°, 60°: c/a = √(3/8), √(3/2), √6).
METRIC_MARGIN = 2e-3
METRIC_ANGLE_MARGIN = 0.1
_CUBIC_RHOMBOHEDRAL_LOG_C_OVER_A = tuple(0.5 * math.log(r) for r in (3.0 / 8.0, 3.0 / 2.0, 6.0))


# ---------------------------------------------------------------------------------------------------------
# Lattice


def draw_lattices(
    t: DeviceTables, group: torch.Tensor, volume: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """(n, 3, 3) lattices (rows a, b, c in Å, lower triangular) of the groups' lattice systems.

    The shape (length ratios, free angles) comes from the kernel density over the fitted cells of the
    crystal's space group where the statistics keep them (``cells_by_group``), else over those of its
    lattice system (a random fitted cell plus Gaussian noise, ``t.cell_kernel_width`` times the system's
    fitted covariance's square root), or from the fitted Gaussian where the statistics keep no cells, redrawn
    while outside the sane bounds (``ANGLE_RANGE`` and ``MAX_LENGTH_RATIO``, for kernel draws
    ``KERNEL_ANGLE_RANGE`` and ``KERNEL_MAX_LENGTH_RATIO``; ``MIN_CELL_FLATNESS``); the scale gives the
    cell ``volume`` (n,) Å³, or more where the shortest edge would be below ``t.min_cell_edge`` (the cell
    is then scaled up until it is not). The system's constraints hold by construction: equal lengths are the
    same number, fixed angles use exact cosines (0 for 90°, -1/2 for 120°).
    """
    n = group.shape[0]
    dtype, device = volume.dtype, volume.device
    params = torch.zeros((n, 6), dtype=torch.float64, device=device)  # b/a, c/a, cos α, cos β, cos γ, sin γ
    params[:, 0:2] = 1.0
    params[:, 5] = 1.0
    system = t.lattice_system[group - 1]
    for k, name in enumerate(LATTICE_SYSTEMS):
        rows = torch.nonzero(system == k).squeeze(1)
        if rows.numel() == 0:
            continue
        variables = LATTICE_VARIABLES[name]
        values = _draw_shapes(t, k, group[rows], generator)
        shape = dict(zip(variables, values.unbind(dim=1), strict=True))
        b_over_a = shape["log_b_over_a"].exp() if "log_b_over_a" in shape else None
        c_over_a = shape["log_c_over_a"].exp() if "log_c_over_a" in shape else None
        p = params[rows]
        if b_over_a is not None:
            p[:, 0] = b_over_a
        if c_over_a is not None:
            p[:, 1] = c_over_a
        if name == "triclinic":
            for j, angle in ((2, "alpha"), (3, "beta"), (4, "gamma")):
                p[:, j] = torch.cos(torch.deg2rad(shape[angle]))
            p[:, 5] = torch.sin(torch.deg2rad(shape["gamma"]))
        elif name == "monoclinic":
            p[:, 3] = torch.cos(torch.deg2rad(shape["beta"]))
        elif name in ("hexagonal", "rhombohedral"):
            p[:, 4] = -0.5
            p[:, 5] = math.sqrt(3.0) / 2.0
        params[rows] = p
    b, c, ca, cb, cg, sg = params.unbind(dim=1)
    one = torch.ones_like(b)
    zero = torch.zeros_like(b)
    cy = c * (ca - cb * cg) / sg
    cz = torch.sqrt((c * c - (c * cb) ** 2 - cy * cy).clamp(min=0.0))
    unit = torch.stack(
        [
            torch.stack([one, zero, zero], 1),
            torch.stack([b * cg, b * sg, zero], 1),
            torch.stack([c * cb, cy, cz], 1),
        ],
        dim=1,
    )
    unit_volume = one * b * sg * cz  # a = 1
    scale = (volume.to(torch.float64) / unit_volume) ** (1.0 / 3.0)
    shortest = torch.minimum(torch.minimum(one, b), c)  # edge lengths of the unit cell are 1, b, c
    scale = torch.maximum(scale, t.min_cell_edge / shortest)
    return (unit * scale[:, None, None]).to(dtype)


def _draw_shapes(t: DeviceTables, k: int, group: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(n, k) shape variables for crystals of ``group`` (n,), all of lattice system ``k``: each group with
    its own fitted cells (``t.group_shape_samples``) from the kernel over those, the others from the
    system's (``t.shape_samples``). Without any group's own cells, exactly one :func:`_draw_shape` call."""
    name = LATTICE_SYSTEMS[k]
    variables = LATTICE_VARIABLES[name]
    mean, chol, width = t.shape_mean[k], t.shape_chol[k], t.cell_kernel_width
    own = [g for g in torch.unique(group).tolist() if t.group_shape_samples[g - 1].shape[0] > 0]
    values = torch.empty((group.numel(), len(variables)), dtype=torch.float64, device=group.device)
    rest = torch.ones(group.numel(), dtype=torch.bool, device=group.device)
    for g in own:  # in ascending group order: one fixed sequence of draws for a given batch
        rows = group == g
        rest &= ~rows
        samples = t.group_shape_samples[g - 1]
        values[rows] = _draw_shape(mean, chol, samples, width, name, variables, int(rows.sum()), generator)
    if bool(rest.any()):
        pooled = t.shape_samples[k]
        values[rest] = _draw_shape(mean, chol, pooled, width, name, variables, int(rest.sum()), generator)
    return values


def _draw_shape(
    mean: torch.Tensor,
    chol: torch.Tensor,
    samples: torch.Tensor,
    width: float,
    system: str,
    variables: tuple[str, ...],
    n: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """(n, k) float64 shape variables from the kernel density over ``samples`` (m, k) (noise ``width``
    times the Gaussian's), or from the Gaussian where m = 0, redrawn where outside the sane bounds."""
    k = len(variables)
    if k == 0:
        return torch.zeros((n, 0), dtype=torch.float64, device=mean.device)

    def draw_n() -> torch.Tensor:
        noise = torch.randn((n, k), dtype=torch.float64, device=mean.device, generator=generator) @ chol.T
        if samples.shape[0] == 0:
            return noise + mean
        pick = torch.randint(samples.shape[0], (n,), device=mean.device, generator=generator)
        values = samples[pick] + width * noise
        if system == "monoclinic":  # beta and 180° - beta are one cell: reflect what the noise took below 90°
            values[:, 2] = 90.0 + (values[:, 2] - 90.0).abs()
        return values

    kernel = samples.shape[0] > 0
    angles = KERNEL_ANGLE_RANGE if kernel else ANGLE_RANGE
    ratio = KERNEL_MAX_LENGTH_RATIO if kernel else MAX_LENGTH_RATIO
    draw = draw_n()
    for _ in range(SHAPE_REJECTION_ROUNDS):
        bad = ~_shape_ok(draw, system, variables, angles, ratio)
        if not bool(bad.any()):
            return draw
        draw = torch.where(bad[:, None], draw_n(), draw)
    # The rare rows still outside the bounds after all rounds take the (clamped) mean shape.
    bad = ~_shape_ok(draw, system, variables, angles, ratio)
    return torch.where(bad[:, None], _clamped_mean(mean, system, variables).expand(n, -1), draw)


def _clamped_mean(mean: torch.Tensor, system: str, variables: tuple[str, ...]) -> torch.Tensor:
    low, high = ANGLE_RANGE.get(system, (0.0, 180.0))
    out = mean.clone()
    for j, name in enumerate(variables):
        if name.startswith("log_"):
            out[j] = out[j].clamp(-math.log(MAX_LENGTH_RATIO), math.log(MAX_LENGTH_RATIO))
        else:
            out[j] = out[j].clamp(low, high)
    if system == "triclinic" and not bool(_shape_ok(out[None], system, variables, ANGLE_RANGE)[0]):
        out[2:] = torch.tensor([90.0, 90.0, 90.0], dtype=out.dtype, device=out.device)
    return _clear_of_higher_metrics(out, system)


def _clear_of_higher_metrics(shape: torch.Tensor, system: str) -> torch.Tensor:
    """The (k,) shape moved just clear of the more symmetric metrics :func:`_shape_ok` refuses (for the
    fallback shape only: draws are redrawn instead, which keeps their distribution)."""
    m = METRIC_MARGIN
    out = shape.clone()
    if system == "orthorhombic":
        b_over_a = float(out[0])
        if abs(b_over_a) < m:
            out[0] = b_over_a = m
        if abs(float(out[1])) < m or abs(float(out[1]) - b_over_a) < m:
            out[1] = max(b_over_a, 0.0) + 2 * m
    elif system == "monoclinic":
        out[2] = max(float(out[2]), 90.0 + 2 * METRIC_ANGLE_MARGIN)
    elif system == "tetragonal" and abs(float(out[0])) < m:
        out[0] = m
    elif system == "rhombohedral":
        for cubic in _CUBIC_RHOMBOHEDRAL_LOG_C_OVER_A:
            if abs(float(out[0]) - cubic) < m:
                out[0] = cubic + m
    return out


def _shape_ok(
    values: torch.Tensor,
    system: str,
    variables: tuple[str, ...],
    angle_range: dict[str, tuple[float, float]],
    max_length_ratio: float = MAX_LENGTH_RATIO,
) -> torch.Tensor:
    ok = torch.ones(values.shape[0], dtype=torch.bool, device=values.device)
    low, high = angle_range.get(system, (0.0, 180.0))
    limit = math.log(max_length_ratio)
    for j, name in enumerate(variables):
        v = values[:, j]
        ok &= (v.abs() <= limit) if name.startswith("log_") else ((v >= low) & (v <= high))
    if system == "triclinic":
        ca, cb, cg = (torch.cos(torch.deg2rad(values[:, j])) for j in (2, 3, 4))
        ok &= 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg >= MIN_CELL_FLATNESS
    # The third length relative to the second: b/c is bounded too.
    if "log_b_over_a" in variables and "log_c_over_a" in variables:
        ok &= (values[:, 1] - values[:, 0]).abs() <= limit
    # Clear of the more symmetric metrics (METRIC_MARGIN).
    if system == "orthorhombic":
        b_over_a, c_over_a = values[:, 0], values[:, 1]
        for gap in (b_over_a, c_over_a, c_over_a - b_over_a):
            ok &= gap.abs() >= METRIC_MARGIN
    elif system == "tetragonal":
        ok &= values[:, 0].abs() >= METRIC_MARGIN
    elif system == "rhombohedral":
        for cubic in _CUBIC_RHOMBOHEDRAL_LOG_C_OVER_A:
            ok &= (values[:, 0] - cubic).abs() >= METRIC_MARGIN
    elif system == "monoclinic":
        ok &= (values[:, 2] - 90.0).abs() >= METRIC_ANGLE_MARGIN
    return ok


def draw_volumes(
    t: DeviceTables, c: Composition, generator: torch.Generator, dtype: torch.dtype
) -> torch.Tensor:
    """(n,) cell volumes in Å³: the sum over atoms of their element's volume, times exp(residual).

    The residual is drawn from the fitted distribution by inverse transform: a uniform probability
    between the first and last tabulated level, linearly interpolated in the residual's quantile table.
    """
    atoms = (c.multiplicity(t).to(dtype) * t.element_volume[c.number]).sum(dim=1)
    q = t.volume_residual.shape[0]
    u = torch.rand(atoms.shape, dtype=torch.float64, device=atoms.device, generator=generator)
    position = u * (q - 1)  # (level - low) / step, with the levels evenly spaced from low to high
    index = position.floor().to(torch.int64).clamp(max=q - 2)
    fraction = (position - index).to(dtype)
    residual = torch.lerp(t.volume_residual[index], t.volume_residual[index + 1], fraction)
    return atoms * torch.exp(residual)
