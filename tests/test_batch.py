"""CrystalBatch: padding, masks, dtype/device moves and the round trip through Crystal objects."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import xrdsynth as xs
from xrdsynth import examples


@pytest.fixture(scope="module")
def crystals() -> list[xs.Crystal]:
    """The bundled examples (9, 12 and 12 atoms) plus a one-atom crystal with B and a charge."""
    found = [xs.Crystal.from_cif(examples.cif_path(name)) for name in examples.names()]
    found.append(
        xs.Crystal(np.eye(3) * 3.6, [[0.0, 0.0, 0.0]], [29], b_iso=[0.55], charges=[1.0], space_group=225)
    )
    return found


def test_round_trip_through_the_batch(crystals: list[xs.Crystal], device: str) -> None:
    batch = xs.CrystalBatch.from_crystals(crystals, device=device)
    restored = batch.to_crystals()
    assert len(restored) == len(crystals)
    for original, back in zip(crystals, restored, strict=True):
        assert back.allclose(original, atol=1e-12)


def test_shapes_padding_and_mask(crystals: list[xs.Crystal], device: str) -> None:
    batch = xs.CrystalBatch.from_crystals(crystals, device=device)
    counts = [c.num_atoms for c in crystals]
    b, n = len(crystals), max(counts)
    assert len(batch) == b
    assert batch.lattice.shape == (b, 3, 3)
    assert batch.frac_coords.shape == (b, n, 3)
    for name in ("numbers", "occupancies", "b_iso", "charges", "mask"):
        assert getattr(batch, name).shape == (b, n)
    assert batch.space_group.tolist() == [c.space_group for c in crystals]
    assert batch.num_atoms.tolist() == counts
    assert batch.numbers.dtype == batch.space_group.dtype == torch.int64
    assert batch.mask.dtype == torch.bool
    assert batch.device.type == torch.device(device).type
    padding = ~batch.mask
    assert padding.sum().item() == b * n - sum(counts)
    # Padding scatters nothing even where the mask is ignored.
    assert torch.all(batch.numbers[padding] == 0)
    assert torch.all(batch.occupancies[padding] == 0)
    assert torch.all(batch.frac_coords[padding] == 0)
    # Real atoms come first, in the crystal's order.
    for k, crystal in enumerate(crystals):
        assert batch.mask[k, : crystal.num_atoms].all()
        np.testing.assert_array_equal(batch.numbers[k, : crystal.num_atoms].cpu().numpy(), crystal.numbers)


def test_to_changes_float_dtype_only(crystals: list[xs.Crystal], device: str) -> None:
    batch = xs.CrystalBatch.from_crystals(crystals, device=device)
    single = batch.to(dtype=torch.float32)
    assert single is not batch
    for name in ("lattice", "frac_coords", "occupancies", "b_iso", "charges"):
        assert getattr(single, name).dtype == torch.float32
    assert single.dtype == torch.float32
    assert single.numbers.dtype == torch.int64 and single.mask.dtype == torch.bool
    assert batch.dtype == torch.float64  # the original is unchanged
    back = single.to_crystals()
    for original, restored in zip(crystals, back, strict=True):
        assert restored.allclose(original, atol=1e-5)
    on_cpu = batch.to(device="cpu")
    assert on_cpu.device.type == "cpu"
    assert torch.equal(on_cpu.numbers, batch.numbers.cpu())


def test_from_crystals_in_float32(crystals: list[xs.Crystal]) -> None:
    batch = xs.CrystalBatch.from_crystals(crystals, dtype=torch.float32)
    assert batch.lattice.dtype == torch.float32
    torch.testing.assert_close(
        batch.lattice, torch.tensor(np.stack([c.lattice for c in crystals]), dtype=torch.float32)
    )


def test_a_batch_of_one_equals_the_same_crystal_in_a_larger_batch(crystals: list[xs.Crystal]) -> None:
    alone = xs.CrystalBatch.from_crystals(crystals[:1])
    together = xs.CrystalBatch.from_crystals(crystals)
    m = crystals[0].num_atoms
    assert torch.equal(alone.frac_coords[0, :m], together.frac_coords[0, :m])
    assert torch.equal(alone.lattice[0], together.lattice[0])


def test_take_selects_reorders_and_repeats_crystals(crystals: list[xs.Crystal], device: str) -> None:
    batch = xs.CrystalBatch.from_crystals(crystals, device=device)
    taken = batch.take(torch.tensor([3, 0, 0]))
    assert len(taken) == 3 and taken.device == batch.device and taken.dtype == batch.dtype
    for back, original in zip(taken.to_crystals(), [crystals[3], crystals[0], crystals[0]], strict=True):
        assert back.allclose(original, atol=1e-12)


def test_bad_batches_raise_value_errors(crystals: list[xs.Crystal]) -> None:
    with pytest.raises(ValueError, match="at least one crystal"):
        xs.CrystalBatch.from_crystals([])
    with pytest.raises(ValueError, match="floating-point"):
        xs.CrystalBatch.from_crystals(crystals, dtype=torch.int32)
    batch = xs.CrystalBatch.from_crystals(crystals)
    with pytest.raises(ValueError, match="mask must have shape"):
        dataclasses.replace(batch, mask=batch.mask[:, :-1])
    with pytest.raises(ValueError, match="numbers must have dtype"):
        dataclasses.replace(batch, numbers=batch.numbers.to(torch.int32))
    with pytest.raises(ValueError, match="occupancies has dtype"):
        dataclasses.replace(batch, occupancies=batch.occupancies.float())
    with pytest.raises(ValueError, match="space_group must have shape"):
        dataclasses.replace(batch, space_group=batch.space_group[:1])
    # A real atom with occupancy 0 is not a valid crystal; to_crystals says which entry.
    occupancies = batch.occupancies.clone()
    occupancies[1, 0] = 0.0
    with pytest.raises(ValueError, match="batch entry 1"):
        dataclasses.replace(batch, occupancies=occupancies).to_crystals()
