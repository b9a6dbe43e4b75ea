"""Checkpoints of a training run: written atomically, and resumed only with the settings they were made
with."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ._config import TrainConfig

__all__ = ["ABSENT_MEANS", "RESUME_MAY_DIFFER", "atomic_torch_save", "check_resume", "statistics_fingerprint"]

# Settings that may change when a run is resumed: where and how fast it runs, and how often it reports.
# Every other TrainConfig field changes the trained model, so a resumed run must keep it.
RESUME_MAY_DIFFER = frozenset(
    {"out", "device", "threads", "workers", "compile", "precision", "checkpoint_every", "snapshot_every",
     "eval_every", "log_every"}
)  # fmt: skip

# Settings added after runs were already written: a stored configuration without one was made by a version
# that behaved as this value does, so it resumes with it (and only with it).
ABSENT_MEANS: dict[str, Any] = {
    "statistics": "default-v1",
    "smoothing_fwhm_deg": 0.0,
    "preset_overrides": {},
    "crystal_reuse": 1,
    "log_d_points": 0,
    "rerender_size_nm": 0.0,
    "kalpha2_strip_ratio": 0.0,
    "consistency": 0.0,
    "clean_views": False,
    "consistency_anchor": "mean",
    "space_group_counts": None,
    "baseline_threshold": 0.0,
    "crystal_system_loss": 0.0,
    "crystal_pool": 1,
    "clean_doublet": 0.0,
    "clean_noise": 0.0,
    "free_atoms": 0.0,
    "widths_fraction": 0.0,
    "clean_effects": {},
    "kbeta_strip": False,
    "clean_pseudo_voigt": 0.0,
    "step_average": False,
}


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path`` through a temporary file in the same folder, synced, then renamed over
    ``path``: a run killed while writing leaves the previous checkpoint whole."""
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}-", delete=False) as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
        tmp = handle.name
    os.replace(tmp, path)


def statistics_fingerprint(statistics: str) -> str:
    """SHA-256 of the content of the sampler statistics a run draws from (a shipped name or a file).

    A name stands for whatever the installed xrdsynth ships under it, and a file can be rewritten: the
    checkpoint keeps this fingerprint so that a run resumed after either changed is refused instead of
    continuing on other crystals."""
    from ..sampler import SpaceGroupSampler

    content = SpaceGroupSampler(statistics=statistics).resolved_statistics().to_dict()
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode("utf-8")).hexdigest()


def check_resume(config: TrainConfig, out: Path, world_size: int) -> None:
    """Refuse to resume a run folder whose stored settings differ from ``config``.

    The stored settings are the checkpoint's (what would be resumed), else ``config.json`` (a run stopped
    before its first checkpoint). Every TrainConfig field must match except ``RESUME_MAY_DIFFER`` (a field the
    stored settings lack counts as its ``ABSENT_MEANS`` value, where it has one), and
    a checkpoint must come from as many processes as there are now (the data stream depends on both), and
    the statistics must have the content the checkpoint was made with (:func:`statistics_fingerprint`;
    checkpoints written before it was stored are not checked).

    Raises:
        ValueError: listing every field that differs, one per line.
    """
    checkpoint, stored_json = out / "checkpoint.pt", out / "config.json"
    state: dict[str, Any] | None = None
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        stored = json.loads(state["config"])
        where = str(checkpoint)
    elif stored_json.exists():
        stored = json.loads(stored_json.read_text(encoding="utf-8"))
        where = str(stored_json)
    else:
        return
    now = json.loads(json.dumps(config.to_dict()))  # tuples as lists, as stored
    lines = []
    for f in dataclasses.fields(TrainConfig):
        if f.name in RESUME_MAY_DIFFER:
            continue
        old = stored.get(f.name, ABSENT_MEANS.get(f.name, "<absent: written by another xrdsynth version>"))
        if old != now[f.name]:
            lines.append(f"  {f.name}: stored {old!r}, now {now[f.name]!r}")
    if state is not None and int(state["step"]) > 0 and isinstance(stored.get("batch_size"), int):
        processes = int(state["samples"]) // (int(state["step"]) * stored["batch_size"])
        if processes != world_size:
            lines.append(f"  processes (WORLD_SIZE): stored {processes}, now {world_size}")
    if state is not None and "statistics_sha256" in state:
        now_sha = statistics_fingerprint(config.statistics)
        if state["statistics_sha256"] != now_sha:
            lines.append(
                f"  statistics {config.statistics!r}: content changed since the checkpoint (sha256 "
                f"{state['statistics_sha256'][:12]}..., now {now_sha[:12]}...; a shipped name follows the "
                "installed xrdsynth: train on a saved copy of the statistics to pin them)"
            )
    if lines:
        raise ValueError(
            f"{where} belongs to a run with other settings; resume it with the same settings (only "
            f"{', '.join(sorted(RESUME_MAY_DIFFER))} may change) or use another run folder:\n"
            + "\n".join(lines)
        )
