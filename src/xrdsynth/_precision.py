"""Whether a device computes bfloat16 natively, which decides whether bfloat16 is worth using there."""

from __future__ import annotations

import torch

__all__ = ["native_bfloat16"]


def native_bfloat16(device: torch.device | str) -> bool:
    """Whether ``device`` computes bfloat16 convolutions natively (and so faster than float32): a CPU with
    AVX512-BF16 or AMX instructions, or a GPU that supports bfloat16. Elsewhere torch emulates bfloat16 on a
    CPU, much slower than float32 (a training step 13x on an AVX2 EPYC, benchmarks/train_step.py)."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        # torch has no public query for these instruction sets; a torch without the probes gets float32.
        names = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        probes = [getattr(torch.cpu, name, None) for name in names]
        return any(bool(probe()) for probe in probes if probe is not None)
    return False
