"""Speed under contention: the simulator and sample + simulate on a quiet machine and next to a busy process.

    python benchmarks/contention.py [--data ../shared/data/amcsd-dev] [--rounds 5] [--settings default,t1,...]

For each thread setting (below), a fresh Python process (thread settings must be made before torch starts its
thread pools) times two workloads, both in default constructors:

- ``simulate``: ``PowderSimulator()(batch)`` on 64 structures: a seeded choice among the amcsd-dev
  structures with at most 120 atoms when ``--data`` is given, else 64 crystals of
  ``SpaceGroupSampler(seed=0)``;
- ``pipeline``: ``PowderSimulator()(SpaceGroupSampler(seed=0).sample(256))``, the issue's batch of 256.

Rounds alternate a quiet phase and a contended phase, in which the child process starts another Python
process that spins on one core (``while True: pass``, at the same nice level) and stops it afterwards. Per
workload and phase the median call time over all rounds is taken (and the slowest call); the slowdown is
contended / quiet. A setting keeps the slowdown <= 3x when both workloads do (median).

Settings (``--settings``, comma separated; default all):

- ``default``: nothing set: the constructors' defaults (since they have ``num_threads``, one intra-op thread
  during each call; torch itself keeps one thread per core);
- ``torch-default``: ``num_threads=None`` (the calls use torch's setting, one thread per core: the library's
  default before ``num_threads``);
- ``t1`` / ``t2``: ``torch.set_num_threads(1 / 2)`` (with ``num_threads=None``, as all settings below);
- ``t1-interop1``: one intra-op and one inter-op thread;
- ``omp1``: ``OMP_NUM_THREADS=1`` in the environment (the same as ``t1`` through the environment);
- ``t2-passive``: two threads with ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP threads sleep instead of spin);

On a machine where other jobs run, the quiet phase is not quiet; the printed figures say so only if you
write it down (``--note``), so do.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

SETTINGS: dict[str, dict] = {
    "default": {"env": {}, "threads": None, "interop": None, "own_threads": True},
    "torch-default": {"env": {}, "threads": None, "interop": None, "own_threads": False},
    "t1": {"env": {}, "threads": 1, "interop": None, "own_threads": False},
    "t2": {"env": {}, "threads": 2, "interop": None, "own_threads": False},
    "t1-interop1": {"env": {}, "threads": 1, "interop": 1, "own_threads": False},
    "omp1": {"env": {"OMP_NUM_THREADS": "1"}, "threads": None, "interop": None, "own_threads": False},
    "t2-passive": {
        "env": {"OMP_WAIT_POLICY": "PASSIVE"},
        "threads": 2,
        "interop": None,
        "own_threads": False,
    },
}
SLOWDOWN_TARGET = 3.0
MAX_ATOMS = 120
N_STRUCTURES = 64
PIPELINE_BATCH = 256
# Spins on one core; stops by itself when its parent (the measuring process) is gone.
BUSY = (
    "import os\n"
    "parent = os.getppid()\n"
    "while os.getppid() == parent:\n"
    "    for _ in range(1_000_000):\n"
    "        pass\n"
)


def choose_structures(data_dir: Path, n: int = N_STRUCTURES, seed: int = 0):  # type: ignore[no-untyped-def]
    """``n`` amcsd-dev structures with at most MAX_ATOMS atoms per cell, a seeded choice."""
    import numpy as np

    import xrdsynth as xs

    with open(data_dir / "index.csv", newline="", encoding="utf-8") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda r: r["file"])
    rows = [r for r in rows if 0 < int(r["n_atoms_cell"]) <= MAX_ATOMS]
    crystals = []
    for i in np.random.default_rng(seed).permutation(len(rows)):
        try:
            crystal = xs.Crystal.from_cif(data_dir / rows[i]["file"])
        except xs.CIFError:
            continue
        if crystal.num_atoms <= MAX_ATOMS:
            crystals.append(crystal)
        if len(crystals) == n:
            break
    return crystals


def child(args: argparse.Namespace) -> None:
    """Measure one setting in this process and print one JSON line."""
    setting = SETTINGS[args.child]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that the busy process is stopped (finally)
    import torch

    if setting.get("interop") is not None:
        torch.set_num_interop_threads(setting["interop"])
    if setting.get("threads") is not None:
        torch.set_num_threads(setting["threads"])
    import xrdsynth as xs

    if args.data is not None:
        batch = xs.CrystalBatch.from_crystals(choose_structures(args.data))
        source = f"{N_STRUCTURES} amcsd-dev structures (<= {MAX_ATOMS} atoms, seeded choice)"
    else:
        batch = xs.SpaceGroupSampler(seed=0).sample(N_STRUCTURES)  # the batch is made before timing
        source = f"{N_STRUCTURES} crystals of SpaceGroupSampler(seed=0)"
    # Settings of torch's threads need the library to use torch's setting (num_threads=None, where it exists).
    own = {}
    if not setting["own_threads"] and "num_threads" in inspect.signature(xs.PowderSimulator).parameters:
        own = {"num_threads": None}
    simulator = xs.PowderSimulator(**own)
    sampler = xs.SpaceGroupSampler(seed=0, **own)

    def simulate() -> None:
        with torch.no_grad():
            simulator(batch)

    def pipeline() -> None:
        with torch.no_grad():
            simulator(sampler.sample(PIPELINE_BATCH))

    work = {"simulate": (simulate, args.calls), "pipeline": (pipeline, max(1, args.calls // 2))}
    for function, _ in work.values():  # warm-up
        function()
        function()
    times: dict[str, dict[str, list[float]]] = {
        phase: {name: [] for name in work} for phase in ("quiet", "contended")
    }
    for _ in range(args.rounds):
        for phase in ("quiet", "contended"):
            busy = None
            if phase == "contended":
                busy = subprocess.Popen([sys.executable, "-c", BUSY])
                time.sleep(0.3)  # let the scheduler place it
            try:
                for name, (function, calls) in work.items():
                    for _ in range(calls):
                        start = time.perf_counter()
                        function()
                        times[phase][name].append(time.perf_counter() - start)
            finally:
                if busy is not None:
                    busy.terminate()
                    busy.wait()
    result = {
        "setting": args.child,
        "source": source,
        "torch_threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "env": setting["env"],
        "times": times,
    }
    print("RESULT " + json.dumps(result), flush=True)


def summarise(result: dict) -> dict:
    out = {}
    for name in ("simulate", "pipeline"):
        quiet = result["times"]["quiet"][name]
        busy = result["times"]["contended"][name]
        items = N_STRUCTURES if name == "simulate" else PIPELINE_BATCH
        out[name] = {
            "quiet_median_s": statistics.median(quiet),
            "contended_median_s": statistics.median(busy),
            "quiet_max_s": max(quiet),
            "contended_max_s": max(busy),
            "slowdown_median": statistics.median(busy) / statistics.median(quiet),
            "slowdown_worst": max(busy) / statistics.median(quiet),
            "quiet_patterns_per_s": items / statistics.median(quiet),
            "contended_patterns_per_s": items / statistics.median(busy),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=None, help="amcsd-dev folder (index.csv, cifs/)")
    parser.add_argument("--rounds", type=int, default=5, help="quiet/contended rounds per setting")
    parser.add_argument("--calls", type=int, default=4, help="simulate calls per phase (pipeline: half)")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated settings")
    parser.add_argument("--json", type=Path, default=None, help="write the results to this JSON file")
    parser.add_argument("--note", default="", help="free text printed and stored (machine, load, date)")
    parser.add_argument("--child", choices=list(SETTINGS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    names = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = [s for s in names if s not in SETTINGS]
    if unknown:
        parser.error(f"unknown settings {unknown}; known: {', '.join(SETTINGS)}")
    print(f"{os.cpu_count()} cores; {args.rounds} rounds; busy process: one spinning Python. {args.note}")
    results = []
    for name in names:
        env = {**os.environ, **SETTINGS[name]["env"]}
        command = [sys.executable, __file__, "--child", name, "--rounds", str(args.rounds)]
        command += ["--calls", str(args.calls)] + (["--data", str(args.data)] if args.data else [])
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            print(f"{name}: failed (exit {done.returncode})\n{done.stderr[-2000:]}")
            continue
        result = json.loads(lines[-1].removeprefix("RESULT "))
        result["summary"] = summarise(result)
        results.append(result)
        s = result["summary"]
        ok = all(s[w]["slowdown_median"] <= SLOWDOWN_TARGET for w in ("simulate", "pipeline"))
        print(
            f"{name:12s} (torch threads {result['torch_threads']}, inter-op {result['interop_threads']}"
            f"{', ' + str(result['env']) if result['env'] else ''}): "
            + "; ".join(
                f"{w} quiet {s[w]['quiet_median_s'] * 1e3:7.1f} ms ({s[w]['quiet_patterns_per_s']:,.0f}/s), "
                f"contended {s[w]['contended_median_s'] * 1e3:7.1f} ms, "
                f"slowdown {s[w]['slowdown_median']:.2f}x "
                f"(worst call {s[w]['slowdown_worst']:.1f}x)"
                for w in ("simulate", "pipeline")
            )
            + f"  -> {'<= 3x' if ok else 'ABOVE 3x'}",
            flush=True,
        )
    if results:
        print(f"source: {results[0]['source']}; pipeline: sample({PIPELINE_BATCH}) + simulate")
    if args.json is not None:
        args.json.write_text(json.dumps({"note": args.note, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
