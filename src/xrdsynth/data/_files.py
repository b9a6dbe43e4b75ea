"""Crash-safe files of a shard folder: atomic writes with fsync, checksummed while written."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

_TMP = ".tmp"  # suffix of files being written; anything with it is left over from a killed run
MANIFEST = "manifest.json"


class _HashingWriter:
    """A write-only file object that hashes what passes through (numpy then writes through ``write``)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.raw.write(data)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; directories cannot be opened for fsync on Windows.
    if os.name == "posix":
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_write(path: Path, write: Callable[[Any], None]) -> dict[str, Any]:
    """Write ``path`` through a temporary file in the same folder, fsync and rename.

    Returns:
        {"name", "bytes", "sha256"} of the file.
    """
    tmp = path.with_name(path.name + _TMP)
    with open(tmp, "wb") as raw:
        writer = _HashingWriter(raw)
        write(writer)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return {"name": path.name, "bytes": writer.size, "sha256": writer.sha256.hexdigest()}


def _save_npy(path: Path, array: np.ndarray) -> dict[str, Any]:
    return _atomic_write(path, lambda f: np.lib.format.write_array(f, np.ascontiguousarray(array)))


def _save_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=1).encode()
    _atomic_write(folder / MANIFEST, lambda f: f.write(text))


# ------------------------------------------------------------------------------------------- the source
