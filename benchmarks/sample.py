"""Crystals per second: xrdsynth's SpaceGroupSampler against PyXtal's random_crystal, in one run.

Both make crystals of the same space groups with the same compositions: the sampler draws a batch (groups
uniform over the 230, compositions from its statistics), and PyXtal is asked for the same group, elements
and atom counts (``pyxtal().from_random(3, group, species, counts)``) one crystal at a time, as the research
code did. PyXtal's attempts that fail (``valid`` False) count in its time but not in its crystals.

    python benchmarks/sample.py [--batch 1024] [--repeats 5] [--pyxtal 150] [--threads 2] [--dtype float32]

Prints crystals/s of both and the ratio, the sampler's redraw counters, and where its time goes. Then the
"sample + simulate" pipeline (:func:`pipeline_patterns_per_second`): patterns/s end to end with the paper's
simulator defaults, and the share of the time each half takes.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
import warnings

import torch

from xrdsynth import CrystalBatch, PowderSimulator
from xrdsynth.sampler import SpaceGroupSampler


def sampler_rate(sampler: SpaceGroupSampler, batch: int, repeats: int) -> tuple[float, CrystalBatch]:
    """Crystals/s of ``sampler.sample(batch)`` over ``repeats`` calls after one warm-up call."""
    sampler.sample(batch)  # tables, first allocations
    sampler.reset_counters()
    start = time.perf_counter()
    for _ in range(repeats):
        last = sampler.sample(batch)
    elapsed = time.perf_counter() - start
    return batch * repeats / elapsed, last


def pyxtal_rate(batch: CrystalBatch, count: int) -> tuple[float, int, int]:
    """Crystals/s of PyXtal on the first ``count`` crystals of ``batch`` (same group and composition).

    Returns (valid crystals per second, valid crystals, attempts).
    """
    from pymatgen.core import Element
    from pyxtal import pyxtal

    valid = 0
    start = time.perf_counter()
    for k in range(min(count, len(batch))):
        numbers = batch.numbers[k][batch.mask[k]].tolist()
        species = sorted(set(numbers))
        counts = [numbers.count(z) for z in species]
        crystal = pyxtal()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                crystal.from_random(
                    3, int(batch.space_group[k]), [Element.from_Z(z).symbol for z in species], counts
                )
            except Exception:  # PyXtal raises assorted errors for compositions it cannot place
                continue
        valid += bool(crystal.valid)
    elapsed = time.perf_counter() - start
    return valid / elapsed, valid, min(count, len(batch))


def time_phases(sampler: SpaceGroupSampler, batch: int) -> dict[str, float]:
    """Seconds spent in each step of one ``sample(batch)`` call, read from a cProfile of the call (cumulative
    time of each step's function; the profiler adds a little to Python-heavy steps)."""
    names = ["draw_composition", "certify", "expand_atoms", "draw_volumes", "draw_lattices", "place_sites"]
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.runcall(sampler.sample, batch)
    spent: dict[str, float] = {"total": time.perf_counter() - start}
    # pstats keys are (file, line, function name); values end with the cumulative time.
    for (file, _, function), row in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        if function in names and f"{os.sep}sampler{os.sep}" in file:
            spent[function] = spent.get(function, 0.0) + row[3]
    spent["other (group draw, output assembly)"] = spent["total"] - sum(
        v for k, v in spent.items() if k != "total"
    )
    return spent


def operator_calls(sampler: SpaceGroupSampler, batch: int) -> int:
    """torch operator calls (dispatched ATen operations) of one ``sample(batch)`` call: what bounds the
    sampler on a GPU, where each call costs a kernel launch whatever its size."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.calls += 1
            return func(*args, **(kwargs or {}))

    with Count():
        sampler.sample(batch)
    return Count.calls


def pipeline_patterns_per_second(
    sampler: SpaceGroupSampler, batch: int, repeats: int, compile: bool = False
) -> tuple[float, float, float]:
    """Patterns/s of sample + simulate end to end, with the paper's defaults.

    ``PowderSimulator(two_theta=(5, 90, 8501), wavelength="CuKa1", crystallite_size_nm=(20, 100))`` in float32
    on the sampler's device; ``sim(sampler.sample(batch))`` is timed over ``repeats`` calls after a warm-up
    (which also compiles, with ``compile``). Returns (pipeline patterns/s, share of the time spent sampling,
    share simulating).
    """
    simulator = PowderSimulator(
        two_theta=(5.0, 90.0, 8501),
        wavelength="CuKa1",
        crystallite_size_nm=(20.0, 100.0),
        device=sampler.device,
        dtype=torch.float32,
        compile=compile,
    )
    simulator(sampler.sample(batch))  # warm-up
    sampling = simulating = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        crystals = sampler.sample(batch)
        middle = time.perf_counter()
        patterns = simulator(crystals)
        if patterns.is_cuda:
            torch.cuda.synchronize()
        end = time.perf_counter()
        sampling += middle - start
        simulating += end - middle
    total = sampling + simulating
    return repeats * batch / total, sampling / total, simulating / total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=1024, help="crystals per sample() call (default 1024)")
    parser.add_argument("--repeats", type=int, default=5, help="timed sample() calls (default 5)")
    parser.add_argument("--pyxtal", type=int, default=150, help="crystals asked of PyXtal (default 150)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch.set_num_threads (default 1); the sampler and the simulator use it only where they "
        "have no num_threads argument (before it existed; since, they run on one thread by default)",
    )
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--compile",
        action="store_true",
        help="PowderSimulator(compile=True) in the sample + simulate pipeline",
    )
    parser.add_argument(
        "--parallel-compositions", type=int, default=None,
        help="SpaceGroupSampler(parallel_compositions=K) (default: the sampler's: 4 off the CPU and for "
        "CPU calls of fewer than 384 crystals, else 1)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    sampler = SpaceGroupSampler(
        seed=args.seed, device=args.device, dtype=dtype, parallel_compositions=args.parallel_compositions
    )
    ours, batch = sampler_rate(sampler, args.batch, args.repeats)
    counters = sampler.counters
    theirs, valid, asked = pyxtal_rate(batch.to("cpu"), args.pyxtal)
    print(f"device {args.device}, {args.threads} torch threads, {args.dtype}, batch {args.batch}")
    print(
        f"xrdsynth SpaceGroupSampler: {ours:,.0f} crystals/s ({args.repeats} x {args.batch}, all 230 groups)"
    )
    print(
        f"PyXtal random_crystal:      {theirs:,.1f} crystals/s ({valid}/{asked} valid, same groups and "
        "compositions)"
    )
    print(f"ratio: {ours / max(theirs, 1e-9):,.0f}x")
    print(f"redraws: {counters.summary()}")
    print(
        f"torch operator calls per sample({args.batch}) call: {operator_calls(sampler, args.batch):,} "
        f"(parallel_compositions={args.parallel_compositions}: None is the sampler's default)"
    )
    phases = time_phases(sampler, args.batch)
    total = phases.pop("total")
    print(f"where the time goes (one call, {total * 1e3:.0f} ms):")
    for name, seconds in sorted(phases.items(), key=lambda item: -item[1]):
        print(f"  {name:38s} {seconds * 1e3:7.1f} ms  {seconds / total:6.1%}")
    rate, sampling, simulating = pipeline_patterns_per_second(sampler, args.batch, args.repeats, args.compile)
    print(
        f"sample + simulate (5-90°, 8501 points, Cu Kα1, Scherrer 20-100 nm, float32 patterns, "
        f"compile={args.compile}): {rate:,.0f} patterns/s; "
        f"time: sampling {sampling:.0%}, simulating {simulating:.0%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
