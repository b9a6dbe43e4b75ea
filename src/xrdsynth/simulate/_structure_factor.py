"""The structure-factor engine: ``|F(hkl)|²`` of every reflection of a batch of crystals.

F(h) = sum_j occ_j f_j(s) exp(-B_j s^2) exp(2 pi i h.x_j), s = sin(theta)/lambda = ``|g|``/2.

Atoms of one crystal that share an element and a B ("scatterer types", :func:`scatterer_types`) share
f(s) exp(-B s^2), so the sum is taken per type first: S_t(h) = sum_{j in t} occ_j exp(2 pi i h.x_j) is a
batched matrix product of the phase factors with an (atoms x types) occupancy matrix, and
F(h) = sum_t f_t(s) S_t(h). The transcendental work is then one cos and one sin per (reflection, atom), the
rest is matrix algebra. Inversion through the origin and centring translations found on the atoms
(:func:`lattice_symmetry`, in :mod:`._lattice_symmetry`) skip the sine sums and the atoms a centring repeats;
``symmetry_shortcuts=False`` turns that off (same patterns, slower).

Everything F(hkl) is made of lives here: a change of the physics of the structure factor is a change of this
module only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..structure import CrystalBatch
from ._compile import fused
from ._form_factors import form_factors
from ._lattice_symmetry import (
    LatticeSymmetry,
    ScattererTypes,
    lattice_symmetry,
    no_lattice_symmetry,
    scatterer_types,
)
from ._reflections import Reflections

__all__ = ["Atoms", "plan_chunks", "scattering_factors", "structure_factors_squared"]


@dataclass(frozen=True)
class Atoms:
    """The atoms of a batch as the structure-factor sums see them.

    Attributes:
        frac_coords: (B, N, 3) fractional coordinates.
        types: the crystals' scatterer types.
        occupancy_matrix: (B, N, K) occupancy of atom n if it has type k (0 for padding).
        symmetry: inversion and centring of each crystal, or None when gradients are wanted (a gradient step
            breaks every symmetry, so every atom and every reflection is kept).
    """

    frac_coords: torch.Tensor
    types: ScattererTypes
    occupancy_matrix: torch.Tensor
    symmetry: LatticeSymmetry | None

    @classmethod
    def of(cls, batch: CrystalBatch, fuse: bool = False, symmetry_shortcuts: bool = True) -> Atoms:
        """The atoms of ``batch``; ``symmetry_shortcuts=False`` treats every crystal as P1 without inversion
        (every atom summed, sine sums for all; the patterns are the same, only slower)."""
        wants_grad = torch.is_grad_enabled() and any(
            t.requires_grad for t in (batch.frac_coords, batch.occupancies, batch.b_iso)
        )
        types = scatterer_types(batch.numbers, batch.b_iso, batch.mask, merge=not batch.b_iso.requires_grad)
        one_hot = torch.nn.functional.one_hot(types.index, types.numbers.shape[1]).to(batch.dtype)
        occupancy_matrix = one_hot * (batch.occupancies * batch.mask).unsqueeze(-1)
        symmetry = None
        if not wants_grad and not symmetry_shortcuts:
            symmetry = no_lattice_symmetry(batch.mask)
        elif not wants_grad:
            symmetry = lattice_symmetry(
                batch.frac_coords, batch.occupancies, types.index, types.numbers.shape[1], batch.mask, fuse
            )
        return cls(batch.frac_coords, types, occupancy_matrix, symmetry)

    def representatives(self) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """(B, M, 3) coordinates and (B, M, K) occupancies (times the orbit size) of the atoms that stand for
        their centring orbit, first in each crystal, and (B,) their number per crystal."""
        if self.symmetry is None:  # every atom, padding included
            bsz, n = self.frac_coords.shape[:2]
            return self.frac_coords, self.occupancy_matrix, np.full(bsz, n)
        kept, order = self.symmetry.kept, self.symmetry.order
        counts = kept.sum(dim=1)
        m = max(int(counts.max()), 1)
        # A stable sort puts each crystal's kept atoms first, in their order; the rest is cut off or padding.
        first = torch.argsort((~kept).to(torch.int8), dim=1, stable=True)[:, :m]
        frac = torch.gather(self.frac_coords, 1, first.unsqueeze(-1).expand(-1, -1, 3))
        k = self.occupancy_matrix.shape[2]
        occupancy = torch.gather(self.occupancy_matrix, 1, first.unsqueeze(-1).expand(-1, -1, k))
        weight = (torch.gather(kept, 1, first) * order.unsqueeze(1)).to(occupancy.dtype)
        return frac, occupancy * weight.unsqueeze(-1), counts.cpu().numpy()


def structure_factors_squared(
    atoms: Atoms,
    refl: Reflections,
    s2: torch.Tensor,
    form_factor_table: torch.Tensor,
    max_chunk_elements: int = 2**21,
    fuse: bool = False,
) -> torch.Tensor:
    """``|F(hkl)|²`` of every reflection, in electrons².

    Args:
        atoms: the batch's atoms as the sums see them (:meth:`Atoms.of`).
        refl: (R,) reflections of the batch.
        s2: (R,) (sinθ/λ)² = 1/(4d²) in 1/Å², in the atoms' float dtype.
        form_factor_table: (Z + 1, 9) IT92 coefficients (:func:`form_factor_table`), row Z for element Z.
        max_chunk_elements: most padded (reflection, atom) pairs per chunk of the sums (memory bound).
        fuse: compile the per-point stages (:func:`._compile.fused`).

    Returns:
        (R,) ``|F|²`` in the atoms' dtype.

    The scattering factors f(s) exp(-B s^2) are evaluated once for all (reflection, type) pairs; the
    phase sums, the only part that grows with reflections x atoms, run over the atoms that stand for
    their centring orbit (:func:`lattice_symmetry`) in padded chunks of 32-row pieces of crystals with
    similar atom counts (bounded memory, :func:`plan_chunks`). A chunk is a handful of tensor operations
    whatever its size, so the cost of a call is the phase work plus a small fixed cost per chunk.
    """
    dtype, device = atoms.frac_coords.dtype, refl.hkl.device
    types = atoms.types
    k = types.numbers.shape[1]
    # f(s) exp(-B s^2) of each reflection for each scatterer type of its crystal: (R, K), evaluated only
    # where the crystal has that type (most crystals have fewer types than the batch's most).
    rows, columns = torch.nonzero(types.numbers[refl.crystal] > 0, as_tuple=True)
    values = fused(scattering_factors, fuse)(
        form_factor_table.to(dtype)[types.numbers],
        types.b_iso.to(dtype),
        refl.crystal,
        s2,
        rows,
        columns,
    )
    scattering = s2.new_zeros(len(s2), k).index_put((rows, columns), values)
    frac, occupancy_matrix, atom_counts = atoms.representatives()
    # Phase sums sum_j occ_j cos/sin(2 pi h.x_j) per type; row R of the sums is a sink for padding rows.
    n_rows = len(refl.hkl)
    budget = max_chunk_elements
    two_pi_hkl = torch.cat([refl.hkl.to(dtype), refl.hkl.new_zeros(1, 3, dtype=dtype)]) * (2.0 * math.pi)
    cos_sums = torch.zeros(n_rows + 1, k, dtype=dtype, device=device)
    sin_sums = torch.zeros(n_rows + 1, k, dtype=dtype, device=device)
    counts = refl.counts.cpu().numpy()
    offsets = refl.first_rows()
    steps = np.arange(_PIECE_ROWS)
    centric_np = np.zeros(len(counts), dtype=bool)
    if atoms.symmetry is not None:
        centric_np = atoms.symmetry.centric.cpu().numpy()
    for centric in (True, False):
        # Centric and general crystals go in separate chunks: the first need no sine sum.
        plan = plan_chunks(np.where(centric_np == centric, counts, 0), atom_counts, budget)
        for crystals, starts, n_max in plan:
            # (C, _PIECE_ROWS) reflection rows of each piece, rows past a crystal's end at the sink row.
            local = starts[:, None] + steps
            rows_np = np.where(
                local < counts[crystals][:, None], offsets[crystals][:, None] + local, n_rows
            )
            rows = torch.from_numpy(rows_np).to(device)
            index = torch.from_numpy(crystals).to(device)
            # 2 pi h.x as one batched product; float32 keeps ~1e-5 rad for |h.x| up to ~100 cycles.
            phase = torch.bmm(two_pi_hkl[rows], frac[index, :n_max].transpose(1, 2))
            occupancy = occupancy_matrix[index, :n_max]
            cos_sums = cos_sums.index_put((rows,), torch.bmm(torch.cos(phase), occupancy))
            if not centric:
                sin_sums = sin_sums.index_put((rows,), torch.bmm(torch.sin(phase), occupancy))
    real_part = (cos_sums[:n_rows] * scattering).sum(-1)
    imaginary = (sin_sums[:n_rows] * scattering).sum(-1)
    return real_part * real_part + imaginary * imaginary


def scattering_factors(
    coefficients: torch.Tensor,
    b_iso: torch.Tensor,
    crystal: torch.Tensor,
    s2: torch.Tensor,
    rows: torch.Tensor,
    columns: torch.Tensor,
) -> torch.Tensor:
    """f(s) exp(-b_iso s²) of (reflection, scatterer type) pairs, each type one of its reflection's crystal.

    Shape letters: B crystals of the batch, K scatterer types per crystal, R reflections, E evaluated pairs.

    Args:
        coefficients: (B, K, 9) IT92 coefficients of each crystal's types.
        b_iso: (B, K) their isotropic displacement parameters in Å².
        crystal: (R,) int64 crystal of each reflection.
        s2: (R,) (sinθ/λ)² in 1/Å².
        rows: (E,) int64 reflection and columns: (E,) int64 type of each pair to evaluate.

    Returns:
        (E,) scattering factors in electrons.
    """
    owner = crystal[rows]
    s2p = s2[rows]
    return form_factors(coefficients[owner, columns], s2p) * torch.exp(-b_iso[owner, columns] * s2p)


# Reflections of one crystal go into pieces of this many rows; a chunk of the structure-factor sum is a batch
# of pieces, padded to its largest atom count (and the last piece of each crystal to this many rows).
_PIECE_ROWS = 32
# A chunk costs a fixed overhead of about this many (reflection, atom) products in kernel launches; a chunk
# is closed when padding the next crystal to the chunk's atom count would waste more than that and more than
# _CHUNK_WASTE - 1 of the useful work.
_CHUNK_OVERHEAD = 20_000
_CHUNK_WASTE = 1.15


def plan_chunks(
    counts: np.ndarray, atoms: np.ndarray, budget: int
) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Plan the padded chunks of the structure-factor sum.

    Crystals are taken by decreasing atom count, their reflections cut into pieces of ``_PIECE_ROWS`` rows,
    and consecutive pieces form a chunk while pieces x rows x the chunk's most atoms stays within ``budget``
    and the padding stays small.

    Args:
        counts: (B,) number of reflections of each crystal (0: not in this sum).
        atoms: (B,) number of atoms of each crystal.
        budget: most padded (reflection, atom) pairs per chunk.

    Returns:
        Per chunk: (C,) int64 crystal of each piece, (C,) int64 first row of each piece within its crystal's
        reflections, and the chunk's atom count.
    """
    rows = _PIECE_ROWS
    chunks: list[tuple[np.ndarray, np.ndarray, int]] = []
    crystals: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    pieces = n_max = useful = 0

    def close() -> None:
        if crystals:
            chunks.append((np.concatenate(crystals), np.concatenate(starts), n_max))
            crystals.clear()
            starts.clear()

    for c in np.argsort(-atoms, kind="stable"):
        n_rows, n = int(counts[c]), int(atoms[c])
        if n_rows == 0:
            continue
        first = np.arange(0, n_rows, rows)
        if crystals:
            padded = (pieces + len(first)) * rows * n_max
            work = useful + n_rows * n
            if padded > budget or padded > max(_CHUNK_WASTE * work, work + _CHUNK_OVERHEAD):
                close()
        if not crystals:
            pieces, n_max, useful = 0, max(n, 1), 0
        # A crystal too large for one chunk is split over several.
        while pieces + len(first) > max(budget // (rows * n_max), 1):
            take = max(budget // (rows * n_max), 1) - pieces
            crystals.append(np.full(take, c, dtype=np.int64))
            starts.append(first[:take])
            first = first[take:]
            close()
            pieces, n_max, useful = 0, max(n, 1), 0
        crystals.append(np.full(len(first), c, dtype=np.int64))
        starts.append(first)
        pieces += len(first)
        useful += n_rows * n
    close()
    return chunks
