"""What a shard folder records about its source: every setting of the sampler and simulator that made it, in
a canonical JSON form, and the comparison that refuses to resume with other settings."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..sampler import SamplerStatistics, SpaceGroupSampler
from ..simulate import PowderSimulator

_HASH_CHUNK = 1 << 22


def _one_line(obj: object) -> str:
    return " ".join(repr(obj).split())


# Sequences of floats longer than this are recorded by shape and sha256 (e.g. 230 space-group weights).
_LONGEST_LISTED = 16
_NOT_STORED = "<not stored under its argument's name>"
_SKIP = object()  # an argument recorded elsewhere in the settings


def _digest(array: np.ndarray) -> dict[str, Any]:
    array = np.ascontiguousarray(array)
    return {
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "sha256": hashlib.sha256(array.tobytes()).hexdigest(),
    }


def _canonical(value: Any) -> Any:
    """A JSON value that identifies ``value``: numbers, strings and short lists as they are, long numeric
    float sequences, arrays and statistics by their sha256, anything else by its one-line repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (torch.dtype, torch.device, os.PathLike)):
        return str(value)
    if isinstance(value, torch.Generator):
        return "<torch.Generator>"
    if isinstance(value, torch.Tensor):
        return _digest(value.detach().cpu().numpy())
    if isinstance(value, np.ndarray):
        return _digest(value)
    if isinstance(value, SamplerStatistics):
        text = json.dumps(value.to_dict(), sort_keys=True).encode()
        return {"statistics": value.source, "sha256": hashlib.sha256(text).hexdigest()}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        numbers = all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in value)
        if numbers and len(value) > _LONGEST_LISTED and not all(isinstance(v, int) for v in value):
            return _digest(np.asarray(value, dtype=np.float64))
        return [_canonical(v) for v in value]
    return _one_line(value)


def _constructor_settings(obj: Any, special: dict[str, Any]) -> dict[str, Any]:
    """Every argument of ``type(obj).__init__`` with the value ``obj`` holds for it (an attribute of the same
    name), in canonical form; ``special`` gives the values of arguments stored otherwise (``_SKIP``: recorded
    elsewhere)."""
    settings: dict[str, Any] = {"type": type(obj).__name__}
    for name, parameter in inspect.signature(type(obj).__init__).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        value = special[name] if name in special else _canonical(getattr(obj, name, _NOT_STORED))
        if value is not _SKIP:
            settings[name] = value
    return settings


def _sampler_settings(sampler: SpaceGroupSampler) -> dict[str, Any]:
    """All settings of a sampler (its statistics file by content, long weight lists by sha256)."""
    special: dict[str, Any] = {}
    statistics = sampler.statistics
    if not isinstance(statistics, SamplerStatistics) and statistics != "default":
        special["statistics"] = {"file": os.fspath(statistics), "sha256": _file_sha256(Path(statistics))}
    return _constructor_settings(sampler, special)


def _simulator_settings(simulator: torch.nn.Module) -> dict[str, Any]:
    """All settings of a PowderSimulator (the grid is recorded separately), or of any other module: its type
    and repr, and the settings of every PowderSimulator inside it (e.g. a mixture of simulators)."""
    if isinstance(simulator, PowderSimulator):
        radiation = simulator.radiation
        special = {
            "two_theta": _SKIP,  # the grid is recorded as the settings' two_theta
            "q": _SKIP,
            # The shortcuts change speed, never patterns: shards resume across versions and across this flag.
            "symmetry_shortcuts": _SKIP,
            "wavelength": {"lines": list(radiation.wavelengths), "weights": list(radiation.weights)},
        }
        return _constructor_settings(simulator, special)
    inner = [m for m in simulator.modules() if isinstance(m, PowderSimulator)]
    return {
        "type": type(simulator).__name__,
        "repr": _one_line(simulator),
        "simulators": [_simulator_settings(m) for m in inner],
    }


def _grid_settings(simulator: torch.nn.Module) -> tuple[dict[str, Any], np.ndarray | None]:
    """The simulator's 2θ grid and wavelength, where it has them (a simulator-like module may not)."""
    two_theta = getattr(simulator, "two_theta", None)
    wavelength = getattr(simulator, "wavelength", None)
    settings: dict[str, Any] = {}
    grid = None
    if isinstance(two_theta, torch.Tensor):
        grid = two_theta.detach().cpu().numpy().astype(np.float64)
        settings["two_theta"] = {
            "start": float(grid[0]),
            "stop": float(grid[-1]),
            "num": len(grid),
            "sha256": hashlib.sha256(grid.tobytes()).hexdigest(),
        }
    if isinstance(wavelength, (int, float)):
        settings["wavelength"] = float(wavelength)
    return settings, grid


def _settings_mismatch(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> str:
    """One line per differing setting, nested settings named with dots (``sampler.space_groups``)."""
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            lines.append(_settings_mismatch(a, b, f"{prefix}{key}."))
        else:
            a, b = str(a), str(b)
            lines.append(f"  {prefix}{key}: existing {a[:200]!r}, now {b[:200]!r}")
    return "\n".join(lines)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
