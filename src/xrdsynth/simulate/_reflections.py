"""Reflections inside the limiting sphere, reduced by Laue symmetry, for a batch of crystals.

For crystal b with reciprocal basis a*, b*, c* (rows of ``inv(lattice).T``), reflection hkl has the
reciprocal-lattice vector g = h a* + k b* + l c*, |g| = 1/d. The reflections seen at wavelength lambda up to
2theta_max are those with |g| <= 2 sin(theta_max) / lambda (the limiting sphere).

Intensities |F(h)|^2 are invariant under the Laue group of the crystal (its point group plus the inversion,
acting on row vectors as h -> h R). Only one reflection per orbit is computed, the lexicographically
largest, and it carries the orbit size as its multiplicity. The Laue group is taken from the space-group
number in its default setting; because a crystal may be described in another setting (a CIF with unique
axis c, rhombohedral axes, ...), :func:`verified_laue_ids` checks |F(hR)| = |F(h)| on a few test
reflections and falls back to the inversion alone where the check fails. The reduction therefore never
merges reflections that differ.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from ..symmetry import SpaceGroup

__all__ = ["Reflections", "enumerate_reflections", "laue_tables", "verified_laue_ids"]

# Base of the lexicographic key h*K^2 + k*K + l; |h|, |k|, |l| must stay below K/2. Keys stay below 2^31,
# exact in float64 (used for the matmul with the rotations).
_KEY_BASE = 1024
# Generic reflections used to verify a Laue group: all indices even (allowed by A, B, C, I and F centring)
# and -h + k + l divisible by 3 (allowed by R centring, obverse), none on an axis or a principal zone.
_TEST_HKL = ((2, 4, 10), (4, 2, 8), (6, 10, 2), (8, 2, 12))


@dataclass(frozen=True)
class LaueTables:
    """Laue groups of the 230 space groups (default settings), deduplicated.

    Attributes:
        laue_id: (231,) int64, index into the tables for each space-group number (entry 0 unused).
        rotations: (L, 48, 3, 3) int64 rotations acting on row vectors (h -> h R), padded with the identity.
        count: (L,) int64 number of distinct rotations in each Laue group.
        triclinic: the id of the group {1, -1}.
    """

    laue_id: torch.Tensor
    rotations: torch.Tensor
    count: torch.Tensor
    triclinic: int


@functools.cache
def _laue_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    sets: list[np.ndarray] = []
    keys: dict[bytes, int] = {}
    laue_id = np.zeros(231, dtype=np.int64)
    for number in range(1, 231):
        rotations = SpaceGroup(number).operations.rotations
        # Transposed: the operation x -> R x maps reflection h (a row vector) to h R.
        both = np.concatenate([rotations, -rotations]).transpose(0, 2, 1)
        unique = np.unique(both.reshape(len(both), 9), axis=0)
        key = unique.tobytes()
        if key not in keys:
            keys[key] = len(sets)
            sets.append(unique.reshape(-1, 3, 3))
        laue_id[number] = keys[key]
    padded = np.tile(np.eye(3, dtype=np.int64), (len(sets), 48, 1, 1))
    count = np.zeros(len(sets), dtype=np.int64)
    for i, rotations in enumerate(sets):
        padded[i, : len(rotations)] = rotations
        count[i] = len(rotations)
    return laue_id, padded, count, int(laue_id[1])


def laue_tables(device: torch.device | str = "cpu") -> LaueTables:
    """The Laue groups of all space groups as tensors on ``device``."""
    laue_id, rotations, count, triclinic = _laue_arrays()
    return LaueTables(
        torch.tensor(laue_id, device=device),
        torch.tensor(rotations, device=device),
        torch.tensor(count, device=device),
        triclinic,
    )


def _intensity_at(hkl: torch.Tensor, frac_coords: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """|sum_j w_j exp(2 pi i h.x_j)|^2 for (B, M, 3) reflections and (B, N, 3) atoms with (B, N) weights."""
    phase = 2.0 * torch.pi * torch.bmm(hkl, frac_coords.transpose(1, 2))
    real = (torch.cos(phase) * weights.unsqueeze(1)).sum(-1)
    imag = (torch.sin(phase) * weights.unsqueeze(1)).sum(-1)
    return real * real + imag * imag


def verified_laue_ids(
    space_group: torch.Tensor,
    frac_coords: torch.Tensor,
    weights: torch.Tensor,
    tables: LaueTables,
    rtol: float = 1e-6,
) -> torch.Tensor:
    """Laue group of each crystal, checked against its atoms.

    Args:
        space_group: (B,) int64 space-group numbers.
        frac_coords: (B, N, 3) fractional coordinates (padding anywhere).
        weights: (B, N) scattering weights (atomic number times occupancy; 0 for padding). Using Z instead of
            f(s) is enough: a rotation that is a symmetry leaves every sum of this form invariant.
        tables: from :func:`laue_tables` on the same device.
        rtol: allowed |F(hR)|^2 - |F(h)|^2 relative to (sum_j w_j)^2.

    Returns:
        (B,) int64 ids into ``tables``: the space group's Laue group where every rotation maps the test
        reflections to reflections of equal intensity, else the triclinic group {1, -1}.
    """
    ids = tables.laue_id[space_group]
    rotations = tables.rotations[ids].to(torch.float64)  # (B, 48, 3, 3)
    test = torch.tensor(_TEST_HKL, dtype=torch.float64, device=frac_coords.device)  # (T, 3)
    images = torch.einsum("ti,bgij->btgj", test, rotations)  # (B, T, 48, 3)
    b, t = images.shape[:2]
    x = frac_coords.to(torch.float64)
    w = weights.to(torch.float64)
    intensity = _intensity_at(images.reshape(b, t * 48, 3), x, w).reshape(b, t, 48)
    scale = w.sum(-1).square().clamp_min(torch.finfo(torch.float64).tiny)
    reference = _intensity_at(test.expand(b, t, 3), x, w)  # (B, T)
    valid = torch.arange(48, device=ids.device) < tables.count[ids].unsqueeze(-1)  # (B, 48)
    close = (intensity - reference.unsqueeze(-1)).abs() <= rtol * scale.view(b, 1, 1)
    ok = (close | ~valid.unsqueeze(1)).all(dim=(1, 2))
    return torch.where(ok, ids, torch.full_like(ids, tables.triclinic))


@dataclass(frozen=True)
class Reflections:
    """Symmetry-unique reflections of a batch, flattened and grouped by crystal.

    Attributes:
        crystal: (R,) int64 batch index of each reflection, non-decreasing.
        hkl: (R, 3) int64 Miller indices (the lexicographically largest of the Laue orbit).
        multiplicity: (R,) int64 size of the Laue orbit.
        g2: (R,) float64 |g|^2 = 1/d^2 in 1/Å².
        counts: (B,) int64 number of reflections of each crystal.
    """

    crystal: torch.Tensor
    hkl: torch.Tensor
    multiplicity: torch.Tensor
    g2: torch.Tensor
    counts: torch.Tensor


def enumerate_reflections(
    lattice: torch.Tensor,
    g_min: torch.Tensor,
    g_max: torch.Tensor,
    laue_ids: torch.Tensor,
    tables: LaueTables,
) -> Reflections:
    """All Laue-unique reflections with g_min < |g| <= g_max for each crystal.

    Args:
        lattice: (B, 3, 3) Å, rows a, b, c (any float dtype; the enumeration runs in float64).
        g_min: (B,) 1/Å, lower bound of |g| (exclusive; 0 keeps everything but 000).
        g_max: (B,) 1/Å, radius of the limiting sphere.
        laue_ids: (B,) ids into ``tables`` (from :func:`verified_laue_ids`).
        tables: from :func:`laue_tables` on the lattice's device.

    Raises:
        ValueError: a cell so large that indices would reach 512 (more than ~10^8 reflections).
    """
    device = lattice.device
    lat = lattice.detach().to(torch.float64)
    metric = torch.linalg.inv(lat @ lat.transpose(1, 2))  # reciprocal metric tensor G*, (B, 3, 3)
    # |h| <= |g| |a|: the bounding box of the sphere in index space.
    bounds = torch.floor(g_max.to(torch.float64).unsqueeze(-1) * lat.norm(dim=-1)).to(torch.int64)  # (B, 3)
    if int(bounds.max()) >= _KEY_BASE // 2:
        raise ValueError(
            f"a cell edge of {float(lat.norm(dim=-1).max()):.0f} Å gives Miller indices beyond "
            f"{_KEY_BASE // 2 - 1} in this 2θ range; that many reflections cannot be enumerated"
        )
    # Half of the box (h >= 0); the inversion in every Laue group takes care of the other half.
    extent = torch.stack([bounds[:, 0] + 1, 2 * bounds[:, 1] + 1, 2 * bounds[:, 2] + 1], dim=1)
    sizes = extent.prod(dim=1)
    crystal = torch.repeat_interleave(torch.arange(len(lat), device=device), sizes)
    offsets = torch.cumsum(sizes, 0) - sizes
    local = torch.arange(len(crystal), device=device) - offsets[crystal]
    ext = extent[crystal]
    bnd = bounds[crystal]
    h = local // (ext[:, 1] * ext[:, 2])
    rest = local % (ext[:, 1] * ext[:, 2])
    k = rest // ext[:, 2] - bnd[:, 1]
    l_ = rest % ext[:, 2] - bnd[:, 2]
    hkl = torch.stack([h, k, l_], dim=1)
    key = (h * _KEY_BASE + k) * _KEY_BASE + l_
    hf = hkl.to(torch.float64)
    g2 = torch.einsum("ni,nij,nj->n", hf, metric[crystal], hf)
    keep = (key > 0) & (g2 <= g_max.to(torch.float64)[crystal].square())
    keep &= g2 > g_min.to(torch.float64)[crystal].square()
    crystal, hkl, key, g2 = crystal[keep], hkl[keep], key[keep], g2[keep]

    # Canonical member of each Laue orbit and its multiplicity, one Laue group at a time.
    weights = torch.tensor([_KEY_BASE**2, _KEY_BASE, 1], dtype=torch.float64, device=device)
    canonical = torch.zeros(len(hkl), dtype=torch.bool, device=device)
    multiplicity = torch.zeros(len(hkl), dtype=torch.int64, device=device)
    laue_of = laue_ids[crystal]
    for laue in torch.unique(laue_ids).tolist():
        rows = torch.nonzero(laue_of == laue).squeeze(1)
        n_ops = int(tables.count[laue])
        # key(h R) = h . (R w): one matmul gives the keys of all images.
        key_vectors = tables.rotations[laue, :n_ops].to(torch.float64) @ weights  # (n_ops, 3)
        image_keys = hkl[rows].to(torch.float64) @ key_vectors.T  # (n, n_ops)
        own = key[rows].to(torch.float64).unsqueeze(1)
        canonical[rows] = (image_keys <= own).all(dim=1)
        multiplicity[rows] = n_ops // (image_keys == own).sum(dim=1)
    crystal, hkl, g2, multiplicity = (
        crystal[canonical],
        hkl[canonical],
        g2[canonical],
        multiplicity[canonical],
    )
    counts = torch.bincount(crystal, minlength=len(lat))
    return Reflections(crystal, hkl, multiplicity, g2, counts)
