"""Scatterer types and the centric test behind the structure factors of a batch of crystals.

F(h) = sum_j occ_j f_j(s) exp(-B_j s^2) exp(2 pi i h.x_j), s = sin(theta)/lambda = |g|/2.

Atoms of one crystal that share an element and a B ("scatterer types") share f(s) exp(-B s^2), so the sum is
taken per type first: S_t(h) = sum_{j in t} occ_j exp(2 pi i h.x_j) is a batched matrix product of the phase
factors with an (atoms x types) occupancy matrix, and F(h) = sum_t f_t(s) S_t(h) (the sums are taken in
``PowderSimulator._structure_factors``). The transcendental work is then one cos and one sin per (reflection,
atom), the rest is matrix algebra.

Crystals whose atoms are symmetric under inversion through the origin (x -> -x maps every atom onto one of
the same element, occupancy and B: most centrosymmetric structures in their usual settings) have a real F,
and their sine sums are skipped (:func:`centric_at_origin`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["ScattererTypes", "centric_at_origin", "scatterer_types"]

# Atomic numbers in the type keys stay below this (anything the form-factor table holds).
MAX_KEY_Z = 127


@dataclass(frozen=True)
class ScattererTypes:
    """Distinct (element, B) pairs of each crystal.

    Attributes:
        index: (B, N) int64 type of each atom within its crystal (0 for padding, which has occupancy 0).
        numbers: (B, K) int64 atomic number of each type (0 for padding).
        b_iso: (B, K) float B of each type in Å² (0 for padding).
    """

    index: torch.Tensor
    numbers: torch.Tensor
    b_iso: torch.Tensor


def scatterer_types(
    numbers: torch.Tensor, b_iso: torch.Tensor, mask: torch.Tensor, merge: bool = True
) -> ScattererTypes:
    """Group the atoms of each crystal by (atomic number, B).

    Args:
        numbers: (B, N) int64 atomic numbers.
        b_iso: (B, N) float Å².
        mask: (B, N) bool, True for real atoms.
        merge: False gives every atom a type of its own, so that a gradient with respect to one atom's B
            stays that atom's.
    """
    bsz, n = numbers.shape
    device = numbers.device
    if not merge:
        return ScattererTypes(
            torch.arange(n, device=device).expand(bsz, n).clone(),
            torch.where(mask, numbers, torch.zeros_like(numbers)),
            torch.where(mask, b_iso, torch.zeros_like(b_iso)),
        )
    crystal = torch.arange(bsz, device=device).unsqueeze(1).expand(bsz, n)[mask]
    # One integer key per (crystal, Z, B): B values are replaced by their rank among all distinct B values.
    distinct_b, b_rank = torch.unique(b_iso.detach()[mask], return_inverse=True)
    key = (crystal * (MAX_KEY_Z + 1) + numbers[mask]) * len(distinct_b) + b_rank
    unique, inverse = torch.unique(key, return_inverse=True)
    # Keys are sorted by crystal first, so the types of crystal b are a contiguous run of `unique`.
    owner = unique // ((MAX_KEY_Z + 1) * len(distinct_b))
    per_crystal = torch.bincount(owner, minlength=bsz)
    first = torch.cumsum(per_crystal, 0) - per_crystal
    local = torch.arange(len(unique), device=device) - first[owner]
    k = max(int(per_crystal.max()), 1)
    index = torch.zeros(bsz, n, dtype=torch.int64, device=device)
    index[mask] = local[inverse]
    type_numbers = torch.zeros(bsz, k, dtype=torch.int64, device=device)
    type_numbers[owner, local] = (unique // len(distinct_b)) % (MAX_KEY_Z + 1)
    type_b = torch.zeros(bsz, k, dtype=b_iso.dtype, device=device)
    type_b[owner, local] = distinct_b[unique % len(distinct_b)].to(b_iso.dtype)
    return ScattererTypes(index, type_numbers, type_b)


# Reflections at which a crystal's sine sums must vanish for it to count as centric: no zero index and no two
# equal magnitudes (no zone or row absences), and members of every parity class with several sums mod 3 and
# mod 4, so that for each centring (P, A, B, C, I, F, R obverse and reverse) some of them are allowed and
# atoms on special coordinates (1/4, 1/3, ...) of a non-centric structure still show their sine terms.
_TEST_HKL = ((1, 2, 3), (3, -5, 2), (1, 4, 6), (1, 7, 3), (5, -1, 9), (3, -1, 7), (2, 8, 6), (4, -2, 12))


def centric_at_origin(frac_coords: torch.Tensor, occupancy_matrix: torch.Tensor) -> torch.Tensor:
    """Whether each crystal is symmetric under inversion through the origin, tested on its sine sums.

    For such a crystal F(h) is real for every h, because the sine sum of every scatterer type vanishes. The
    test evaluates the sine sums per type at a few generic reflections: they vanish (to rounding) for a
    centric crystal, and can only vanish at all of them for a crystal whose atoms are centric to within
    ~1e-7 of the cell, whose remaining sine terms are then negligible at every reflection of a pattern.

    Args:
        frac_coords: (B, N, 3) fractional coordinates.
        occupancy_matrix: (B, N, K) occupancy of atom n if it has scatterer type k (0 for padding).

    Returns:
        (B,) bool.
    """
    dtype = frac_coords.dtype
    hkl = torch.tensor(_TEST_HKL, dtype=dtype, device=frac_coords.device)
    cycles = torch.einsum("tk,bnk->btn", hkl, frac_coords.detach())
    phase = (2.0 * torch.pi) * (cycles - torch.round(cycles))
    sine = torch.bmm(torch.sin(phase), occupancy_matrix.detach())  # (B, T, K)
    scale = occupancy_matrix.detach().sum(dim=1, keepdim=True)  # (B, 1, K)
    # Rounding of the phases leaves ~1e-7 (float32) per atom; 1e-4 of the type's occupancy is far above it.
    tolerance = (1e-4 if dtype == torch.float32 else 1e-9) * (scale + 1.0)
    return (sine.abs() <= tolerance).all(dim=2).all(dim=1)
