"""Feed xrdsynth.io.read_pattern malformed input and count the outcomes.

    python scripts/malformed_input_sweep.py DATA_DIR [--seed 0] [--flips 20]

Inputs, all written to a temporary folder: every file of DATA_DIR (e.g. tests/data/pattern-files) cut at
1 byte, 1%, 10%, 25%, 50%, 75%, 90%, 99% and one byte short; each with --flips variants of 1-16 random bytes
overwritten (seeded); random bytes and random text of several sizes; zip archives that are not instrument
files (empty, a README, a RawData0.xml that is not XML, members that inflate beyond the size cap, a member
whose header lies about its size); XML with an entity-expansion bomb; Bruker RAW headers claiming 4e9 steps;
and a 1 GiB sparse file.

Outcomes: "pattern" (a MeasuredPattern came out: a cut text file still holds data; a flipped byte in the
counts changes a count), "PatternFileError" (refused with a message naming the file), "internal reader
error" (a PatternFileError wrapping an exception a reader did not foresee), "other exception" and "over
time" (more than --limit seconds of CPU time: CPU, not wall time, so that a busy machine does not count).
Only the first two are acceptable; the script exits 1 otherwise. It also prints the slowest case and the
peak memory of the process.
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import resource
import signal
import struct
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np

from xrdsynth.io import PatternFileError, read_pattern

CUTS = (0.01, 0.10, 0.25, 0.50, 0.75, 0.90, 0.99)


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Timeout


def _cases(data_dir: Path, rng: np.random.Generator, flips: int) -> list[tuple[str, str, bytes]]:
    """(group, name, content) for every malformed input."""
    cases: list[tuple[str, str, bytes]] = []
    files = sorted(p for p in data_dir.rglob("*") if p.is_file() and p.parent.name != "licenses")
    files = [p for p in files if p.name not in ("SOURCES.csv", "README.md")]
    for path in files:
        data = path.read_bytes()
        stem = f"{path.parent.name}/{path.name}"
        lengths = sorted({1, len(data) - 1, *(int(len(data) * c) for c in CUTS)})
        for n in lengths:
            if 0 < n < len(data):
                cases.append(("truncated", f"{stem}[:{n}]", data[:n]))
        for k in range(flips):
            corrupt = bytearray(data)
            count = int(rng.integers(1, 17))
            where = rng.integers(0, len(data), size=count)
            corrupt_values = rng.integers(0, 256, size=count, dtype=np.uint8)
            for i, v in zip(where, corrupt_values, strict=True):
                corrupt[int(i)] = int(v)
            cases.append(("bytes overwritten", f"{stem} flip#{k}", bytes(corrupt)))
    for size in (1, 7, 100, 4096, 100_000, 2_000_000):
        for seed in range(3):
            noise = np.random.default_rng([size, seed]).integers(0, 256, size=size, dtype=np.uint8).tobytes()
            cases.append(("random bytes", f"random {size} B #{seed}", noise))
            text = (
                np.random.default_rng([size, seed, 1]).integers(32, 127, size=size, dtype=np.uint8).tobytes()
            )
            cases.append(("random text", f"random text {size} B #{seed}", text))
    for magic in (b"RAW ", b"RAW2", b"RAW1.01", b"RAW4.00", b"PK\x03\x04", b"<?xml", b"*RAS_DATA_START\n"):
        cases.append(
            (
                "magic + random",
                f"{magic!r} + random",
                magic + rng.integers(0, 256, 3000).astype(np.uint8).tobytes(),
            )
        )

    def archive(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression) as z:
            for name, content in members.items():
                z.writestr(name, content)
        return buffer.getvalue()

    zeros = bytes(80 * 2**20)  # inflates beyond the 64 MiB member cap; compresses to ~80 kB
    cases += [
        ("zip", "empty zip", archive({})),
        ("zip", "zip with a README", archive({"README.txt": b"hello"})),
        ("zip", "RawData0.xml not XML", archive({"Experiment0/RawData0.xml": b"not xml at all"})),
        ("zip", "RawData0.xml without routes", archive({"Experiment0/RawData0.xml": b"<RawData/>"})),
        ("zip", "Profile0.txt of words", archive({"Data0/Profile0.txt": b"a b c\n"})),
        ("zip", "RawData0.xml inflating to 80 MiB", archive({"Experiment0/RawData0.xml": zeros})),
        ("zip", "Profile0.txt inflating to 80 MiB", archive({"Data0/Profile0.txt": zeros})),
    ]
    lying = bytearray(archive({"Data0/Profile0.txt": b"10 1\n11 2\n" * 1000}))
    central = lying.rfind(b"PK\x01\x02")
    struct.pack_into("<I", lying, central + 24, 10)  # the central directory claims 10 bytes inflated
    cases.append(("zip", "member size header lies", bytes(lying)))
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
            for i in range(1, 10)
        )
        + b']><xrdMeasurements xmlns="http://www.xrdml.com/XRDMeasurement/1.5">&lol9;</xrdMeasurements>'
    )
    cases.append(("xml", "entity-expansion bomb", bomb))
    raw4 = bytearray(b"RAW4.00" + bytes(54) + struct.pack("<I", 0) + bytes(156))
    struct.pack_into("<I", raw4, 61 + 88, 2**32 - 1)
    struct.pack_into("<I", raw4, 61 + 136, 4)
    cases.append(("raw header", "RAW4 range of 4e9 steps", bytes(raw4)))
    raw3 = bytearray(b"RAW1.01" + bytes(705) + bytes(304))
    struct.pack_into("<I", raw3, 12, 1)
    struct.pack_into("<II", raw3, 712, 304, 2**32 - 1)
    cases.append(("raw header", "RAW1.01 range of 4e9 steps", bytes(raw3)))
    raw2 = bytearray(b"RAW2" + struct.pack("<H", 65535) + bytes(400))
    cases.append(("raw header", "RAW2 claiming 65535 ranges", bytes(raw2)))
    raw1 = bytearray(b"RAW " + struct.pack("<I", 2**32 - 1) + bytes(200))
    cases.append(("raw header", "RAW v1 range of 4e9 steps", bytes(raw1)))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, nargs="?", default=Path("tests/data/pattern-files"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flips", type=int, default=20, help="byte-overwrite variants per file")
    parser.add_argument("--limit", type=float, default=10.0, help="CPU seconds one read may take")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    cases = _cases(args.data_dir, rng, args.flips)
    signal.signal(signal.SIGPROF, _alarm)

    outcomes: collections.Counter[tuple[str, str]] = collections.Counter()
    totals: collections.Counter[str] = collections.Counter()
    problems: list[str] = []
    slowest = (0.0, "")
    largest = (0, "")
    tracemalloc.start()
    with tempfile.TemporaryDirectory() as folder:
        for index, (group, name, content) in enumerate(cases):
            path = Path(folder) / f"case{index}{Path(name.split('[')[0].split(' ')[0]).suffix}"
            path.write_bytes(content)
            tracemalloc.reset_peak()
            start = time.process_time()
            signal.setitimer(signal.ITIMER_PROF, args.limit)
            try:
                read_pattern(path)
                outcome = "pattern"
            except _Timeout:
                outcome = "over time"
            except PatternFileError as error:
                message = str(error)
                outcome = (
                    "internal reader error" if "internal reader error" in message else "PatternFileError"
                )
                if not message.startswith(str(path)):
                    outcome = "PatternFileError without the file name"
            except Exception as error:  # the sweep exists to find these
                outcome = "other exception"
                problems.append(f"{name}: {type(error).__name__}: {error}")
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
            elapsed = time.process_time() - start
            slowest = max(slowest, (elapsed, name))
            largest = max(largest, (tracemalloc.get_traced_memory()[1], name))
            if outcome not in ("pattern", "PatternFileError"):
                problems.append(f"{name}: {outcome}")
            outcomes[(group, outcome)] += 1
            totals[outcome] += 1
            path.unlink()
        huge = Path(folder) / "huge.xy"
        with huge.open("wb") as handle:
            handle.truncate(2**30)  # sparse: 1 GiB on paper, nothing on disk
        start = time.process_time()
        try:
            read_pattern(huge)
            outcome = "pattern"
        except PatternFileError:
            outcome = "PatternFileError"
        except Exception as error:
            outcome = "other exception"
            problems.append(f"1 GiB file: {type(error).__name__}: {error}")
        outcomes[("huge file", outcome)] += 1
        totals[outcome] += 1
        slowest = max(slowest, (time.process_time() - start, "1 GiB file"))

    groups = sorted({g for g, _ in outcomes})
    columns = ["pattern", "PatternFileError", "internal reader error", "other exception", "over time"]
    columns += sorted({o for _, o in outcomes} - set(columns))
    print(f"{'input':<20}" + "".join(f"{c:>24}" for c in columns) + f"{'total':>8}")
    for group in groups:
        counts = [outcomes[(group, c)] for c in columns]
        print(f"{group:<20}" + "".join(f"{n:>24}" for n in counts) + f"{sum(counts):>8}")
    print(f"{'all':<20}" + "".join(f"{totals[c]:>24}" for c in columns) + f"{sum(totals.values()):>8}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(f"\nslowest case: {slowest[1]} ({slowest[0]:.2f} s of CPU)")
    print(
        f"most memory allocated by one read: {largest[1]} ({largest[0] / 2**20:.1f} MiB, tracemalloc peak); "
        f"peak RSS of the whole process, inputs included: {peak:.0f} MiB"
    )
    for line in problems[:30]:
        print(f"  PROBLEM: {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
