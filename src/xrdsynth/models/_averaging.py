"""Weight averaging: one classifier whose parameters are the mean of several of the same network.

Snapshots of one training run taken late in its learning-rate schedule lie in one basin of the loss; their
mean (stochastic weight averaging, Izmailov et al. 2018) sits nearer its centre than any of them and
usually generalises better, at no cost at inference. The networks here use GroupNorm and LayerNorm, which
keep no running statistics, so the averaged weights need no recalibration pass over data.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch

from ._classifier import Classifier

__all__ = ["average_classifiers"]


def average_classifiers(classifiers: Sequence[Classifier]) -> Classifier:
    """A new classifier whose floating-point parameters and buffers are the mean of those of ``classifiers``.

    All must share the architecture, its keyword arguments and the input specification (the same network
    reading the same input); average only snapshots of one run (or of runs started from one network):
    the weights of independently trained networks are not aligned and their mean is meaningless.

    The result takes the last classifier's calibration (temperature, threshold, prior correction: refit it
    for the averaged network) and card (of a run's snapshots in order, the latest), with
    ``"weight_average"`` added: the number of networks averaged and their cards' ``steps`` (None where a
    card has none). Its network is on the CPU, in float32, in eval mode.

    Args:
        classifiers: one or more classifiers (a single one is copied unchanged).

    Raises:
        ValueError: no classifier, classifiers of different architectures or inputs, or integer buffers
            that differ.
    """
    if len(classifiers) == 0:
        raise ValueError("average_classifiers needs at least one classifier")
    first = classifiers[0]
    for k, other in enumerate(classifiers[1:], start=1):
        for what in ("architecture", "architecture_kwargs", "spec"):
            if getattr(other, what) != getattr(first, what):
                raise ValueError(
                    f"classifier {k} differs from classifier 0 in its {what}: "
                    f"{getattr(other, what)!r} against {getattr(first, what)!r}"
                )
    states = [{name: t.detach().cpu() for name, t in c.model.state_dict().items()} for c in classifiers]
    averaged: dict[str, torch.Tensor] = {}
    for name, reference in states[0].items():
        # Equal architecture and keyword arguments (checked above) give equal shapes.
        tensors = [s[name] for s in states]
        if reference.is_floating_point():
            # Summed in float64 so that the mean of many snapshots does not depend on their order.
            total = torch.stack([t.to(torch.float64) for t in tensors]).sum(dim=0)
            averaged[name] = (total / len(tensors)).to(torch.float32)
        else:
            # Integer buffers (counters) cannot be averaged; they must agree.
            if any(not torch.equal(t, reference) for t in tensors):
                raise ValueError(f"integer buffer {name!r} differs between the classifiers")
            averaged[name] = reference.clone()
    last = classifiers[-1]
    model = copy.deepcopy(last.model).to(device="cpu", dtype=torch.float32)
    model.load_state_dict(averaged, strict=True)
    card: dict[str, Any] = copy.deepcopy(last.card)
    card["weight_average"] = {
        "networks": len(classifiers),
        "steps": [c.card.get("steps") for c in classifiers],
    }
    return Classifier(
        model,
        last.spec,
        last.architecture,
        last.architecture_kwargs,
        card=card,
        temperature=last.temperature,
        threshold=last.threshold,
        log_prior_ratio=last.log_prior_ratio,
        precision=last.precision,
    ).eval()
