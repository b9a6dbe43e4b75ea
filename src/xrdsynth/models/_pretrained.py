"""Pretrained classifiers as frozen bundles: shipped inside the package (never downloaded), saved, loaded.

A saved classifier is a folder with two files:

- ``weights.pt``: the network's ``state_dict`` (loaded with ``torch.load(weights_only=True)``);
- ``card.json``: format version, architecture name and keyword arguments, the input spec, the sha256 of
  ``weights.pt``, the calibration (softmax temperature, abstention threshold and prior correction; absent
  in older cards, which then mean 1, none and none), and the model card (recipe, data, hardware,
  accuracies).

A :class:`PretrainedBundle` is the frozen record of such a folder, after torchaudio's pipeline bundles:
everything needed to rebuild the classifier, read once from ``card.json``. Its ``get_model()`` loads the
weights with ``weights_only=True``, checks their sha256, loads them strictly into the architecture the card
names and returns the :class:`Classifier` in eval mode. Shipped bundles live
in ``xrdsynth/models/pretrained/<name>/`` (:func:`pretrained_bundles`); the default one is named in
:data:`DEFAULT_MODEL`. :func:`load_pretrained` is ``get_model()`` of a bundle given by name or folder.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from ._architectures import build_model
from ._classifier import Classifier, InputSpec

__all__ = [
    "DEFAULT_MODEL",
    "PretrainedBundle",
    "available_models",
    "load_pretrained",
    "pretrained_bundles",
    "save_pretrained",
]

FORMAT_VERSION = 1
DEFAULT_MODEL = "xrdsynth-resnet-cu"
_SHIPPED = Path(__file__).resolve().parent / "pretrained"
_WEIGHTS = "weights.pt"
_CARD = "card.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")  # a hex digest as the cards store it


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class PretrainedBundle:
    """A pretrained classifier as a frozen record: its weights file, their sha256, architecture, input spec,
    calibration and card. :meth:`get_model` builds the classifier.

    Bundles are made by :func:`pretrained_bundles` (the shipped ones) or :meth:`from_folder` (any folder
    written by :func:`save_pretrained`). The mappings are read-only views of the bundle's own copies, and
    each classifier :meth:`get_model` returns gets its own copy of the card.

    Attributes:
        name: the bundle's name (its folder's name; a shipped bundle's name is what
            :func:`load_pretrained` takes).
        weights_path: the ``weights.pt`` file: the network's ``state_dict``.
        weights_sha256: the sha256 (64 lower-case hex digits) the weights must have; checked on every load.
        architecture: the network's name in :data:`~xrdsynth.models.ARCHITECTURES` (a frozen version: never
            edited once weights depend on it).
        architecture_kwargs: the keyword arguments that build it (:func:`~xrdsynth.models.build_model`).
        spec: the input the network reads (grid, wavelength, scaling, background removal).
        card: the model card (recipe, data, hardware, accuracies).
        temperature: softmax temperature of the calibration (1: none).
        threshold: abstention threshold of the calibration (None: never abstain).
        log_prior_ratio: 230 label-shift corrections added to the logits, or None.

    Example:
        >>> bundle = xrdsynth.models.pretrained_bundles()[xrdsynth.models.DEFAULT_MODEL]
        >>> bundle.spec.grid, bundle.architecture
        ((5.0, 90.0, 4251), 'resnet10')
        >>> clf = bundle.get_model()        # Classifier in eval mode, weights checked
    """

    name: str
    weights_path: Path
    weights_sha256: str
    architecture: str
    architecture_kwargs: Mapping[str, Any] = field(hash=False)
    spec: InputSpec
    card: Mapping[str, Any] = field(hash=False, repr=False)
    temperature: float = 1.0
    threshold: float | None = None
    log_prior_ratio: tuple[float, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not _SHA256.fullmatch(str(self.weights_sha256)):
            raise ValueError(f"weights_sha256 must be 64 lower-case hex digits, got {self.weights_sha256!r}")
        freeze = object.__setattr__  # a frozen dataclass sets its own fields this way
        freeze(self, "weights_path", Path(self.weights_path))
        freeze(self, "architecture_kwargs", MappingProxyType(copy.deepcopy(dict(self.architecture_kwargs))))
        freeze(self, "card", MappingProxyType(copy.deepcopy(dict(self.card))))
        if self.log_prior_ratio is not None:
            freeze(self, "log_prior_ratio", tuple(float(v) for v in self.log_prior_ratio))

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str]) -> PretrainedBundle:
        """The bundle of a folder written by :func:`save_pretrained` (or a shipped one), named after it.

        Raises:
            ValueError: no readable ``card.json``, an unsupported format version, or a card without the
                fields a bundle needs.
        """
        folder = Path(folder)
        try:
            meta: dict[str, Any] = json.loads((folder / _CARD).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{folder / _CARD}: not a readable model card ({error})") from None
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{folder / _CARD}: unsupported format_version {meta.get('format_version')!r}")
        calibration = meta.get("calibration") or {}
        try:
            return cls(
                name=folder.name,
                weights_path=folder / _WEIGHTS,
                weights_sha256=meta["weights_sha256"],
                architecture=meta["architecture"],
                architecture_kwargs=meta["architecture_kwargs"],
                spec=InputSpec(**meta["input"]),
                card=meta["card"],
                temperature=float(calibration.get("temperature", 1.0)),
                threshold=calibration.get("threshold"),
                log_prior_ratio=calibration.get("log_prior_ratio"),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"{folder / _CARD}: incomplete model card ({error!r})") from None

    def get_model(self, device: str | torch.device = "cpu") -> Classifier:
        """The classifier in eval mode on ``device``.

        The weights file is read once; its bytes must have :attr:`weights_sha256`, are loaded with
        ``torch.load(weights_only=True)`` (tensors only, no pickled code) and go into
        ``build_model(architecture, **architecture_kwargs)`` with ``strict=True``.

        Raises:
            ValueError: the weights file is missing, its sha256 differs, or the weights do not fit the
                architecture (names or shapes).
        """
        try:
            data = self.weights_path.read_bytes()
        except OSError:
            raise ValueError(f"{self.weights_path.parent}: missing {self.weights_path.name}") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.weights_sha256:
            raise ValueError(
                f"{self.weights_path}: sha256 {digest} does not match the card ({self.weights_sha256}); "
                "the file is corrupted or was replaced"
            )
        kwargs = dict(self.architecture_kwargs)
        model = build_model(self.architecture, **kwargs)
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as error:
            message = f"{self.weights_path}: weights do not fit {self.architecture!r}: {error}"
            raise ValueError(message) from None
        classifier = Classifier(
            model,
            self.spec,
            self.architecture,
            kwargs,
            copy.deepcopy(dict(self.card)),
            temperature=self.temperature,
            threshold=self.threshold,
            log_prior_ratio=self.log_prior_ratio,
        )
        return classifier.to(device).eval()


def available_models() -> list[str]:
    """Names of the classifiers shipped in the package, sorted."""
    if not _SHIPPED.is_dir():
        return []
    return sorted(p.name for p in _SHIPPED.iterdir() if (p / _CARD).is_file() and (p / _WEIGHTS).is_file())


def pretrained_bundles() -> dict[str, PretrainedBundle]:
    """The classifiers shipped in the package, as frozen bundles by name (sorted; see
    :func:`available_models`). ``pretrained_bundles()[DEFAULT_MODEL].get_model()`` is
    ``load_pretrained()``.

    Raises:
        ValueError: a shipped card is unreadable or incomplete (a broken installation).
    """
    return {name: PretrainedBundle.from_folder(_SHIPPED / name) for name in available_models()}


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
    name: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu", precision: str = "auto"
) -> Classifier:
    """A classifier in eval mode, from the package (by name) or from a folder written by save_pretrained:
    ``PretrainedBundle.from_folder(...).get_model(device)``.

    Args:
        name: None for :data:`DEFAULT_MODEL`, a name from :func:`available_models`, or a folder path.
        device: where the network is placed.
        precision: the network's arithmetic at inference, "auto" (bfloat16 where ``device`` computes it
            natively, else float32), "float32" or "bfloat16"; see :class:`Classifier`.

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
    classifier = PretrainedBundle.from_folder(folder).get_model(device)
    classifier.precision = precision
    return classifier
