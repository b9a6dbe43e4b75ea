"""Peak memory of the sampler and the simulator in their default constructors.

    python benchmarks/memory.py [--data ../shared/data/amcsd-dev] [--device cpu|cuda]

Workloads (the simulator is ``PowderSimulator()``: 5–90°, 8501 points, Cu Kα1, float32, eager):

- ``sample 1024``: ``SpaceGroupSampler(seed=0).sample(1024)`` (float64 crystals);
- ``simulate 1024 synthetic``: the simulator on those 1,024 crystals;
- ``simulate 64 amcsd <= 120 atoms``: the 64 amcsd-dev structures with the most atoms among those with at
  most 120 atoms per cell (by the index's atom counts, taking the first 64 that read);
- ``simulate 64 amcsd largest``: the 64 amcsd-dev structures with the most atoms overall.

The amcsd-dev workloads need ``--data``. Inputs are built once by this process and saved to a temporary file.

On the CPU each workload runs in a fresh Python process (tracemalloc does not see torch's allocations): it
imports torch and xrdsynth, loads its input, reads its resident set size (RSS, /proc/self/statm), runs the
call, and reads the peak RSS from ``resource.getrusage`` (ru_maxrss). Printed are the peak RSS of the process
and the increase during the call (peak − RSS before the call), for the first call (which also builds the
simulator's tables and work buffers) and for a second call in the same process (the increase of the peak
above the first; 0 when the second call fits in the memory the first already took). On CUDA the same
workloads run in this process and ``torch.cuda.max_memory_allocated`` minus the memory allocated before the
call is printed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

MIB = 2**20
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * PAGE


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


def largest_structures(data_dir: Path, n: int, max_atoms: int | None):  # type: ignore[no-untyped-def]
    """The ``n`` structures with the most atoms (at most ``max_atoms``, if given) that read."""
    import xrdsynth as xs

    with open(data_dir / "index.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rows = [r for r in rows if max_atoms is None or int(r["n_atoms_cell"]) <= max_atoms]
    rows.sort(key=lambda r: (-int(r["n_atoms_cell"]), r["file"]))
    crystals = []
    for row in rows:
        try:
            crystal = xs.Crystal.from_cif(data_dir / row["file"])
        except xs.CIFError:
            continue
        if max_atoms is None or crystal.num_atoms <= max_atoms:
            crystals.append(crystal)
        if len(crystals) == n:
            break
    return crystals


def child(kind: str, path: str) -> None:
    """One workload in this fresh process; prints one JSON line."""
    import torch

    import xrdsynth as xs

    payload = torch.load(path, weights_only=False) if path else None
    if kind == "sample":

        def call() -> None:
            xs.SpaceGroupSampler(seed=0).sample(1024)

    else:
        batch = payload
        simulator = xs.PowderSimulator()

        def call() -> None:
            with torch.no_grad():
                simulator(batch)

    before = rss_bytes()
    call()
    first_peak = peak_rss_bytes()
    call()
    second_peak = peak_rss_bytes()
    print(
        "RESULT "
        + json.dumps(
            {
                "rss_before": before,
                "peak_rss": second_peak,
                "first_call_increase": first_peak - before,
                "second_call_extra": second_peak - first_peak,
            }
        ),
        flush=True,
    )


def describe(batch) -> str:  # type: ignore[no-untyped-def]
    atoms = batch.mask.sum(1)
    low, high, median = int(atoms.min()), int(atoms.max()), int(atoms.median())
    return f"{len(batch)} crystals, atoms per cell {low}-{high} (median {median})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=None, help="amcsd-dev folder (index.csv, cifs/)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--input", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.input)
        return 0

    import torch

    import xrdsynth as xs

    workloads: list[tuple[str, object | None]] = [("sample 1024", None)]
    workloads.append(("simulate 1024 synthetic", xs.SpaceGroupSampler(seed=0).sample(1024)))
    if args.data is not None:
        workloads.append(("simulate 64 amcsd <= 120 atoms", largest_structures(args.data, 64, 120)))
        workloads.append(("simulate 64 amcsd largest", largest_structures(args.data, 64, None)))
    device = torch.device(args.device)
    print(f"peak memory, {device}; simulator: PowderSimulator() (8501 points, float32, eager)")
    with tempfile.TemporaryDirectory() as folder:
        for name, data in workloads:
            batch = None
            if data is not None:
                batch = data if isinstance(data, xs.CrystalBatch) else xs.CrystalBatch.from_crystals(data)
            what = describe(batch) if batch is not None else "1,024 crystals of SpaceGroupSampler(seed=0)"
            if device.type == "cuda":
                report_cuda(name, what, batch, device)
                continue
            path = ""
            if batch is not None:
                path = str(Path(folder) / "input.pt")
                torch.save(batch, path)
            kind = "sample" if batch is None else "simulate"
            done = subprocess.run(
                [sys.executable, __file__, "--child", kind, "--input", path],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode != 0 or not lines:
                print(f"{name}: failed (exit {done.returncode})\n{done.stderr[-2000:]}")
                continue
            r = json.loads(lines[-1].removeprefix("RESULT "))
            per = len(batch) if batch is not None else 1024
            print(
                f"{name:32s} ({what}): first call +{r['first_call_increase'] / MIB:7.1f} MiB "
                f"({r['first_call_increase'] / per / 1024:6.1f} KiB per pattern), second call "
                f"+{r['second_call_extra'] / MIB:.1f} MiB more; process peak {r['peak_rss'] / MIB:.0f} MiB "
                f"(RSS before the call {r['rss_before'] / MIB:.0f} MiB)",
                flush=True,
            )
    return 0


def report_cuda(name: str, what: str, batch, device) -> None:  # type: ignore[no-untyped-def]
    import torch

    import xrdsynth as xs

    if batch is None:
        sampler = xs.SpaceGroupSampler(seed=0, device=device)

        def call() -> None:
            sampler.sample(1024)

        per = 1024
    else:
        simulator = xs.PowderSimulator(device=device)
        batch = batch.to(device)

        def call() -> None:
            with torch.no_grad():
                simulator(batch)

        per = len(batch)
    for label in ("first call", "second call"):
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        call()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
        print(
            f"{name:32s} ({what}): {label} peak +{peak / MIB:7.1f} MiB "
            f"({peak / per / 1024:.1f} KiB per pattern)"
        )


if __name__ == "__main__":
    sys.exit(main())
