"""What the first call of a compiled PowderSimulator costs, in a fresh process, with and without the compile
caches of an earlier process.

    python benchmarks/first_call.py [--data ../shared/data/amcsd-dev] [--processes 3]

Each process builds ``PowderSimulator(compile=True)`` and times its first call (compilation included), its
second, and the median of five more, on 64 crystals (a seeded choice of amcsd-dev structures with at most
120 atoms when ``--data`` is given, else 64 crystals of ``SpaceGroupSampler(seed=0)``); one eager simulator is
timed the same way for reference. The first process starts with an empty cache folder
(``TORCHINDUCTOR_CACHE_DIR``, a fresh temporary folder), the later ones reuse what it left there, as a
second run of a user's script on the same machine does (torch keeps its caches in that folder, by default
under the system's temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, statistics, sys, time
import torch
import xrdsynth as xs
sys.path.insert(0, {bench!r})
from contention import choose_structures
data = {data!r}
crystals = choose_structures(__import__("pathlib").Path(data)) if data else None
batch = xs.CrystalBatch.from_crystals(crystals) if crystals else xs.SpaceGroupSampler(seed=0).sample(64)
out = {{}}
for name, compile in (("eager", False), ("compiled", True)):
    simulator = xs.PowderSimulator(compile=compile)
    times = []
    for _ in range(7):
        start = time.perf_counter()
        with torch.no_grad():
            simulator(batch)
        times.append(time.perf_counter() - start)
    out[name] = {{"first_s": times[0], "second_s": times[1], "warm_s": statistics.median(times[2:])}}
print("RESULT " + json.dumps(out), flush=True)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=None, help="amcsd-dev folder (index.csv, cifs/)")
    parser.add_argument("--processes", type=int, default=3, help="fresh processes in a row (default 3)")
    args = parser.parse_args(argv)
    bench = str(Path(__file__).resolve().parent)
    code = CHILD.format(bench=bench, data=str(args.data) if args.data else "")
    with tempfile.TemporaryDirectory(prefix="xrdsynth-inductor-") as cache:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
        for k in range(args.processes):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode != 0 or not lines:
                print(f"process {k + 1} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
                return 1
            result = json.loads(lines[-1].removeprefix("RESULT "))
            label = "empty cache" if k == 0 else "cache of the earlier process"
            print(f"process {k + 1} ({label}; {time.perf_counter() - start:.1f} s in all):")
            for name, t in result.items():
                print(
                    f"  {name:<9} first call {t['first_s']:7.3f} s, second {t['second_s'] * 1e3:7.1f} ms, "
                    f"warm {t['warm_s'] * 1e3:6.1f} ms"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
