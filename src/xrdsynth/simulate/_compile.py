"""The compile helper of the simulator: per-point stages fused by ``torch.compile``, with an eager fallback.

This is the only module of the simulator with process-wide state: one compiled wrapper per function (so each
is compiled once per process, not once per simulator), and the first compilation failure, after which every
stage runs eagerly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .._errors import warn_at_caller

__all__ = ["compilation_failure", "fused"]

# function -> its compiled wrapper; shared by every simulator of the process.
_FUSED: dict[Callable[..., Any], Callable[..., Any]] = {}
# The first failure's message: once one compilation fails, none is tried again.
_FUSION_FAILED: list[str] = []


def fused(function: Callable[..., Any], enabled: bool) -> Callable[..., Any]:
    """``function`` compiled by torch.compile (one fused loop instead of ~20 passes over memory), or as is.

    Compilation is an optimisation only: if it fails (no C++ compiler, an unsupported platform), the eager
    function is used from then on, with one warning.

    Args:
        function: a function of tensors (and Python scalars) without side effects.
        enabled: False returns ``function`` itself.
    """
    if not enabled or _FUSION_FAILED:
        return function
    if function not in _FUSED:
        compiled = torch.compile(function, dynamic=True)

        def run(*args: Any) -> Any:
            if _FUSION_FAILED:
                return function(*args)
            try:
                return compiled(*args)
            except Exception as exc:  # any failure of the compiler stack: fall back, say so once
                _FUSION_FAILED.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
                warn_at_caller(
                    f"torch.compile failed ({_FUSION_FAILED[0]}); PowderSimulator continues without compile"
                )
                return function(*args)

        _FUSED[function] = run
    return _FUSED[function]


def compilation_failure() -> str | None:
    """The message of the compilation failure that turned fusion off in this process, or None."""
    return _FUSION_FAILED[0] if _FUSION_FAILED else None
