"""Architectures are frozen versions: a registered name never changes once weights may depend on it.

A change to a registered architecture's layers (or to anything that decides its parameters or its output
for given weights) must be registered under a new name, ``<family>-v2``, ``-v3``, ..., next to the old one
(docs/architecture.md, "An architecture"). These tests fail when an architecture is edited in place:

- every registered name has a fingerprint below: the module tree (torch layer types with their kernel
  sizes, strides, padding, groups, normalisation settings) and every parameter and buffer name, shape and
  dtype, built with the default keyword arguments;
- the shipped weights have the sha256 their bundle records, load with ``strict=True`` into the architecture
  their card names, and that configuration has its own fingerprint;
- the shipped network's answers on fixed closed-form input patterns (sums of Gaussian peaks) are those it
  gave when its architecture was frozen. No closed-form property pins a trained network's output (its
  GroupNorms are not exactly scale-invariant because of their eps), so these are recorded top-1 classes,
  each checked to lead by a clear margin so that rounding cannot flip them.

A new architecture needs its fingerprint added here; an existing fingerprint is never edited.
"""

from __future__ import annotations

import hashlib
import math
import re

import pytest
import torch
from torch import nn

from xrdsynth.models import ARCHITECTURES, DEFAULT_MODEL, build_model, pretrained_bundles

# Registered name -> fingerprint of the network built with the default keyword arguments.
FINGERPRINTS = {
    "resnet10": "1e42b199c5b60390",
    "resnet18": "ecd2060bb87f59da",
    "resnet50": "27cce6078b79225e",
    "resnet101": "752b10dc9f5a95b1",
    "park2017": "d8b28ecea2d58d31",
    "convnext": "398e4e161f9df8c7",
}
# Shipped bundle -> (architecture, sha256 of weights.pt, fingerprint of the architecture with the card's
# keyword arguments). Shipping other weights means a new entry here (and a CHANGELOG line when a name keeps
# its name with new weights, as the default model does when it is retrained).
SHIPPED = {
    "xrdsynth-resnet-cu": (
        "resnet10",
        "98ca3f722e9671d6187a7d81319927bcd9db9a8670d61d660cf92fb5f177a3bb",
        "a7d83e7ef44cd629",
    ),
}
# Probe patterns (peak positions in degrees 2θ, relative heights) on the shipped model's grid, and the
# group its network ranks first for each (recorded from the shipped weights; retrained weights record theirs).
# A probe needs a clear first answer: the six equally spaced peaks of the probes until 2026-12-06 swung
# between 221 and 227 from one set of weights to the next and were tied (a margin of 0.05) under the weights
# shipped in session 40, so an fcc metal's pattern replaced them.
PROBES = {
    # The first four reflections of an fcc metal at Cu Kα1 (copper: 111, 200, 220, 311).
    "fcc metal": ((43.3, 50.4, 74.1, 89.9), (1.0, 0.46, 0.2, 0.17), 225),
    "five peaks": ((25.3, 36.1, 44.0, 54.3, 56.6), (1.0, 0.6, 0.4, 0.5, 0.2), 194),
    "four peaks": ((28.4, 32.9, 47.3, 56.1), (1.0, 0.3, 0.6, 0.5), 194),
}
PROBE_FWHM = 0.15  # degrees 2θ
# A family name, then "-v2", "-v3", ... for later versions (version 1 has no suffix).
NAME = re.compile(r"(?P<family>[a-z][a-z0-9]*)(-v(?P<version>[2-9]|[1-9][0-9]+))?")
# Module settings that decide parameters or outputs (torch layers keep them as attributes).
SETTINGS = (
    "in_channels", "out_channels", "in_features", "out_features", "kernel_size", "stride", "padding",
    "dilation", "groups", "padding_mode", "num_groups", "num_channels", "normalized_shape", "eps", "affine",
    "elementwise_affine", "ceil_mode", "count_include_pad", "approximate",
)  # fmt: skip


def describe(model: nn.Module) -> str:
    """The module tree (torch layers by type and settings; xrdsynth's own blocks as "-", so that renaming a
    private class is not a change) and every state_dict entry with its shape and dtype."""
    lines = []
    for name, module in model.named_modules():
        kind = type(module).__name__ if type(module).__module__.startswith("torch.nn") else "-"
        settings = [(key, getattr(module, key)) for key in SETTINGS if hasattr(module, key)]
        lines.append(f"{name or '.'}: {kind} {settings}")
    for name, tensor in model.state_dict().items():
        lines.append(f"{name}: {tuple(tensor.shape)} {tensor.dtype}")
    return "\n".join(lines)


def fingerprint(name: str, **kwargs) -> str:
    with torch.device("meta"):  # shapes only: nothing allocated, nothing initialised
        model = build_model(name, **kwargs)
    return hashlib.sha256(describe(model).encode()).hexdigest()[:16]


def test_every_registered_architecture_has_a_fingerprint() -> None:
    new = sorted(set(ARCHITECTURES) - set(FINGERPRINTS))
    assert not new, f"add the fingerprint of each new architecture to FINGERPRINTS: {new}"
    gone = sorted(set(FINGERPRINTS) - set(ARCHITECTURES))
    assert not gone, f"registered architectures disappeared (saved models name them): {gone}"


@pytest.mark.parametrize("name", sorted(FINGERPRINTS))
def test_registered_architectures_are_not_edited_in_place(name: str) -> None:
    assert fingerprint(name) == FINGERPRINTS[name], (
        f"{name!r} changed: saved weights depend on it. Restore it and register the change as a new version "
        f"(e.g. {NAME.fullmatch(name)['family']}-v2), see docs/architecture.md"
    )


def test_architecture_names_are_versions() -> None:
    versions: dict[str, set[int]] = {}
    for name in ARCHITECTURES:
        match = NAME.fullmatch(name)
        assert match, f"{name!r}: a family name (a-z, 0-9) with an optional -v2, -v3, ... suffix"
        versions.setdefault(match["family"], set()).add(int(match["version"] or 1))
    for family, numbers in versions.items():
        assert numbers == set(range(1, max(numbers) + 1)), f"{family}: versions {sorted(numbers)} have a gap"


def test_the_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        ARCHITECTURES["resnet10"] = nn.Identity  # type: ignore[index]


@pytest.mark.parametrize("bundle_name", sorted(SHIPPED))
def test_shipped_weights_load_strictly_into_their_frozen_architecture(bundle_name: str) -> None:
    bundle = pretrained_bundles()[bundle_name]
    architecture, sha256, configured = SHIPPED[bundle_name]
    assert bundle.architecture == architecture and architecture in FINGERPRINTS
    assert bundle.weights_sha256 == sha256
    assert hashlib.sha256(bundle.weights_path.read_bytes()).hexdigest() == sha256
    assert fingerprint(architecture, **bundle.architecture_kwargs) == configured
    state = torch.load(bundle.weights_path, map_location="cpu", weights_only=True)
    model = build_model(architecture, **bundle.architecture_kwargs)
    expected = {key: tuple(t.shape) for key, t in model.state_dict().items()}
    assert {key: tuple(t.shape) for key, t in state.items()} == expected
    model.load_state_dict(state, strict=True)


def test_the_shipped_network_gives_its_recorded_answers_on_probe_patterns() -> None:
    classifier = pretrained_bundles()[DEFAULT_MODEL].get_model()
    grid = torch.tensor(classifier.spec.two_theta)
    patterns = []
    for centres, heights, _ in PROBES.values():
        offsets = (grid - torch.tensor(centres, dtype=grid.dtype)[:, None]) / PROBE_FWHM  # (peaks, P)
        amplitude = torch.tensor(heights, dtype=grid.dtype)[:, None]
        y = (amplitude * torch.exp(-4.0 * math.log(2.0) * offsets**2)).sum(0)
        patterns.append(y / y.max())
    x = torch.stack(patterns).float()
    with torch.no_grad():
        logits = classifier(x)
        # Each pattern alone gives its row of the batch (GroupNorm normalises per pattern).
        alone = torch.cat([classifier(x[i : i + 1]) for i in range(len(x))])
    torch.testing.assert_close(alone, logits, atol=1e-4, rtol=1e-4)
    top = logits.topk(2, dim=1)
    for (name, (_, _, group)), values, indices in zip(PROBES.items(), top.values, top.indices, strict=True):
        assert float(values[0] - values[1]) > 0.1, f"{name}: no clear first answer, choose another probe"
        assert int(indices[0]) + 1 == group, f"{name}: the shipped network's answer changed"
