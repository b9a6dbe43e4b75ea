"""Saving classifiers and loading the ones shipped inside the package (never downloaded).

A saved classifier is a folder with two files:

- ``weights.pt``: the network's ``state_dict`` (loaded with ``torch.load(weights_only=True)``);
- ``card.json``: format version, architecture name and keyword arguments, the input spec, the sha256 of
  ``weights.pt``, the calibration (softmax temperature, abstention threshold and prior correction; absent
  in older cards, which then mean 1, none and none), and the model card (recipe, data, hardware,
  accuracies).

Shipped classifiers live in ``xrdsynth/models/pretrained/<name>/``; the default one is named in
:data:`DEFAULT_MODEL`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ._architectures import build_model
from ._classifier import Classifier, InputSpec

__all__ = ["DEFAULT_MODEL", "available_models", "load_pretrained", "save_pretrained"]

FORMAT_VERSION = 1
DEFAULT_MODEL = "xrdsynth-resnet-cu"
_SHIPPED = Path(__file__).resolve().parent / "pretrained"
_WEIGHTS = "weights.pt"
_CARD = "card.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def available_models() -> list[str]:
    """Names of the classifiers shipped in the package, sorted."""
    if not _SHIPPED.is_dir():
        return []
    return sorted(p.name for p in _SHIPPED.iterdir() if (p / _CARD).is_file() and (p / _WEIGHTS).is_file())


def save_pretrained(classifier: Classifier, directory: str | os.PathLike[str]) -> Path:
    """Write ``classifier`` to ``directory`` (created if needed) as ``weights.pt`` + ``card.json``.

    Both files are written to temporary names first and then renamed, so a reader never sees half a model.

    Returns:
        The directory.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in classifier.model.state_dict().items()}
    with tempfile.NamedTemporaryFile(dir=out, prefix=".weights-", delete=False) as handle:
        torch.save(state, handle)
        tmp_weights = Path(handle.name)
    meta = {
        "format_version": FORMAT_VERSION,
        "architecture": classifier.architecture,
        "architecture_kwargs": classifier.architecture_kwargs,
        "input": classifier.spec.to_dict(),
        "weights_sha256": _sha256(tmp_weights),
        "calibration": {
            "temperature": classifier.temperature,
            "threshold": classifier.threshold,
            "log_prior_ratio": (
                None if classifier.log_prior_ratio is None else list(classifier.log_prior_ratio)
            ),
        },
        "card": classifier.card,
    }
    with tempfile.NamedTemporaryFile("w", dir=out, prefix=".card-", delete=False, encoding="utf-8") as h:
        json.dump(meta, h, indent=2, sort_keys=False)
        h.write("\n")
        tmp_card = Path(h.name)
    # Temporary files are private (0600); the model files get the permissions of any new file.
    umask = os.umask(0)
    os.umask(umask)
    for tmp in (tmp_weights, tmp_card):
        os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp_weights, out / _WEIGHTS)
    os.replace(tmp_card, out / _CARD)
    return out


def load_pretrained(
    name: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu"
) -> Classifier:
    """A classifier in eval mode, from the package (by name) or from a folder written by save_pretrained.

    Args:
        name: None for :data:`DEFAULT_MODEL`, a name from :func:`available_models`, or a folder path.
        device: where the network is placed.

    Raises:
        ValueError: an unknown name, a folder without the two files, a checksum that does not match, or
            weights that do not fit the architecture.
    """
    if name is None:
        name = DEFAULT_MODEL
    folder = Path(name)
    if not (folder / _CARD).is_file():
        if isinstance(name, str) and name in available_models():
            folder = _SHIPPED / name
        else:
            shipped = ", ".join(available_models()) or "none"
            raise ValueError(
                f"no classifier {os.fspath(name)!r}: not a folder with {_CARD} and {_WEIGHTS}, and not a "
                f"shipped model (shipped: {shipped})"
            )
    try:
        meta: dict[str, Any] = json.loads((folder / _CARD).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{folder / _CARD}: not a readable model card ({error})") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{folder / _CARD}: unsupported format_version {meta.get('format_version')!r}")
    weights = folder / _WEIGHTS
    if not weights.is_file():
        raise ValueError(f"{folder}: missing {_WEIGHTS}")
    digest = _sha256(weights)
    if digest != meta["weights_sha256"]:
        raise ValueError(
            f"{weights}: sha256 {digest} does not match the card ({meta['weights_sha256']}); "
            "the file is corrupted or was replaced"
        )
    model = build_model(meta["architecture"], **meta["architecture_kwargs"])
    state = torch.load(weights, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{weights}: weights do not fit {meta['architecture']!r}: {error}") from None
    calibration = meta.get("calibration") or {}
    classifier = Classifier(
        model,
        InputSpec(**meta["input"]),
        meta["architecture"],
        meta["architecture_kwargs"],
        meta["card"],
        temperature=float(calibration.get("temperature", 1.0)),
        threshold=calibration.get("threshold"),
        log_prior_ratio=calibration.get("log_prior_ratio"),
    )
    return classifier.to(device).eval()
