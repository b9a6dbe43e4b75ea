"""Scatterer types and the symmetry tests behind the structure factors of a batch of crystals.

F(h) = sum_j occ_j f_j(s) exp(-B_j s^2) exp(2 pi i h.x_j), s = sin(theta)/lambda = |g|/2.

Atoms of one crystal that share an element and a B ("scatterer types") share f(s) exp(-B s^2), so the sum is
taken per type first: S_t(h) = sum_{j in t} occ_j exp(2 pi i h.x_j) is a batched matrix product of the phase
factors with an (atoms x types) occupancy matrix, and F(h) = sum_t f_t(s) S_t(h) (the sums are taken in
``PowderSimulator._structure_factors``). The transcendental work is then one cos and one sin per (reflection,
atom), the rest is matrix algebra.

Two symmetries that hold whatever the space group's setting are found on the atoms themselves
(:func:`lattice_symmetry`) and save most of that work:

- inversion through the origin (x -> -x maps every atom onto one of the same element, occupancy and B: most
  centrosymmetric structures in their usual settings) makes F real, and the sine sums are skipped;
- a centring translation t (A, B, C, I, F, R) makes F(h) = 0 wherever h.t is not an integer, and
  F(h) = n x (the sum over one atom of each orbit of n translated copies) elsewhere: those reflections are
  dropped and the sums run over 1/n of the atoms. Together the two cut the (reflection, atom) pairs of the
  benchmark's 64 amcsd-dev structures from 460,000 to 136,000, and the sine sums to those of 10 crystals.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from ._compile import fused as _fused

__all__ = [
    "CENTRING_TRANSLATIONS",
    "LatticeSymmetry",
    "ScattererTypes",
    "lattice_symmetry",
    "scatterer_types",
]

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


# Test reflections of the symmetry probe: no zero index and no two equal magnitudes (no zone or row absences).
# They hold at least three members of each of the 7 parity classes of hkl, two of each of the 13 classes
# modulo 3 (up to sign), one of each parity class with all indices divisible by 3 and one of each class modulo
# 3 with all indices even, and for each centring translation t below and each other centring (none, F, A, B,
# C, I, R obverse, R reverse) at least three reflections that t forbids and the other allows. So the sums of a
# crystal cannot vanish at all reflections that t forbids unless t is a symmetry, whatever other translations
# it has (centrings, or a supercell's halves, thirds or sixths of the cell: every such group leaves some of
# them allowed); and atoms on special coordinates (1/4, 1/3, ...) of a non-centric structure still show their
# sine terms. Each centring also allows at least three of them (to check the atoms kept, below).
_TEST_HKL = (
    (1, 2, 3), (3, -5, 2), (1, 4, 6), (1, 7, 3), (5, -1, 9), (3, -1, 7), (2, 8, 6), (4, -2, 12),
    (1, -3, 2), (2, -3, 1), (2, -3, -1), (1, 5, -3), (3, -2, 1), (1, -2, -3), (1, -3, -2), (1, -5, -7),
    (1, -4, -2), (1, -4, 2), (2, -4, -1), (2, -4, 1), (2, -1, -4), (2, 1, -4), (2, 1, 4), (3, -5, 1),
    (6, -3, -1), (2, -6, -3), (1, -6, -3), (3, -6, -1), (3, -1, -6), (3, -1, 6),
    (6, -12, -3), (6, -3, -12), (6, -9, -3), (3, -12, -6), (3, -6, -9), (3, -9, -6), (3, -15, -9),
    (6, -12, -2), (6, -2, -12), (6, -4, 2), (6, -4, -2), (2, -12, -6), (2, -6, -4), (2, -6, 4), (2, -4, -6),
    (2, -4, 8), (2, -4, -8), (2, 4, -6), (2, -8, -4), (2, -8, 4),
)  # fmt: skip
# Centring translations: A, B, C, I, R obverse (its double 1/3 2/3 2/3 follows), R reverse. F is A, B and C.
CENTRING_TRANSLATIONS = (
    (0.0, 0.5, 0.5), (0.5, 0.0, 0.5), (0.5, 0.5, 0.0), (0.5, 0.5, 0.5),
    (2.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0), (1.0 / 3.0, 2.0 / 3.0, 1.0 / 3.0),
)  # fmt: skip
# Start of the windows that pick one atom of each centring orbit: an unremarkable fraction, so that atoms on
# the usual special coordinates (0, 1/8, 1/6, 1/4, ...) are far from the window edges.
_WINDOW_START = 0.0371


@dataclass(frozen=True)
class LatticeSymmetry:
    """Inversion through the origin and centring translations of each crystal, as tested on its atoms.

    Attributes:
        centric: (B,) bool, the atoms are symmetric under x -> -x (F(h) is real for every h).
        translations: (B, 6) bool, which of :data:`CENTRING_TRANSLATIONS` map the atoms onto themselves; a
            reflection h with h.t not an integer has F(h) = 0 for such a t.
        centring: (B,) int64 the largest centring those make up, as an index into ``CENTRINGS`` of
            :mod:`._reflections` (``"P"``, ``"A"``, ``"B"``, ``"C"``, ``"I"``, ``"F"``, ``"R_obverse"``,
            ``"R_reverse"``).
        kept: (B, N) bool, the atoms that stand for their orbit under the centring translations (every real
            atom where the crystal is not reduced).
        order: (B,) int64, the number of atoms each kept atom stands for (1, 2, 3 or 4): for every reflection
            that the translations allow, F(h) = order x (the sum over the kept atoms).
    """

    centric: torch.Tensor
    translations: torch.Tensor
    centring: torch.Tensor
    kept: torch.Tensor
    order: torch.Tensor


def _fraction(x: torch.Tensor) -> torch.Tensor:
    return x - torch.floor(x)


@functools.cache
def _probe_tables(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """(3, T) test reflections as columns, and (T, 6) bool whether each centring translation forbids each."""
    hkl = torch.tensor(_TEST_HKL, dtype=torch.float64)
    h_dot_t = hkl @ torch.tensor(CENTRING_TRANSLATIONS, dtype=torch.float64).T  # (T, 6)
    forbids = (h_dot_t - torch.round(h_dot_t)).abs() > 1e-6  # h.t not an integer
    return hkl.T.to(device=device, dtype=dtype), forbids.to(device)


def _in_window(
    frac: torch.Tensor, width_a: torch.Tensor | float, width_b: torch.Tensor | float
) -> torch.Tensor:
    """(A,) bool, whether (A, 3) coordinates fall in the window [s, s + width) along a and along b (mod 1)."""
    along_a = _fraction(frac[:, 0] - _WINDOW_START) < width_a
    return along_a & (_fraction(frac[:, 1] - _WINDOW_START) < width_b)


# Windows that pick one atom of each centring orbit, as widths along a and b: all atoms (P); B, C and I, whose
# translations move atoms by 1/2 along a; A (1/2 along b); F (both); R (1/3 along a).
_WINDOWS = ((1.0, 1.0), (0.5, 1.0), (1.0, 0.5), (0.5, 0.5), (1.0 / 3.0, 1.0))
# The number of atoms in an orbit, for each window: 1 / (width along a x width along b).
_WINDOW_ORDERS = tuple(round(1.0 / (a * b)) for a, b in _WINDOWS)


def lattice_symmetry(
    frac_coords: torch.Tensor,
    occupancies: torch.Tensor,
    type_index: torch.Tensor,
    n_types: int,
    mask: torch.Tensor,
    fuse: bool = False,
) -> LatticeSymmetry:
    """Test each crystal for inversion through the origin and for centring translations, on its sums.

    A symmetry of the atoms shows in the per-type sums S_k(h) = sum_j occ_jk exp(2 pi i h.x_j) at the test
    reflections: inversion through the origin makes every sine part vanish, a translation t makes the whole
    sum vanish wherever h.t is not an integer. Sums vanish (to rounding) for a symmetric crystal, and can only
    vanish at all test reflections for a crystal symmetric to within ~1e-7 of the cell, whose remaining terms
    are then negligible at every reflection of a pattern.

    For the largest centring found (``F``, else ``A``, ``B``, ``C`` or ``I``, else ``R``), one atom of each
    orbit is kept: the one whose coordinates fall in a window of the cell (x in [s, s + 1/2) for ``I``, say).
    The choice is checked in turn: ``order`` times the kept atoms' sums must equal the full sums at the test
    reflections the translations allow, and at h = 0 (the occupancies); a crystal that fails keeps all its
    atoms. Shape letters: B crystals, N atoms per crystal (padded).

    Args:
        frac_coords: (B, N, 3) fractional coordinates.
        occupancies: (B, N) occupancies (anything for padding).
        type_index: (B, N) int64 scatterer type of each atom within its crystal (:func:`scatterer_types`).
        n_types: more than the largest type index.
        mask: (B, N) bool, True for real atoms.
        fuse: evaluate the per-atom terms and the per-crystal decisions with torch.compile.

    Returns:
        The crystals' :class:`LatticeSymmetry`.
    """
    bsz, k = len(mask), n_types
    dtype, device = frac_coords.dtype, frac_coords.device
    # The sums run over the real atoms only, as one flat list (padding would be most of a padded batch).
    crystal, slot = torch.nonzero(mask, as_tuple=True)
    frac = frac_coords.detach()[crystal, slot]  # (A, 3)
    occupancy = occupancies.detach()[crystal, slot].unsqueeze(1)  # (A, 1)
    bucket = crystal * k + type_index[crystal, slot]  # (crystal, type) of each atom
    hkl, forbids = _probe_tables(device, dtype)
    terms = _fused(_probe_terms, fuse)(frac, occupancy, hkl)
    centric, translations, centring, in_window, consistent, order = _probe(
        terms, frac, crystal, bucket, forbids, bsz, k, fuse
    )
    kept = mask.clone()
    kept[crystal, slot] = in_window | ~consistent[crystal]
    return LatticeSymmetry(centric, translations, centring, kept, order)


def _probe_terms(frac: torch.Tensor, occupancy: torch.Tensor, hkl: torch.Tensor) -> torch.Tensor:
    """Per-atom terms of the probe sums, [occ cos 2 pi h.x, occ sin 2 pi h.x, occ] at the test reflections.

    Args:
        frac: (A, 3) fractional coordinates.
        occupancy: (A, 1) occupancies.
        hkl: (3, T) test reflections as columns.

    Returns:
        (A, 2T + 1) terms.
    """
    cycles = frac @ hkl
    phase = (2.0 * torch.pi) * (cycles - torch.round(cycles))
    return torch.cat([torch.cos(phase) * occupancy, torch.sin(phase) * occupancy, occupancy], dim=1)


def _probe(
    terms: torch.Tensor,
    frac: torch.Tensor,
    crystal: torch.Tensor,
    bucket: torch.Tensor,
    forbids: torch.Tensor,
    bsz: int,
    k: int,
    fuse: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The tests of :func:`lattice_symmetry` on a flat list of A atoms.

    Args:
        terms: (A, 2T + 1) from :func:`_probe_terms`.
        frac: (A, 3) fractional coordinates.
        crystal: (A,) int64 crystal of each atom.
        bucket: (A,) int64 crystal x k + type of each atom.
        forbids: (T, 6) bool, whether each centring translation forbids each test reflection.
        bsz: number of crystals.
        k: number of scatterer types per crystal.
        fuse: run the per-crystal decisions with torch.compile.

    Returns:
        centric (B,), translations (B, 6), centring (B,) code, in_window (A,) whether each atom is kept,
        consistent (B,) whether the kept atoms passed the check, order (B,) the orbit size (1 if not).
    """

    def per_type(values: torch.Tensor) -> torch.Tensor:  # (A, C) -> (B, K, C) sums per crystal and type
        return values.new_zeros(bsz * k, values.shape[1]).index_add_(0, bucket, values).view(bsz, k, -1)

    # The scatter-adds run eagerly (compiled, they become slow atomic loops); the decisions in between fused.
    sums = per_type(terms)
    centric, translations, centring, window, order, allowed, tolerance = _fused(_centring_of_sums, fuse)(
        sums, forbids
    )
    widths = _WINDOW_TABLE.to(frac.device, frac.dtype)[window[crystal]]
    in_window = _in_window(frac, widths[:, 0], widths[:, 1])
    # The kept atoms' sums, times the orbit size, must be the full sums.
    weight = (in_window * order[crystal]).to(frac.dtype).unsqueeze(1)
    consistent, order = _kept_atoms_agree(per_type(terms * weight), sums, tolerance, allowed, order)
    return centric, translations, centring, in_window, consistent, order


_WINDOW_TABLE = torch.tensor(_WINDOWS, dtype=torch.float64)


def _centring_of_sums(
    sums: torch.Tensor, forbids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inversion and centring of each crystal from its (B, K, 2T + 1) sums [cos, sin, occupancy] per type
    at the test reflections ((T, 6) ``forbids``): centric (B,), translations (B, 6), centring code (B,), the
    window that keeps one atom per orbit (B,) as an index into :data:`_WINDOWS`, the orbit size (B,), the
    test reflections the centring allows (B, T) and the tolerance of the sums (B, K, 1)."""
    t = forbids.shape[0]
    real, imaginary, scale = sums[..., :t], sums[..., t : 2 * t], sums[..., 2 * t :]
    # Rounding of the phases leaves ~1e-7 (float32) per atom; 1e-4 of the type's occupancy is far above it.
    tolerance = (1e-4 if sums.dtype == torch.float32 else 1e-9) * (scale + 1.0)  # (B, K, 1)
    centric = (imaginary.abs() <= tolerance).all(dim=2).all(dim=1)
    vanishes = ((real.abs() <= tolerance) & (imaginary.abs() <= tolerance)).all(dim=1)  # (B, T)
    translations = (vanishes.unsqueeze(2) | ~forbids).all(dim=1)  # (B, 6)

    # The centring used to drop atoms (first of F, A, B, C, I, R), its window and the translations it holds.
    a_, b_, c_, i_, obverse, reverse = translations.unbind(1)
    face = a_ & b_ & c_
    used = torch.stack(
        [
            a_,
            face | (~a_ & b_),
            face | (~a_ & ~b_ & c_),
            ~a_ & ~b_ & ~c_ & i_,
            ~(a_ | b_ | c_ | i_) & obverse,
            ~(a_ | b_ | c_ | i_ | obverse) & reverse,
        ],
        dim=1,
    )
    # Codes as in CENTRINGS of _reflections: 0 P, 1 A, 2 B, 3 C, 4 I, 5 F, 6 R obverse, 7 R reverse; the
    # windows and orbit sizes as in _WINDOWS. First match in the order F, A, B, C, I, R obverse, R reverse.
    choices = torch.stack([face, *used.unbind(1)], dim=1).to(torch.int64)
    found = choices.amax(dim=1) > 0
    first = choices.argmax(dim=1)
    codes = torch.where(first == 0, 5, torch.where(first <= 4, first, first + 1))
    centring = torch.where(found, codes, 0)
    windows = torch.where(first == 0, 3, torch.where(first == 1, 2, torch.where(first <= 4, 1, 4)))
    window = torch.where(found, windows, 0)
    order = torch.tensor(_WINDOW_ORDERS, device=window.device)[window]
    allowed = ~(used.unsqueeze(1) & forbids).any(dim=2)  # (B, T): the test reflections the centring allows
    return centric, translations, centring, window, order, allowed, tolerance


def _kept_atoms_agree(
    kept_sums: torch.Tensor,
    sums: torch.Tensor,
    tolerance: torch.Tensor,
    allowed: torch.Tensor,
    order: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Whether the kept atoms' sums (times the orbit size) equal the full sums at the test reflections the
    centring allows and at h = 0, (B,); and the orbit size, 1 where they do not."""
    t = allowed.shape[1]
    agree = ((kept_sums - sums).abs() <= tolerance).all(dim=1)  # (B, 2T + 1)
    consistent = ((agree[:, :t] & agree[:, t : 2 * t]) | ~allowed).all(dim=1) & agree[:, -1]
    return consistent, torch.where(consistent, order, torch.ones_like(order))


def no_lattice_symmetry(mask: torch.Tensor) -> LatticeSymmetry:
    """The symmetry found on no crystal: every crystal of the (B, N) ``mask`` as P1 without inversion, every
    real atom kept with order 1. The structure-factor sums then take the general path (what
    ``PowderSimulator(symmetry_shortcuts=False)`` does)."""
    bsz = len(mask)
    device = mask.device
    return LatticeSymmetry(
        torch.zeros(bsz, dtype=torch.bool, device=device),
        torch.zeros(bsz, len(CENTRING_TRANSLATIONS), dtype=torch.bool, device=device),
        torch.zeros(bsz, dtype=torch.int64, device=device),
        mask,
        torch.ones(bsz, dtype=torch.int64, device=device),
    )
