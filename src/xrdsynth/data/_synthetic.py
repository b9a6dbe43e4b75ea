"""SyntheticPowderDataset: an endless (or counted) stream of batches of patterns of sampled crystals."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import IterableDataset

from ..sampler import SpaceGroupSampler
from ..simulate import PowderSimulator
from ..structure import Crystal, CrystalBatch
from ._common import (
    LABELS,
    STREAM_SYNTHETIC,
    STREAM_SYNTHETIC_POOL,
    batch_generator,
    check_labels,
    check_partition,
    check_positive_int,
    check_seed,
    distributed_snapshot,
    make_labels,
    partition,
    resolve_ranks,
    same_device,
    stream_indices,
)

__all__ = ["SyntheticPowderDataset"]

Batch = tuple[torch.Tensor, dict[str, torch.Tensor]]

#: Rounds of redrawing the crystals whose pattern is all zero or not finite before giving up.
MAX_PATTERN_REDRAWS = 10
# The simulator's warning for such patterns: the dataset redraws those crystals, so it is not shown.
_EMPTY_PATTERN_WARNING = r".*have no reflection in the 2θ range"


class SyntheticPowderDataset(IterableDataset[Batch]):
    """Batches of powder patterns of freshly sampled crystals, with their labels, for training.

    Batch ``i`` (its *global index*) is made by a generator of its own, seeded from ``(seed, i)`` through
    :class:`numpy.random.SeedSequence`, so it is the same in every run, process and worker, and two indices
    never share crystals or instrument parameters::

        g = <two torch.Generators on the sampler's device, seeded from (seed, i)>
        patterns = simulator(sampler.sample(batch_size, generator=g[0]), generator=g[1])

    The sampler's and simulator's own random streams are not used (and do not advance).

    With ``crystal_reuse`` r > 1 a batch holds ⌈batch_size / r⌉ sampled crystals, each simulated r times in a
    row with its own draws of everything the simulator randomises (crystallite sizes, and with a
    :func:`~xrdsynth.transforms.preset` simulator the instrument, texture, shifts, background, noise, ...):
    *repeated augmentation*, which divides the sampler's share of the cost by r where sampling, not the
    simulation, is the expensive part (the realistic sampler's crystals cost about 4 ms each on a CPU core).

    No pattern is all zero or non-finite: a crystal whose pattern is (a cell too small for any reflection
    to reach the grid, all reflections extinct, or a scan truncated past its last peak) is redrawn, of
    the same space group, from generators seeded from ``(seed, i, round)``, and simulated again, at most
    ``MAX_PATTERN_REDRAWS`` rounds (then RuntimeError). ``pattern_redraws`` counts them in this process.

    Under a :class:`~torch.utils.data.DataLoader` (use ``batch_size=None``: the dataset batches) and
    torch.distributed, the global indices are split: rank r of R takes the indices i ≡ r (mod R) whatever
    the number of workers, and its worker w of W those with i ≡ r + R·w (mod R·W). The batches of all ranks
    and workers together are therefore exactly the single-process sequence, each once, and a DataLoader
    yields a rank's batches in increasing index order. R and r come from ``rank`` / ``world_size`` when
    given, else from the initialised default process group, else a single process. With a ``num_batches``
    that the world size does not divide, ranks get counts that differ by one: a DDP loop that runs each
    rank to exhaustion needs a multiple of the world size.

    Args:
        sampler: draws the crystals (its ``space_groups`` etc. apply).
        simulator: simulates the patterns (a PowderSimulator, or any module called like one,
            ``simulator(batch, generator=g)``, with a ``device``); must be on the sampler's device.
        batch_size: patterns per batch.
        num_batches: batches in an epoch over all ranks and workers together (global indices
            ``0 .. num_batches-1``); None for an endless stream.
        seed: non-negative int from which every batch's generator is derived.
        labels: which labels to yield, from :data:`LABELS`.
        device: where the yielded patterns and labels go; None keeps them on the simulator's device.
        start_batch: first global index to yield (to resume a run after ``start_batch`` batches); the
            skipped batches are not generated.
        rank, world_size: the partition among processes, overriding torch.distributed (both or neither).
        crystal_reuse: patterns made from each sampled crystal in a batch (1: every pattern its own
            crystal); at most ``batch_size``.
        crystal_pool: batches whose crystals are sampled in one call (1: each batch samples its own).
            With k > 1 the crystals of batches ``k·p .. k·p + k − 1`` come from one call of the sampler,
            seeded from ``(seed, p)``, split in order: the same distribution, but not the crystals of
            ``crystal_pool=1``. The torch operator calls of one call of the sampler grow slowly with its
            size (115,000 for 256 crystals, 160,000 for 1,024): on a GPU, where each launches kernels,
            large calls are what make it fast (on an H200 a call for 16,384 crystals took about 5 s, one
            for 256 about 2 s); on a CPU it gains little. Each process keeps the last pool; DataLoader
            workers each sample the pools of their batches (meant for ``num_workers=0`` on a GPU).

    Yields:
        ``(patterns, labels)``: patterns (batch_size, P) in the simulator's dtype, maximum 1 per pattern;
        labels a dict with the requested entries among ``space_group`` (batch_size,) int64 in 0..229 (the
        group number − 1), ``crystal_system`` (batch_size,) int64 index into
        :data:`xrdsynth.symmetry.CRYSTAL_SYSTEMS`, ``lattice_parameters`` (batch_size, 6) a, b, c in Å and
        α, β, γ in degrees, in the simulator's dtype.

    Example:
        >>> ds = SyntheticPowderDataset(SpaceGroupSampler(), PowderSimulator(), batch_size=256)
        >>> loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=8)
        >>> for patterns, labels in loader: ...   # patterns (256, 8501), labels["space_group"] (256,)
    """

    def __init__(
        self,
        sampler: SpaceGroupSampler,
        simulator: PowderSimulator,
        batch_size: int = 256,
        num_batches: int | None = None,
        seed: int = 0,
        labels: Iterable[str] = LABELS,
        device: str | torch.device | None = None,
        *,
        start_batch: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        crystal_reuse: int = 1,
        crystal_pool: int = 1,
    ) -> None:
        if not isinstance(sampler, SpaceGroupSampler):
            raise ValueError(f"sampler must be a SpaceGroupSampler, got {type(sampler).__name__}")
        # Any module called like a PowderSimulator (batch, generator=...) with a .device will do, e.g. a
        # mixture that picks one of several simulators per batch.
        if not isinstance(simulator, torch.nn.Module) or not hasattr(simulator, "device"):
            raise ValueError(f"simulator must be a PowderSimulator, got {type(simulator).__name__}")
        if not same_device(sampler.device, simulator.device):
            raise ValueError(
                f"sampler and simulator must be on the same device, got {sampler.device} and "
                f"{simulator.device} (build both with the same device=...)"
            )
        self.sampler = sampler
        self.simulator = simulator
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.num_batches = None if num_batches is None else check_positive_int("num_batches", num_batches)
        self.seed = check_seed(seed)
        self.labels = check_labels(labels)
        self.device = None if device is None else torch.device(device)
        self.start_batch = check_positive_int("start_batch", start_batch, minimum=0)
        if self.num_batches is not None and self.start_batch > self.num_batches:
            raise ValueError(f"start_batch={start_batch} is beyond num_batches={num_batches}")
        self.rank, self.world_size = check_partition(rank, world_size)
        self.crystal_reuse = check_positive_int("crystal_reuse", crystal_reuse)
        if self.crystal_reuse > self.batch_size:
            raise ValueError(f"crystal_reuse={crystal_reuse} is more than batch_size={batch_size}")
        self.crystal_pool = check_positive_int("crystal_pool", crystal_pool)
        self._pool: tuple[int, CrystalBatch] | None = None
        self._distributed: tuple[int, int] | None = None
        #: Crystals redrawn (in this process) because their pattern was all zero or not finite.
        self.pattern_redraws = 0

    def __repr__(self) -> str:
        parts = [
            f"batch_size={self.batch_size}",
            f"num_batches={self.num_batches}",
            f"seed={self.seed}",
            f"labels={self.labels}",
        ]
        if self.device is not None:
            parts.append(f"device={str(self.device)!r}")
        if self.start_batch:
            parts.append(f"start_batch={self.start_batch}")
        if self.crystal_reuse > 1:
            parts.append(f"crystal_reuse={self.crystal_reuse}")
        if self.crystal_pool > 1:
            parts.append(f"crystal_pool={self.crystal_pool}")
        if self.rank is not None:
            parts.append(f"rank={self.rank}, world_size={self.world_size}")
        simulator = repr(self.simulator).replace("\n", " ")
        parts += [f"\n  sampler={self.sampler!r}", f"\n  simulator={simulator}"]
        return f"SyntheticPowderDataset({', '.join(parts)})"

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers started by spawn/forkserver get a pickled copy and no process group: the
        # rank of the process that pickled the dataset travels with it.
        state = self.__dict__.copy()
        state["_distributed"] = distributed_snapshot() or self._distributed
        state["_pool"] = None
        return state

    def crystal_batch(self, index: int) -> CrystalBatch:
        """The crystals of the batch with global index ``index``, on the sampler's device (to inspect them:
        ``.to_crystals()``). The batch is simulated too, to know which crystals (if any) had to be redrawn
        because their pattern was empty."""
        return self._crystals_and_patterns(index)[0]

    def _crystals_and_patterns(self, index: int) -> tuple[CrystalBatch, torch.Tensor]:
        index = check_positive_int("index", index, minimum=0)
        if self.num_batches is not None and index >= self.num_batches:
            raise IndexError(f"batch index {index} out of range for num_batches={self.num_batches}")
        reuse = self.crystal_reuse
        crystals = self._sample(index, -(-self.batch_size // reuse))
        if reuse > 1:
            crystals = _repeat_rows(crystals, reuse, self.batch_size)
        generator = batch_generator(self.simulator.device, self.seed, STREAM_SYNTHETIC, index, 1)
        patterns = self._simulate(crystals, generator)
        for round_ in range(1, MAX_PATTERN_REDRAWS + 1):
            bad = torch.nonzero(~torch.isfinite(patterns).all(dim=1) | (patterns.amax(dim=1) <= 0))
            if bad.numel() == 0:
                return crystals, patterns
            rows = bad.squeeze(1).tolist()
            self.pattern_redraws += len(rows)
            key = (self.seed, STREAM_SYNTHETIC, index, 2 * round_)
            crystals, redrawn = self._redraw(crystals, rows, batch_generator(self.sampler.device, *key))
            generator = batch_generator(self.simulator.device, *key[:-1], 2 * round_ + 1)
            patterns[bad.squeeze(1).to(patterns.device)] = self._simulate(redrawn, generator)
        raise RuntimeError(
            f"batch {index}: some patterns are still all zero or not finite after {MAX_PATTERN_REDRAWS} "
            "redraws of their crystals; check the simulator's 2θ range and wavelength"
        )

    def _sample(self, index: int, count: int) -> CrystalBatch:
        """The ``count`` sampled crystals of batch ``index``: its own call of the sampler, or its share of
        the pool of ``crystal_pool`` batches that it belongs to."""
        if self.crystal_pool == 1:
            generator = batch_generator(self.sampler.device, self.seed, STREAM_SYNTHETIC, index, 0)
            return self.sampler.sample(count, generator=generator)
        pool, slot = divmod(index, self.crystal_pool)
        if self._pool is None or self._pool[0] != pool:
            generator = batch_generator(self.sampler.device, self.seed, STREAM_SYNTHETIC_POOL, pool)
            self._pool = (pool, self.sampler.sample(count * self.crystal_pool, generator=generator))
        rows = torch.arange(slot * count, (slot + 1) * count, device=self._pool[1].device)
        return self._pool[1].take(rows)

    def _simulate(self, crystals: CrystalBatch, generator: torch.Generator) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_EMPTY_PATTERN_WARNING, category=RuntimeWarning)
            return self.simulator(crystals, generator=generator)

    def _redraw(
        self, crystals: CrystalBatch, rows: list[int], generator: torch.Generator
    ) -> tuple[CrystalBatch, CrystalBatch]:
        """``crystals`` with ``rows`` replaced by new crystals of the same space groups, and the new ones."""
        groups = crystals.space_group[rows].tolist()
        fresh: dict[int, list[Crystal]] = {}
        for group in sorted(set(groups)):
            count = groups.count(group)
            fresh[group] = self.sampler.sample(count, space_group=group, generator=generator).to_crystals()
        replaced = crystals.to_crystals()
        for row, group in zip(rows, groups, strict=True):
            replaced[row] = fresh[group].pop()
        device, dtype = crystals.device, crystals.dtype
        return (
            CrystalBatch.from_crystals(replaced, device=device, dtype=dtype),
            CrystalBatch.from_crystals([replaced[row] for row in rows], device=device, dtype=dtype),
        )

    def batch(self, index: int) -> Batch:
        """The batch with global index ``index`` (the same wherever and whenever it is made).

        Returns:
            ``(patterns, labels)`` as yielded by iteration.
        """
        crystals, patterns = self._crystals_and_patterns(index)
        labels = make_labels(
            self.labels, crystals.space_group.to(patterns.device), crystals.lattice, patterns.dtype
        )
        if self.device is not None:
            patterns = patterns.to(self.device)
            labels = {k: v.to(self.device) for k, v in labels.items()}
        return patterns, labels

    def indices(self) -> Iterable[int]:
        """The global batch indices this process (rank and DataLoader worker) yields, in order."""
        stream, num_streams = partition(self.rank, self.world_size, self._distributed)
        return stream_indices(self.start_batch, self.num_batches, stream, num_streams)

    def __iter__(self) -> Iterator[Batch]:
        for index in self.indices():
            yield self.batch(index)

    def __len__(self) -> int:
        """Batches this rank yields over all its workers (from ``start_batch``); TypeError when endless."""
        if self.num_batches is None:
            raise TypeError("an endless SyntheticPowderDataset (num_batches=None) has no length")
        rank, world = resolve_ranks(self.rank, self.world_size, self._distributed)
        return len(stream_indices(self.start_batch, self.num_batches, rank, world))  # type: ignore[arg-type]


def _repeat_rows(crystals: CrystalBatch, times: int, size: int) -> CrystalBatch:
    """The first ``size`` rows of ``crystals`` with each crystal repeated ``times`` times in a row."""
    return crystals.take(torch.arange(size, device=crystals.device) // times)
