"""What the datasets share: seeds per batch, the partition among ranks and workers, labels, device checks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import get_worker_info

from ..symmetry import CRYSTAL_SYSTEM_OF_GROUP

__all__ = [
    "LABELS",
    "batch_generator",
    "check_labels",
    "check_partition",
    "check_positive_int",
    "check_seed",
    "derive_seed",
    "distributed_snapshot",
    "lattice_parameters",
    "make_labels",
    "partition",
    "resolve_ranks",
    "same_device",
    "stream_indices",
]

#: The label names a dataset can yield, in the order they are documented.
LABELS: tuple[str, ...] = ("space_group", "crystal_system", "lattice_parameters")

# Tags that keep the seed streams of different datasets apart even with the same user seed and index.
STREAM_SYNTHETIC = 0
STREAM_STRUCTURES = 1
STREAM_SHUFFLE = 2
STREAM_SYNTHETIC_POOL = 3


def derive_seed(seed: int, *key: int) -> int:
    """A 64-bit seed from (seed, key...) through numpy's SeedSequence (stable across platforms and runs,
    unlike Python's ``hash``); the key goes into ``spawn_key`` so that it never aliases another seed."""
    words = np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in key)).generate_state(
        2, dtype=np.uint32
    )
    return int(words[0]) | (int(words[1]) << 32)


def batch_generator(device: torch.device, seed: int, *key: int) -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded from (seed, key...)."""
    generator = torch.Generator(device=device)
    generator.manual_seed(derive_seed(seed, *key))
    return generator


def check_labels(labels: Iterable[str]) -> tuple[str, ...]:
    """The label names as a tuple, or a ValueError naming the unknown or repeated ones."""
    if isinstance(labels, str):
        raise ValueError(f"labels must be a sequence of names, got the string {labels!r}")
    try:
        names = tuple(labels)
    except TypeError:
        raise ValueError(f"labels must be a sequence of names from {LABELS}, got {labels!r}") from None
    unknown = [n for n in names if n not in LABELS]
    if unknown:
        raise ValueError(f"unknown label names {unknown}; choose from {LABELS}")
    if len(set(names)) != len(names):
        raise ValueError(f"labels has repeated names: {names}")
    return names


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(
            f"seed must be a non-negative int (datasets derive one generator per batch from it), got {seed!r}"
        )
    return int(seed)


def check_partition(rank: Any, world_size: Any) -> tuple[int | None, int | None]:
    """Validate explicit ``rank`` / ``world_size`` (both or neither)."""
    if (rank is None) != (world_size is None):
        raise ValueError(
            f"give both rank and world_size or neither, got rank={rank!r}, world_size={world_size!r}"
        )
    if rank is None:
        return None, None
    world_size = check_positive_int("world_size", world_size)
    rank = check_positive_int("rank", rank, minimum=0)
    if rank >= world_size:
        raise ValueError(f"rank must be in 0..world_size-1 = 0..{world_size - 1}, got {rank}")
    return rank, world_size


def distributed_snapshot() -> tuple[int, int] | None:
    """(rank, world_size) of the default torch.distributed group, or None when it is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return None


def resolve_ranks(
    rank: int | None, world_size: int | None, snapshot: tuple[int, int] | None
) -> tuple[int, int]:
    """(rank, world_size): explicit arguments first, then torch.distributed in this process, then what it
    was in the process that pickled the dataset (DataLoader workers started by spawn do not inherit the
    process group), else a single process."""
    if rank is not None and world_size is not None:
        return rank, world_size
    live = distributed_snapshot()
    if live is not None:
        return live
    if snapshot is not None:
        return snapshot
    return 0, 1


def partition(rank: int | None, world_size: int | None, snapshot: tuple[int, int] | None) -> tuple[int, int]:
    """(stream, num_streams) of the calling process and DataLoader worker, see :func:`stream_indices`:
    stream = rank + world_size * worker, num_streams = world_size * workers."""
    r, world = resolve_ranks(rank, world_size, snapshot)
    info = get_worker_info()
    worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
    return r + world * worker, world * workers


def stream_indices(first: int, stop: int | None, stream: int, num_streams: int) -> Iterable[int]:
    """The global indices i >= first (and < stop) with i ≡ stream (mod num_streams), in increasing order.

    Rank r of R takes i ≡ r (mod R) whatever the number of workers W, and its worker w the indices
    i ≡ r + R·w (mod R·W) among them; a DataLoader, which takes one batch from each worker in turn, then
    yields the rank's batches in increasing order, and the union over ranks and workers is every index once.
    """
    start = first + (stream - first) % num_streams
    if stop is None:
        return _count(start, num_streams)
    return range(start, stop, num_streams)


def _count(start: int, step: int) -> Iterable[int]:
    i = start
    while True:
        yield i
        i += step


def same_device(a: torch.device, b: torch.device) -> bool:
    """Whether two devices are the same ("cuda" means the current CUDA device)."""

    def index(d: torch.device) -> int | None:
        if d.index is None and d.type == "cuda" and torch.cuda.is_available():
            return torch.cuda.current_device()
        return d.index

    return a.type == b.type and index(a) == index(b)


_CRYSTAL_SYSTEM_OF_GROUP = torch.tensor(CRYSTAL_SYSTEM_OF_GROUP, dtype=torch.int64)


def lattice_parameters(lattice: torch.Tensor) -> torch.Tensor:
    """(B, 6) a, b, c in Å and α, β, γ in degrees of (B, 3, 3) lattices (rows a, b, c), in float64."""
    rows = lattice.to(torch.float64)
    lengths = rows.norm(dim=-1)  # (B, 3)
    a, b, c = rows.unbind(dim=1)

    def angle(u: torch.Tensor, v: torch.Tensor, nu: torch.Tensor, nv: torch.Tensor) -> torch.Tensor:
        # Clamped: round-off can push |cos| a hair above 1 for (nearly) collinear rows.
        return torch.rad2deg(torch.acos(((u * v).sum(-1) / (nu * nv)).clamp(-1.0, 1.0)))

    la, lb, lc = lengths.unbind(dim=1)
    angles = torch.stack([angle(b, c, lb, lc), angle(a, c, la, lc), angle(a, b, la, lb)], dim=1)
    return torch.cat([lengths, angles], dim=1)


def make_labels(
    names: Sequence[str], space_group: torch.Tensor, lattice: torch.Tensor, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """The requested labels of a batch, on the device of ``space_group``.

    Args:
        names: label names from :data:`LABELS`.
        space_group: (B,) int64 space-group numbers 1..230.
        lattice: (B, 3, 3) float lattices in Å, rows a, b, c.
        dtype: floating-point dtype of ``lattice_parameters``.

    Returns:
        ``space_group`` (B,) int64 0..229 (number − 1); ``crystal_system`` (B,) int64 index into
        :data:`xrdsynth.symmetry.CRYSTAL_SYSTEMS`; ``lattice_parameters`` (B, 6) a, b, c (Å), α, β, γ (°).
    """
    out: dict[str, torch.Tensor] = {}
    for name in names:
        if name == "space_group":
            out[name] = space_group.to(torch.int64) - 1
        elif name == "crystal_system":
            out[name] = _CRYSTAL_SYSTEM_OF_GROUP.to(space_group.device)[space_group - 1]
        elif name == "lattice_parameters":
            out[name] = lattice_parameters(lattice).to(dtype=dtype, device=space_group.device)
    return out
