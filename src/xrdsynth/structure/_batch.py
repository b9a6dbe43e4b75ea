"""CrystalBatch: crystals as padded torch tensors, the simulator's input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt
import torch

from ._crystal import Crystal

__all__ = ["CrystalBatch"]


@dataclass(frozen=True, eq=False)
class CrystalBatch:
    """B crystals as padded torch tensors, the input of the simulator.

    Crystal k has ``num_atoms[k]`` atoms in slots ``0..num_atoms[k]-1``; the remaining slots are padding with
    ``mask`` False, atomic number 0 and occupancy 0 (so padding scatters nothing even where the mask is
    ignored), and zero coordinates, B and charge. All tensors are on one device; the floating-point ones
    share one dtype.

    Attributes:
        lattice: (B, 3, 3) float, Å, rows a, b, c.
        frac_coords: (B, Nmax, 3) float, fractional coordinates.
        numbers: (B, Nmax) int64 atomic numbers, 0 for padding.
        occupancies: (B, Nmax) float, 0 for padding.
        b_iso: (B, Nmax) float, Å².
        charges: (B, Nmax) float, formal charges.
        mask: (B, Nmax) bool, True for real atoms.
        space_group: (B,) int64 space-group numbers 1..230.

    The constructor checks shapes, dtypes and devices only (value checks would synchronise with the GPU);
    :meth:`to_crystals` validates values.
    """

    lattice: torch.Tensor
    frac_coords: torch.Tensor
    numbers: torch.Tensor
    occupancies: torch.Tensor
    b_iso: torch.Tensor
    charges: torch.Tensor
    mask: torch.Tensor
    space_group: torch.Tensor

    def __post_init__(self) -> None:
        if self.lattice.ndim != 3 or self.lattice.shape[1:] != (3, 3):
            raise ValueError(f"lattice must have shape (B, 3, 3), got {tuple(self.lattice.shape)}")
        b = self.lattice.shape[0]
        if self.frac_coords.ndim != 3 or self.frac_coords.shape[0] != b or self.frac_coords.shape[2] != 3:
            raise ValueError(
                f"frac_coords must have shape ({b}, Nmax, 3), got {tuple(self.frac_coords.shape)}"
            )
        n = self.frac_coords.shape[1]
        for name in ("numbers", "occupancies", "b_iso", "charges", "mask"):
            shape = tuple(getattr(self, name).shape)
            if shape != (b, n):
                raise ValueError(f"{name} must have shape ({b}, {n}), got {shape}")
        if tuple(self.space_group.shape) != (b,):
            raise ValueError(f"space_group must have shape ({b},), got {tuple(self.space_group.shape)}")
        if not self.lattice.dtype.is_floating_point:
            raise ValueError(f"lattice must be a floating-point tensor, got {self.lattice.dtype}")
        for name in ("frac_coords", "occupancies", "b_iso", "charges"):
            if getattr(self, name).dtype != self.lattice.dtype:
                raise ValueError(
                    f"{name} has dtype {getattr(self, name).dtype}, lattice has {self.lattice.dtype}"
                )
        for name, dtype in (("numbers", torch.int64), ("space_group", torch.int64), ("mask", torch.bool)):
            if getattr(self, name).dtype != dtype:
                raise ValueError(f"{name} must have dtype {dtype}, got {getattr(self, name).dtype}")
        for name in ("frac_coords", "numbers", "occupancies", "b_iso", "charges", "mask", "space_group"):
            if getattr(self, name).device != self.lattice.device:
                raise ValueError(
                    f"{name} is on {getattr(self, name).device}, lattice on {self.lattice.device}"
                )

    @classmethod
    def from_crystals(
        cls,
        crystals: Sequence[Crystal],
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float64,
    ) -> CrystalBatch:
        """Pad crystals into a batch (Nmax = the largest atom count).

        Args:
            crystals: at least one Crystal.
            device: where the tensors live.
            dtype: floating-point dtype of lattice, coordinates, occupancies, B and charges.
        """
        crystals = list(crystals)
        if not crystals:
            raise ValueError("from_crystals needs at least one crystal")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
        b = len(crystals)
        n = max(c.num_atoms for c in crystals)
        frac = np.zeros((b, n, 3))
        numbers = np.zeros((b, n), dtype=np.int64)
        per_atom = {name: np.zeros((b, n)) for name in ("occupancies", "b_iso", "charges")}
        mask = np.zeros((b, n), dtype=bool)
        for k, crystal in enumerate(crystals):
            m = crystal.num_atoms
            frac[k, :m] = crystal.frac_coords
            numbers[k, :m] = crystal.numbers
            for name, array in per_atom.items():
                array[k, :m] = getattr(crystal, name)
            mask[k, :m] = True

        def floats(array: npt.NDArray[np.float64]) -> torch.Tensor:
            return torch.as_tensor(array, dtype=dtype, device=device)

        return cls(
            lattice=floats(np.stack([c.lattice for c in crystals])),
            frac_coords=floats(frac),
            numbers=torch.as_tensor(numbers, device=device),
            occupancies=floats(per_atom["occupancies"]),
            b_iso=floats(per_atom["b_iso"]),
            charges=floats(per_atom["charges"]),
            mask=torch.as_tensor(mask, device=device),
            space_group=torch.tensor([c.space_group for c in crystals], dtype=torch.int64, device=device),
        )

    def to_crystals(self) -> list[Crystal]:
        """One Crystal per batch entry (float64 copies on the CPU); padding is dropped.

        Raises:
            ValueError: an entry is not a valid Crystal (e.g. no atoms, occupancy 0 on a real atom).
        """
        host = self.to(device="cpu", dtype=torch.float64)
        crystals = []
        for k in range(len(host)):
            present = host.mask[k].numpy()
            try:
                crystals.append(
                    Crystal(
                        host.lattice[k].numpy(),
                        host.frac_coords[k].numpy()[present],
                        host.numbers[k].numpy()[present],
                        host.occupancies[k].numpy()[present],
                        host.b_iso[k].numpy()[present],
                        host.charges[k].numpy()[present],
                        int(host.space_group[k]),
                    )
                )
            except ValueError as exc:
                raise ValueError(f"batch entry {k}: {exc}") from None
        return crystals

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> CrystalBatch:
        """A new batch on ``device`` with floating-point tensors in ``dtype`` (None keeps the current one).
        Integer and boolean tensors keep their dtypes."""
        if dtype is not None and not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
        device = self.device if device is None else torch.device(device)
        dtype = self.dtype if dtype is None else dtype
        floats = {
            name: getattr(self, name).to(device=device, dtype=dtype)
            for name in ("lattice", "frac_coords", "occupancies", "b_iso", "charges")
        }
        others = {name: getattr(self, name).to(device=device) for name in ("numbers", "mask", "space_group")}
        return CrystalBatch(**floats, **others)

    def take(self, rows: torch.Tensor) -> CrystalBatch:
        """A new batch of the crystals at ``rows`` ((K,) int64 indices on any device, in any order, repeats
        allowed), on this batch's device; padding stays as wide as this batch's."""
        rows = rows.to(self.device)
        return CrystalBatch(**{f.name: getattr(self, f.name).index_select(0, rows) for f in fields(self)})

    def __len__(self) -> int:
        return int(self.lattice.shape[0])

    @property
    def num_atoms(self) -> torch.Tensor:
        """(B,) int64 number of real atoms per crystal."""
        return self.mask.sum(dim=1)

    @property
    def device(self) -> torch.device:
        """Device of all tensors."""
        return self.lattice.device

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point dtype of lattice, coordinates, occupancies, B and charges."""
        return self.lattice.dtype

    def __repr__(self) -> str:
        return (
            f"CrystalBatch(size={len(self)}, max_atoms={self.frac_coords.shape[1]}, "
            f"dtype={self.dtype}, device={self.device})"
        )
