"""Property checks users can run on their own simulators, pipelines and models.

Each check states a physical or labelling property and raises ``AssertionError`` with a message saying by how
much it fails. They take a callable, so that they apply to a :class:`~xrdsynth.PowderSimulator`, an
:class:`~xrdsynth.transforms.AugmentedSimulator` with its randomness fixed, a trained model composed with a
simulator, or code of your own:

- :func:`assert_origin_shift_invariant`: |F(hkl)| does not depend on the choice of origin, so a powder
  pattern must not change when every atom is moved by the same vector;
- :func:`assert_atom_order_invariant`: the atoms of a crystal are a set, not a list;
- :func:`assert_batch_consistent`: a batched call equals the calls of one crystal each, stacked;
- :func:`assert_space_group_labels`: crystals (sampled, or read) carry the space group spglib finds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..structure import Crystal, CrystalBatch

__all__ = [
    "assert_atom_order_invariant",
    "assert_batch_consistent",
    "assert_origin_shift_invariant",
    "assert_space_group_labels",
]

#: A pattern function: crystals in, (B, P) patterns out.
PatternFunction = Callable[[list[Crystal]], torch.Tensor]


def _as_numpy(patterns: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(patterns, torch.Tensor):
        return patterns.detach().cpu().double().numpy()
    return np.asarray(patterns, dtype=np.float64)


def _assert_close(actual: np.ndarray, expected: np.ndarray, atol: float, what: str) -> None:
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {actual.shape} differs from {expected.shape}")
    scale = np.maximum(np.abs(expected).max(axis=-1, keepdims=True), 1e-300)
    worst = float(np.max(np.abs(actual - expected) / scale, initial=0.0))
    if not worst <= atol:
        raise AssertionError(
            f"{what}: largest difference {worst:.3g} of the pattern maximum (allowed {atol:g})"
        )


def assert_origin_shift_invariant(
    simulate: PatternFunction,
    crystal: Crystal,
    shift: Sequence[float] = (0.1234, -0.3, 0.77),
    atol: float = 1e-6,
) -> None:
    """The pattern of ``crystal`` equals that of the same crystal with every atom moved by ``shift``.

    The shifted crystal is labelled P1 (a shift of origin leaves the atoms' symmetry but not the setting a
    space-group label refers to), so this also checks that the label is not needed for the right pattern.

    Args:
        simulate: crystals -> (B, P) patterns (deterministic: fix sizes and seeds).
        crystal: any crystal.
        shift: (3,) fractional shift.
        atol: allowed difference, relative to each pattern's maximum (1e-6 suits float64; ~1e-4 float32).
    """
    frac = (crystal.frac_coords + np.asarray(shift, dtype=np.float64)) % 1.0
    moved = dataclasses.replace(crystal, frac_coords=frac, space_group=1, setting=None)
    _assert_close(
        _as_numpy(simulate([moved])), _as_numpy(simulate([crystal])), atol, "origin shift changed the pattern"
    )


def assert_atom_order_invariant(
    simulate: PatternFunction, crystal: Crystal, seed: int = 0, atol: float = 1e-6
) -> None:
    """The pattern of ``crystal`` does not depend on the order in which its atoms are listed.

    Args:
        simulate: crystals -> (B, P) patterns (deterministic).
        crystal: any crystal with two or more atoms.
        seed: of the permutation.
        atol: allowed difference, relative to each pattern's maximum.
    """
    order = np.random.default_rng(seed).permutation(crystal.num_atoms)
    shuffled = dataclasses.replace(
        crystal,
        frac_coords=crystal.frac_coords[order],
        numbers=crystal.numbers[order],
        occupancies=crystal.occupancies[order],
        b_iso=crystal.b_iso[order],
        charges=crystal.charges[order],
    )
    _assert_close(
        _as_numpy(simulate([shuffled])),
        _as_numpy(simulate([crystal])),
        atol,
        "atom order changed the pattern",
    )


def assert_batch_consistent(
    simulate: PatternFunction, crystals: Sequence[Crystal], atol: float = 1e-6
) -> None:
    """A call on the whole batch equals the calls on one crystal each, stacked (no pattern leaks into
    another through padding, shared buffers or batch-wide settings).

    Args:
        simulate: crystals -> (B, P) patterns (deterministic per crystal).
        crystals: two or more crystals, ideally of different sizes.
        atol: allowed difference, relative to each pattern's maximum.
    """
    crystals = list(crystals)
    together = _as_numpy(simulate(crystals))
    alone = np.concatenate([_as_numpy(simulate([c])) for c in crystals])
    _assert_close(together, alone, atol, "the batched call differs from single calls")


def assert_space_group_labels(
    crystals: CrystalBatch | Sequence[Crystal], symprec: float = 1e-3, min_share: float = 1.0
) -> None:
    """The space-group label of (at least ``min_share`` of) the crystals is the group spglib finds.

    Args:
        crystals: a CrystalBatch (e.g. from a sampler) or Crystals.
        symprec: spglib's distance tolerance in Å.
        min_share: the share of crystals that must agree (1: all).
    """
    if isinstance(crystals, CrystalBatch):
        crystals = crystals.to_crystals()
    crystals = list(crystals)
    wrong = [
        (k, c.space_group, found)
        for k, c in enumerate(crystals)
        if (found := c.detect_space_group(symprec=symprec)) != c.space_group
    ]
    share = 1.0 - len(wrong) / max(len(crystals), 1)
    if share < min_share:
        examples = ", ".join(f"crystal {k}: label {label}, spglib {found}" for k, label, found in wrong[:5])
        raise AssertionError(
            f"{len(wrong)} of {len(crystals)} labels differ from spglib at symprec {symprec:g} ({examples})"
        )
