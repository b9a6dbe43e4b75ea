"""Torch's intra-op thread count during one call of the library's CPU work.

The simulator and the sampler run many small and medium tensor operations. With one intra-op thread per
process they are nearly as fast as with two on a quiet 2-core machine, and they do not slow down when another
process keeps a core busy; with one thread per core, every parallel operation waits at a barrier for a thread
that the operating system has not scheduled, and calls took 4-6x longer next to a single busy process
(benchmarks/contention.py). So they use one thread by default and leave scaling to processes (data-loader
workers); ``num_threads=None`` keeps torch's own setting.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

__all__ = ["check_num_threads", "in_own_threads", "intra_op_threads"]

T = TypeVar("T")


def check_num_threads(num_threads: int | None) -> int | None:
    """``num_threads`` as an int >= 1, or None (torch's setting).

    Raises:
        ValueError: anything else (a bool, a float, zero, a negative number).
    """
    if num_threads is None:
        return None
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be a positive int or None (torch's setting), got {num_threads!r}")
    return num_threads


@contextmanager
def intra_op_threads(num_threads: int | None, device: torch.device) -> Iterator[None]:
    """Run the body with ``num_threads`` torch intra-op threads on the CPU, then restore the previous count.

    Nothing changes for None, for another device, or when torch already uses that many. The count is torch's
    (OpenMP's) for the calling thread; threads that start inside the body inherit it.
    """
    if num_threads is None or device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    if previous == num_threads:
        yield
        return
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def in_own_threads(method: Callable[..., T]) -> Callable[..., T]:
    """Decorate a method of an object with ``num_threads`` and ``device`` attributes to run in
    :func:`intra_op_threads` (objects pickled before ``num_threads`` existed get 1)."""

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> T:
        with intra_op_threads(getattr(self, "num_threads", 1), torch.device(self.device)):
            return method(self, *args, **kwargs)

    return run
