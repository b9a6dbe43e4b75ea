"""Batches of patterns on disk: ``write_shards`` (atomic, resumable, checksummed) and ``ShardDataset``.

A shard folder holds, for shard k, ``shard-0000k.patterns.npy`` ((N, P) float32 or float16) and one
``shard-0000k.<label>.npy`` per label ((N,) int64 or (N, 6) float), the grid ``two_theta.npy`` ((P,) float64,
degrees) when the source has a simulator, and ``manifest.json``: format version, the settings that made the
batches, library versions, and per shard its batches, its number of patterns and each file's size and sha256.
Plain ``.npy`` files can be memory-mapped (``np.load(mmap_mode="r")``), so reading touches only what is used.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info
from tqdm.auto import tqdm

from .._version import __version__
from ._common import check_positive_int
from ._files import _TMP, MANIFEST, _save_manifest, _save_npy
from ._settings import (
    _file_sha256,
    _grid_settings,
    _sampler_settings,
    _settings_mismatch,
    _simulator_settings,
)
from ._structures import StructureDataset
from ._synthetic import SyntheticPowderDataset

__all__ = ["ShardDataset", "write_shards"]

FORMAT = "xrdsynth-shards"
FORMAT_VERSION = 1
GRID_FILE = "two_theta.npy"
_PATTERN_DTYPES = {"float32": np.float32, "float16": np.float16}

Batch = tuple[torch.Tensor, dict[str, torch.Tensor]]


def _shard_stem(k: int) -> str:
    return f"shard-{k:05d}"


# ------------------------------------------------------------------------------------------- atomic files
class _IndexedBatches(IterableDataset[Batch]):
    """make(i) for i in indices, split among DataLoader workers so that the loader yields them in order."""

    def __init__(self, make: Callable[[int], Batch], indices: range) -> None:
        self.make = make
        self.indices = indices

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        for i in self.indices[worker::workers]:
            yield self.make(i)


def _structure_batch(dataset: StructureDataset, first: int, i: int) -> Batch:
    per_epoch = dataset.batches_per_epoch
    return dataset.batch(first + i // per_epoch, i % per_epoch)


def _describe(source: Any) -> tuple[Callable[[int], Batch] | None, dict[str, Any], np.ndarray | None]:
    """(make, settings, grid): random access to batch i of the source when it has one, the settings that
    determine its batches, and its 2θ grid (None when unknown)."""
    if isinstance(source, SyntheticPowderDataset):
        settings, grid = _grid_settings(source.simulator)
        settings = {
            "source": "SyntheticPowderDataset",
            "sampler": _sampler_settings(source.sampler),
            "simulator": _simulator_settings(source.simulator),
            "seed": source.seed,
            "batch_size": source.batch_size,
            "labels": list(source.labels),
            "first_batch": source.start_batch,
            **settings,
        }
        if source.num_batches is not None:
            settings["num_batches"] = source.num_batches
        return functools.partial(_offset_batch, source, source.start_batch), settings, grid
    if isinstance(source, StructureDataset):
        settings, grid = _grid_settings(source.simulator)
        digest = hashlib.sha256()
        for crystal in source.crystals:
            digest.update(crystal.to_cif("x").encode())
        settings = {
            "source": "StructureDataset",
            "structures": (str(source.structures) if isinstance(source.structures, Path) else "<sequence>"),
            "num_structures": len(source.crystals),
            "structures_sha256": digest.hexdigest(),
            "simulator": _simulator_settings(source.simulator),
            "seed": source.seed,
            "batch_size": source.batch_size,
            "shuffle": source.shuffle,
            "labels_from": source.labels_from,
            "symprec": source.symprec,
            "drop_last": source.drop_last,
            "labels": list(source.labels),
            "first_epoch": source.start_epoch,
            **settings,
        }
        if source.epochs is not None:
            settings["num_batches"] = source.epochs * source.batches_per_epoch
        return functools.partial(_structure_batch, source, source.start_epoch), settings, grid
    simulator = getattr(source, "simulator", None)
    settings, grid = _grid_settings(simulator) if isinstance(simulator, torch.nn.Module) else ({}, None)
    return None, {"source": type(source).__name__, **settings}, grid


def _offset_batch(dataset: SyntheticPowderDataset, first: int, i: int) -> Batch:
    return dataset.batch(first + i)


def _batches(
    source: Any, make: Callable[[int], Batch] | None, start: int, stop: int, num_workers: int
) -> Iterator[Batch]:
    """Batches start..stop-1 of the source."""
    if make is None:
        # A plain iterable: the batches before ``start`` must be made again to be skipped.
        iterator = iter(source)
        for i in range(stop):
            try:
                batch = next(iterator)
            except StopIteration:
                raise ValueError(f"the source ended after {i} batches, {stop} were asked for") from None
            if i >= start:
                yield batch
        return
    if num_workers == 0:
        for i in range(start, stop):
            yield make(i)
        return
    loader = DataLoader(_IndexedBatches(make, range(start, stop)), batch_size=None, num_workers=num_workers)
    yield from loader


def _as_numpy(batch: Any, index: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    try:
        patterns, labels = batch
    except (TypeError, ValueError):
        raise ValueError(f"batch {index} is not a (patterns, labels) pair") from None
    if not isinstance(patterns, torch.Tensor) or patterns.ndim != 2:
        raise ValueError(f"batch {index}: patterns must be a (B, P) tensor, got {type(patterns).__name__}")
    if not isinstance(labels, dict) or not all(isinstance(v, torch.Tensor) for v in labels.values()):
        raise ValueError(f"batch {index}: labels must be a dict of tensors")
    out = {}
    for name, value in labels.items():
        if not isinstance(name, str) or not name.isidentifier() or name == "patterns":
            raise ValueError(f"batch {index}: label name {name!r} is not usable as a file name")
        if value.shape[:1] != patterns.shape[:1]:
            raise ValueError(
                f"batch {index}: label {name!r} has {value.shape[0]} rows, patterns {len(patterns)}"
            )
        out[name] = value.detach().cpu().numpy()
    return patterns.detach().cpu().numpy(), out


# ------------------------------------------------------------------------------------------- writing
def _clean_leftovers(folder: Path, shards_kept: int) -> None:
    """Remove temporary files of a killed run and shard files that the manifest does not list."""
    for path in folder.iterdir():
        name = path.name
        if name.endswith(_TMP) and (name.startswith("shard-") or name in (MANIFEST + _TMP, GRID_FILE + _TMP)):
            path.unlink()
        elif name.startswith("shard-") and name.endswith(".npy"):
            try:
                k = int(name[6:11])
            except ValueError:
                continue
            if k >= shards_kept:
                path.unlink()


def _check_listed_files(folder: Path, manifest: dict[str, Any]) -> None:
    """FileNotFoundError / ValueError naming the shard whose file is missing or has the wrong size."""
    for shard in manifest["shards"]:
        for entry in shard["files"].values():
            path = folder / entry["name"]
            if not path.is_file():
                raise FileNotFoundError(f"{_shard_stem(shard['index'])}: file {str(path)!r} is missing")
            size = path.stat().st_size
            if size != entry["bytes"]:
                raise ValueError(
                    f"{_shard_stem(shard['index'])}: file {str(path)!r} has {size} bytes, the manifest "
                    f"records {entry['bytes']} (truncated or overwritten)"
                )


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no {MANIFEST} in {str(folder)!r}: not a shard folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not an {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} has format version {manifest.get('format_version')}; this xrdsynth reads "
            f"version {FORMAT_VERSION}"
        )
    return manifest


def _versions() -> dict[str, str]:
    return {"xrdsynth": __version__, "torch": torch.__version__, "numpy": np.__version__}


def write_shards(
    source: SyntheticPowderDataset | StructureDataset | Iterable[Batch],
    out_dir: str | os.PathLike[str],
    num_batches: int,
    *,
    batches_per_shard: int = 16,
    dtype: str = "float32",
    settings: dict[str, Any] | None = None,
    num_workers: int = 0,
    progress: bool | str = True,
) -> dict[str, Any]:
    """Write the first ``num_batches`` batches of ``source`` to ``out_dir`` as shards of ``.npy`` files.

    Every file is written under a temporary name in ``out_dir``, flushed to disk and renamed, and the
    manifest is rewritten the same way after each shard, so an interrupted run leaves complete shards and a
    manifest that lists exactly them. Running again with the same arguments continues after the last
    complete shard (temporary and unlisted files of the killed run are removed); a larger ``num_batches``
    extends the folder with the batches that a single run would have written. Settings that differ from
    the manifest's raise, each named.

    A dataset of this package is identified by all of its settings: every constructor argument of its
    :class:`~xrdsynth.SpaceGroupSampler` and :class:`~xrdsynth.PowderSimulator` (the grid by its values,
    the wavelength by its lines and weights, a statistics file and float lists longer than 16 entries,
    such as space-group weights, by their sha256), the dataset's seed, batch size and labels. A simulator
    of another kind is recorded by its type and repr, with the settings of every PowderSimulator inside.

    The batches are those of a single process: ``SyntheticPowderDataset`` batches ``start_batch``,
    ``start_batch + 1``, ...; ``StructureDataset`` epochs ``start_epoch``, ... one after the other (their
    rank and worker partition does not apply). Both are made by index, so resuming skips the finished
    batches without making them. Any other iterable of ``(patterns, labels)`` batches is read in order, and
    a resumed run iterates again over the batches already written (it must yield the same ones: pass
    ``settings`` that describe it, to have a mismatch detected).

    Args:
        source: a dataset of this package or an iterable of ``(patterns (B, P), labels dict)`` batches.
        out_dir: the shard folder (created if needed).
        num_batches: batches to have in the folder when the call returns.
        batches_per_shard: batches per shard (a shard holds them in memory before it is written).
        dtype: ``"float32"`` or ``"float16"`` for the stored patterns (labels keep their dtypes).
        settings: JSON-serialisable facts to record and compare on resume (e.g. how the source was built).
        num_workers: DataLoader worker processes that make the batches of a dataset of this package
            (0: in this process).
        progress: show a tqdm progress bar (a string: with that label instead of "write_shards").

    Returns:
        The manifest (as stored in ``manifest.json``).

    Raises:
        ValueError: bad arguments, settings that differ from an existing manifest's, a folder that already
            holds more than ``num_batches`` batches, or batches of inconsistent shape.
    """
    num_batches = check_positive_int("num_batches", num_batches)
    batches_per_shard = check_positive_int("batches_per_shard", batches_per_shard)
    num_workers = check_positive_int("num_workers", num_workers, minimum=0)
    if dtype not in _PATTERN_DTYPES:
        raise ValueError(f"dtype must be one of {list(_PATTERN_DTYPES)}, got {dtype!r}")
    if settings is not None:
        if not isinstance(settings, dict):
            raise ValueError(f"settings must be a dict, got {type(settings).__name__}")
        try:
            settings = json.loads(json.dumps(settings))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"settings must be JSON-serialisable: {exc}") from None
    if not isinstance(source, (SyntheticPowderDataset, StructureDataset, Iterable)):
        raise ValueError(f"source must be a dataset or an iterable of batches, got {type(source).__name__}")

    make, described, grid = _describe(source)
    described.update({"batches_per_shard": batches_per_shard, "dtype": dtype, "user": settings})
    if "num_batches" in described and num_batches > described["num_batches"] - described.get(
        "first_batch", 0
    ):
        raise ValueError(
            f"num_batches={num_batches} is more than the source's {described['num_batches']} batches"
        )
    described.pop("num_batches", None)  # extending a folder with more batches is allowed
    described = json.loads(json.dumps(described))

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / MANIFEST).exists():
        manifest = _read_manifest(folder)
        if manifest["settings"] != described:
            raise ValueError(
                f"{str(folder)!r} holds shards written with other settings; use another folder, or the "
                f"same settings to resume:\n{_settings_mismatch(manifest['settings'], described)}"
            )
        if manifest["versions"] != _versions():
            warnings.warn(
                f"{str(folder)!r} was written with {manifest['versions']}, this is {_versions()}: "
                "resumed batches may differ from a single run",
                RuntimeWarning,
                stacklevel=2,
            )
        _check_listed_files(folder, manifest)
        shards = manifest["shards"]
        done = sum(s["num_batches"] for s in shards)
        if done > num_batches:
            raise ValueError(
                f"{str(folder)!r} already holds {done} batches, more than num_batches={num_batches}"
            )
        if shards and shards[-1]["num_batches"] < batches_per_shard and done < num_batches:
            # The last shard was the short end of a smaller run: it is written again, full.
            done -= shards.pop()["num_batches"]
    else:
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "versions": _versions(),
            "settings": described,
            "num_batches": 0,
            "num_patterns": 0,
            "num_points": None,
            "patterns_dtype": dtype,
            "labels": None,
            "two_theta": None,
            "shards": [],
        }
        shards = manifest["shards"]
        done = 0
    _clean_leftovers(folder, len(shards))
    if grid is not None and manifest["two_theta"] is None:
        manifest["two_theta"] = _save_npy(folder / GRID_FILE, grid)
        manifest["num_points"] = len(grid)
    _save_manifest(folder, _finish_manifest(manifest))

    label = progress if isinstance(progress, str) else "write_shards"
    bar = tqdm(total=num_batches, initial=done, unit="batch", desc=label, disable=not progress)
    try:
        pending: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
        first = done
        for i, batch in enumerate(_batches(source, make, done, num_batches, num_workers), start=done):
            patterns, labels = _as_numpy(batch, i)
            _check_schema(manifest, patterns, labels, i)
            pending.append((patterns.astype(_PATTERN_DTYPES[dtype], copy=False), labels))
            bar.update(1)
            if len(pending) == batches_per_shard or i == num_batches - 1:
                shards.append(_write_shard(folder, len(shards), first, pending))
                _save_manifest(folder, _finish_manifest(manifest))
                first, pending = i + 1, []
    finally:
        bar.close()
    return manifest


def _finish_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    manifest["num_batches"] = sum(s["num_batches"] for s in manifest["shards"])
    manifest["num_patterns"] = sum(s["num_patterns"] for s in manifest["shards"])
    return manifest


def _check_schema(
    manifest: dict[str, Any], patterns: np.ndarray, labels: dict[str, np.ndarray], i: int
) -> None:
    """Every batch has the grid's P and the first batch's label names, dtypes and trailing shapes."""
    schema = {name: {"dtype": str(v.dtype), "shape": list(v.shape[1:])} for name, v in labels.items()}
    if manifest["num_points"] is None:
        manifest["num_points"] = patterns.shape[1]
    if patterns.shape[1] != manifest["num_points"]:
        raise ValueError(
            f"batch {i} has {patterns.shape[1]} points per pattern, expected {manifest['num_points']}"
        )
    if manifest["labels"] is None:
        manifest["labels"] = schema
    if schema != manifest["labels"]:
        raise ValueError(f"batch {i} has labels {schema}, expected {manifest['labels']}")


def _write_shard(
    folder: Path, k: int, first: int, batches: Sequence[tuple[np.ndarray, dict[str, np.ndarray]]]
) -> dict[str, Any]:
    stem = _shard_stem(k)
    patterns = np.concatenate([p for p, _ in batches])
    files = {"patterns": _save_npy(folder / f"{stem}.patterns.npy", patterns)}
    for name in batches[0][1]:
        files[name] = _save_npy(
            folder / f"{stem}.{name}.npy", np.concatenate([lab[name] for _, lab in batches])
        )
    return {
        "index": k,
        "first_batch": first,
        "num_batches": len(batches),
        "num_patterns": len(patterns),
        "files": files,
    }


# ------------------------------------------------------------------------------------------- reading
class ShardDataset(Dataset[tuple[torch.Tensor, dict[str, torch.Tensor]]]):
    """The patterns of a folder written by :func:`write_shards`, one by one or in batches.

    Opening reads the manifest and checks that every listed file exists with its recorded size and holds
    an array of the recorded shape and dtype (a missing or truncated file raises, naming its shard); the
    arrays are memory-mapped, so only the patterns read are loaded. ``verify=True`` also compares every
    file's sha256 with the manifest (reads everything once).

    Args:
        path: the shard folder.
        verify: check the checksums at opening (see :meth:`verify`).

    Item ``i`` is ``(pattern, labels)``: pattern (P,) float32 (stored float16 is widened), labels a dict of
    tensors (e.g. ``space_group`` () int64 0..229, ``lattice_parameters`` (6,)). For training, a
    :class:`~torch.utils.data.DataLoader` with ``batch_size`` reads each batch at once (``__getitems__``),
    and :meth:`batches` iterates over batches without one.
    """

    def __init__(self, path: str | os.PathLike[str], verify: bool = False) -> None:
        self.path = Path(path)
        self.manifest: dict[str, Any] = _read_manifest(self.path)
        _check_listed_files(self.path, self.manifest)
        self._shards: list[dict[str, Any]] = self.manifest["shards"]
        counts = [s["num_patterns"] for s in self._shards]
        self._ends = np.cumsum(counts, dtype=np.int64)
        self._arrays: list[dict[str, np.ndarray]] | None = None
        self._check_arrays()
        grid = self.manifest.get("two_theta")
        self._two_theta = None if grid is None else np.load(self.path / grid["name"])
        if verify:
            self.verify()

    def __repr__(self) -> str:
        return (
            f"ShardDataset({str(self.path)!r}, patterns={len(self)}, points={self.manifest['num_points']}, "
            f"shards={len(self._shards)}, labels={list(self.manifest['labels'] or [])}, "
            f"dtype={self.manifest['patterns_dtype']})"
        )

    def __getstate__(self) -> dict[str, Any]:
        # Memory maps are opened again in each process that uses the copy (DataLoader workers).
        state = self.__dict__.copy()
        state["_arrays"] = None
        return state

    @property
    def two_theta(self) -> torch.Tensor | None:
        """(P,) float64 the 2θ grid in degrees, or None when the source had no simulator."""
        return None if self._two_theta is None else torch.from_numpy(self._two_theta.copy())

    @property
    def label_names(self) -> tuple[str, ...]:
        """Names of the stored labels."""
        return tuple(self.manifest["labels"] or ())

    def _open(self) -> list[dict[str, np.ndarray]]:
        if self._arrays is None:
            self._arrays = [
                {
                    name: np.load(self.path / entry["name"], mmap_mode="r")
                    for name, entry in s["files"].items()
                }
                for s in self._shards
            ]
        return self._arrays

    def _check_arrays(self) -> None:
        schema = self.manifest["labels"] or {}
        for shard, arrays in zip(self._shards, self._open(), strict=True):
            n = shard["num_patterns"]
            expected = {"patterns": ((n, self.manifest["num_points"]), self.manifest["patterns_dtype"])}
            expected.update({name: ((n, *s["shape"]), s["dtype"]) for name, s in schema.items()})
            for name, (shape, dtype) in expected.items():
                array = arrays.get(name)
                if array is None or array.shape != shape or str(array.dtype) != dtype:
                    found = "no file" if array is None else f"{array.dtype} {array.shape}"
                    raise ValueError(
                        f"{_shard_stem(shard['index'])}: {name} should be {dtype} {shape}, found {found}"
                    )

    def verify(self) -> None:
        """Compare the sha256 of every file with the manifest.

        Raises:
            ValueError: naming the first shard (and file) whose content differs.
        """
        grid = self.manifest.get("two_theta")
        if grid is not None and _file_sha256(self.path / grid["name"]) != grid["sha256"]:
            raise ValueError(f"{grid['name']}: sha256 differs from the manifest (corrupted)")
        for shard in self._shards:
            for entry in shard["files"].values():
                if _file_sha256(self.path / entry["name"]) != entry["sha256"]:
                    raise ValueError(
                        f"{_shard_stem(shard['index'])} is corrupted: {entry['name']} has another sha256 "
                        "than the manifest records"
                    )

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def _locate(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(self)
        if np.any(indices < -n) or np.any(indices >= n):
            raise IndexError(f"index out of range for {n} patterns")
        indices = np.where(indices < 0, indices + n, indices)
        shard = np.searchsorted(self._ends, indices, side="right")
        starts = np.concatenate([[0], self._ends[:-1]])
        return shard, indices - starts[shard]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if isinstance(index, torch.Tensor):
            index = int(index)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        (shard,), (row,) = self._locate(np.asarray([index]))
        arrays = self._open()[shard]
        pattern = torch.from_numpy(np.array(arrays["patterns"][row], dtype=np.float32))
        labels = {name: torch.from_numpy(np.array(arrays[name][row])) for name in self.label_names}
        return pattern, labels

    def get_batch(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> Batch:
        """Patterns (B, P) float32 and labels dict of (B, ...) tensors for the given indices, read shard by
        shard (far fewer reads than B separate items)."""
        index = np.asarray(indices, dtype=np.int64).reshape(-1)
        shard, row = self._locate(index)
        patterns = np.empty((len(index), self.manifest["num_points"]), dtype=np.float32)
        schema = self.manifest["labels"] or {}
        labels = {name: np.empty((len(index), *s["shape"]), dtype=s["dtype"]) for name, s in schema.items()}
        arrays = self._open()
        for k in np.unique(shard):
            where = np.nonzero(shard == k)[0]
            rows = row[where]
            # Sorted rows read the memory map front to back.
            order = np.argsort(rows, kind="stable")
            where, rows = where[order], rows[order]
            patterns[where] = arrays[k]["patterns"][rows]
            for name in labels:
                labels[name][where] = arrays[k][name][rows]
        return torch.from_numpy(patterns), {name: torch.from_numpy(v) for name, v in labels.items()}

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """Items for a list of indices (the DataLoader's batched read), read as one :meth:`get_batch`."""
        patterns, labels = self.get_batch(indices)
        return [
            (patterns[j], {name: value[j] for name, value in labels.items()}) for j in range(len(patterns))
        ]

    def batches(
        self, batch_size: int, *, shuffle: bool = False, seed: int = 0, drop_last: bool = False
    ) -> Iterator[Batch]:
        """Iterate over all patterns in batches (in this process), as :meth:`get_batch` returns them.

        Args:
            batch_size: patterns per batch.
            shuffle: a random order, from ``seed``.
            seed: seed of the order (e.g. the epoch number).
            drop_last: leave out the last, smaller batch.
        """
        batch_size = check_positive_int("batch_size", batch_size)
        n = len(self)
        order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            yield self.get_batch(order[start : start + batch_size])
