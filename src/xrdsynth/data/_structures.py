"""StructureDataset: simulated patterns of given structures (Crystals or CIF files), epoch by epoch."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

from .._errors import CIFError
from ..simulate import PowderSimulator
from ..structure import Crystal, CrystalBatch
from ._common import (
    LABELS,
    STREAM_SHUFFLE,
    STREAM_STRUCTURES,
    batch_generator,
    check_labels,
    check_partition,
    check_positive_int,
    check_seed,
    derive_seed,
    distributed_snapshot,
    make_labels,
    partition,
    resolve_ranks,
    stream_indices,
)

__all__ = ["StructureDataset"]

Batch = tuple[torch.Tensor, dict[str, torch.Tensor]]
Structures = str | os.PathLike[str] | Sequence[Crystal | str | os.PathLike[str]]

_CIF_SUFFIXES = (".cif", ".cif.gz")


@dataclasses.dataclass(frozen=True)
class _Loaded:
    crystals: tuple[Crystal, ...]
    space_groups: np.ndarray  # (n,) int64 labels 1..230
    skipped: tuple[tuple[str, str], ...]


class StructureDataset(IterableDataset[Batch]):
    """Batches of simulated powder patterns of a fixed collection of structures, with fresh random
    instrument and sample parameters (crystallite size, noise, ...) in every epoch.

    The structures are read once, at first use (:attr:`crystals`, ``len()`` or iteration), and kept: CIF
    files through :meth:`Crystal.from_cif <xrdsynth.Crystal.from_cif>` (the first structure of each file).
    Epoch e visits every structure once, in the order of a permutation seeded from (seed, e) when
    ``shuffle``; its batch j is simulated with a generator seeded from (seed, e, j), so a run is
    reproducible and every epoch gets new parameters for every pattern.

    The batches j of an epoch are split among ranks and DataLoader workers as in
    :class:`SyntheticPowderDataset` (rank r of R takes j ≡ r (mod R), its worker w of W j ≡ r + R·w
    (mod R·W)); use a DataLoader with ``batch_size=None``.

    Args:
        structures: a directory (its ``*.cif`` and ``*.cif.gz`` files, sorted by name), one CIF file, or a
            sequence of :class:`~xrdsynth.Crystal` objects and CIF paths.
        simulator: simulates the patterns (its parameter ranges are what changes between epochs); a
            PowderSimulator or any module called like one with a ``device``.
        batch_size: structures per batch; the last batch of an epoch is smaller unless ``drop_last``.
        shuffle: visit the structures in a new random order in every epoch.
        seed: non-negative int from which the orders and the per-batch generators are derived.
        labels_from: ``"cif"`` uses each Crystal's ``space_group`` (for files, the group the CIF states);
            ``"spglib"`` uses :meth:`Crystal.detect_space_group` at ``symprec``.
        symprec: distance tolerance in Å for ``labels_from="spglib"``.
        epochs: number of epochs one iteration runs through; None for an endless stream of epochs.
        labels: which labels to yield, from :data:`LABELS`.
        device: where the yielded tensors go; None keeps them on the simulator's device.
        skip_unreadable: when False (default) a file that cannot be read (or a structure whose symmetry
            spglib cannot find with ``labels_from="spglib"``) raises; when True it is left out, listed in
            :attr:`skipped` with the reason, and one warning says how many.
        drop_last: leave out the last, smaller batch of each epoch.
        start_epoch: number of the first epoch (to resume; see also :meth:`set_epoch`).
        rank, world_size: the partition among processes, overriding torch.distributed (both or neither).

    Yields:
        ``(patterns, labels)`` as :class:`SyntheticPowderDataset` does: patterns (B, P), labels
        ``space_group`` (B,) int64 0..229, ``crystal_system`` (B,) int64, ``lattice_parameters`` (B, 6)
        (Å, degrees).
    """

    def __init__(
        self,
        structures: Structures,
        simulator: PowderSimulator,
        batch_size: int = 64,
        shuffle: bool = True,
        seed: int = 0,
        labels_from: str = "cif",
        symprec: float = 1e-3,
        epochs: int | None = None,
        labels: Iterable[str] = LABELS,
        device: str | torch.device | None = None,
        *,
        skip_unreadable: bool = False,
        drop_last: bool = False,
        start_epoch: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if isinstance(structures, (str, os.PathLike)):
            self.structures: Path | tuple[Crystal | Path, ...] = Path(structures)
        else:
            try:
                items = tuple(structures)
            except TypeError:
                raise ValueError(
                    f"structures must be a directory, a CIF path or a sequence of Crystals and paths, "
                    f"got {type(structures).__name__}"
                ) from None
            for k, item in enumerate(items):
                if not isinstance(item, (Crystal, str, os.PathLike)):
                    raise ValueError(f"structures[{k}] is a {type(item).__name__}, not a Crystal or a path")
            if not items:
                raise ValueError("structures is empty")
            self.structures = tuple(item if isinstance(item, Crystal) else Path(item) for item in items)
        # As for SyntheticPowderDataset: any module called like a PowderSimulator with a .device will do.
        if not isinstance(simulator, torch.nn.Module) or not hasattr(simulator, "device"):
            raise ValueError(f"simulator must be a PowderSimulator, got {type(simulator).__name__}")
        self.simulator = simulator
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.shuffle = bool(shuffle)
        self.seed = check_seed(seed)
        if labels_from not in ("cif", "spglib"):
            raise ValueError(f"labels_from must be 'cif' or 'spglib', got {labels_from!r}")
        self.labels_from = labels_from
        if not float(symprec) > 0:
            raise ValueError(f"symprec must be positive (Å), got {symprec!r}")
        self.symprec = float(symprec)
        self.epochs = None if epochs is None else check_positive_int("epochs", epochs)
        self.labels = check_labels(labels)
        self.device = None if device is None else torch.device(device)
        self.skip_unreadable = bool(skip_unreadable)
        self.drop_last = bool(drop_last)
        self.start_epoch = check_positive_int("start_epoch", start_epoch, minimum=0)
        self.rank, self.world_size = check_partition(rank, world_size)
        self._distributed: tuple[int, int] | None = None
        self._loaded: _Loaded | None = None

    def __repr__(self) -> str:
        if isinstance(self.structures, Path):
            source = repr(str(self.structures))
        else:
            source = f"<{len(self.structures)} structures>"
        parts = [
            source,
            f"batch_size={self.batch_size}",
            f"shuffle={self.shuffle}",
            f"seed={self.seed}",
            f"labels_from={self.labels_from!r}",
        ]
        if self.labels_from == "spglib":
            parts.append(f"symprec={self.symprec}")
        parts += [f"epochs={self.epochs}", f"labels={self.labels}"]
        if self.device is not None:
            parts.append(f"device={str(self.device)!r}")
        if self.skip_unreadable:
            parts.append("skip_unreadable=True")
        if self.drop_last:
            parts.append("drop_last=True")
        if self.start_epoch:
            parts.append(f"start_epoch={self.start_epoch}")
        if self.rank is not None:
            parts.append(f"rank={self.rank}, world_size={self.world_size}")
        simulator = repr(self.simulator).replace("\n", " ")
        return f"StructureDataset({', '.join(parts)},\n  simulator={simulator})"

    def __getstate__(self) -> dict[str, Any]:
        # The loaded structures travel with the copy (workers do not read the files again), and so does
        # the rank of the pickling process (spawned workers have no process group).
        state = self.__dict__.copy()
        state["_distributed"] = distributed_snapshot() or self._distributed
        return state

    # ------------------------------------------------------------------------------------------- loading
    def _sources(self) -> list[Crystal | Path]:
        if isinstance(self.structures, tuple):
            return list(self.structures)
        path = self.structures
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.name.lower().endswith(_CIF_SUFFIXES))
            if not files:
                raise ValueError(f"no *.cif or *.cif.gz files in {str(path)!r}")
            return list(files)
        if path.is_file():
            return [path]
        raise ValueError(f"{str(path)!r} is neither a directory nor a file")

    def _load(self) -> _Loaded:
        if self._loaded is not None:
            return self._loaded
        crystals, groups, skipped = [], [], []
        for k, item in enumerate(self._sources()):
            name = f"structures[{k}]" if isinstance(item, Crystal) else str(item)
            try:
                crystal = item if isinstance(item, Crystal) else Crystal.from_cif(item)
                if self.labels_from == "spglib":
                    try:
                        group = crystal.detect_space_group(self.symprec)
                    except ValueError as exc:
                        raise ValueError(f"{name}: {exc}") from None
                else:
                    group = crystal.space_group
            except (CIFError, OSError, ValueError) as exc:
                if not self.skip_unreadable:
                    raise
                skipped.append((name, f"{type(exc).__name__}: {exc}"))
                continue
            crystals.append(crystal)
            groups.append(group)
        if skipped:
            warnings.warn(
                f"{len(skipped)} of {len(skipped) + len(crystals)} structures could not be read and are "
                f"left out (see StructureDataset.skipped); first: {skipped[0][1]}",
                RuntimeWarning,
                stacklevel=3,
            )
        if not crystals:
            raise ValueError("no readable structures")
        self._loaded = _Loaded(tuple(crystals), np.asarray(groups, dtype=np.int64), tuple(skipped))
        return self._loaded

    @property
    def crystals(self) -> tuple[Crystal, ...]:
        """The structures in use, in input order (reads them on first access)."""
        return self._load().crystals

    @property
    def space_groups(self) -> np.ndarray:
        """(n,) int64 space-group numbers 1..230 of :attr:`crystals` as labelled (``labels_from``)."""
        return self._load().space_groups.copy()

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(source, reason) of each structure left out with ``skip_unreadable=True``."""
        return list(self._load().skipped)

    # ------------------------------------------------------------------------------------------- batches
    @property
    def batches_per_epoch(self) -> int:
        """Batches in one epoch over all ranks and workers together."""
        n = len(self._load().crystals)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration start at ``epoch`` (as :class:`~torch.utils.data.DistributedSampler`
        does): with ``epochs=1``, call it before each epoch's DataLoader loop so that every epoch gets its own
        order and parameters."""
        self.start_epoch = check_positive_int("epoch", epoch, minimum=0)

    def order(self, epoch: int) -> np.ndarray:
        """(n,) int64 the order in which epoch ``epoch`` visits :attr:`crystals`."""
        n = len(self._load().crystals)
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        rng = np.random.default_rng(derive_seed(self.seed, STREAM_SHUFFLE, epoch))
        return rng.permutation(n).astype(np.int64)

    def batch(self, epoch: int, index: int) -> Batch:
        """Batch ``index`` of epoch ``epoch`` (the same wherever and whenever it is made).

        Returns:
            ``(patterns, labels)`` as yielded by iteration.
        """
        epoch = check_positive_int("epoch", epoch, minimum=0)
        index = check_positive_int("index", index, minimum=0)
        if index >= self.batches_per_epoch:
            raise IndexError(
                f"batch index {index} out of range: an epoch has {self.batches_per_epoch} batches"
            )
        loaded = self._load()
        rows = self.order(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        device = self.simulator.device
        groups = torch.as_tensor(loaded.space_groups[rows], device=device)
        crystals = CrystalBatch.from_crystals([loaded.crystals[r] for r in rows], device=device)
        # The label group also selects the simulator's Laue group (which it checks against the metric).
        crystals = dataclasses.replace(crystals, space_group=groups)
        generator = batch_generator(device, self.seed, STREAM_STRUCTURES, epoch, index)
        patterns = self.simulator(crystals, generator=generator)
        labels = make_labels(self.labels, groups.to(patterns.device), crystals.lattice, patterns.dtype)
        if self.device is not None:
            patterns = patterns.to(self.device)
            labels = {k: v.to(self.device) for k, v in labels.items()}
        return patterns, labels

    def _epochs(self) -> Iterable[int]:
        if self.epochs is None:
            return stream_indices(self.start_epoch, None, 0, 1)
        return range(self.start_epoch, self.start_epoch + self.epochs)

    def __iter__(self) -> Iterator[Batch]:
        stream, num_streams = partition(self.rank, self.world_size, self._distributed)
        per_epoch = self.batches_per_epoch
        if per_epoch == 0:
            raise ValueError(
                f"an epoch has no batch: {len(self.crystals)} structures, batch_size={self.batch_size}, "
                "drop_last=True"
            )
        for epoch in self._epochs():
            for index in stream_indices(0, per_epoch, stream, num_streams):
                yield self.batch(epoch, index)

    def __len__(self) -> int:
        """Batches per epoch that this rank yields over all its workers."""
        rank, world = resolve_ranks(self.rank, self.world_size, self._distributed)
        return len(range(rank, self.batches_per_epoch, world))
