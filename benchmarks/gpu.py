"""GPU check: CUDA against CPU, and patterns per second of every stage, in one command under 8 minutes.

    python benchmarks/gpu.py --out benchmarks/results.json              # the real run, on a CUDA device
    python benchmarks/gpu.py --smoke --device cpu --out /tmp/smoke.json  # tiny sizes on the CPU, seconds

What it does, in order of priority (a global deadline skips whatever is left and still writes the results):

1. **Equality checks** (``checks`` in the JSON). Crystals are sampled on the CPU with a CPU generator (seed
   fixed) and the bundled example structures (quartz, pyrite, rutile) are added; the same batch is simulated
   by a ``PowderSimulator`` on the CPU and one on the device, in float32 and in float64, for several
   profiles: Gaussian, Lorentzian, pseudo-Voigt with Caglioti and microstrain, the Cu Kα doublet with a
   monochromator, March–Dollase texture and a zero shift, and the reflection effects of the
   ``laboratory-cu`` preset (Kα2/Kβ lines, instrument function, sizes, strain, texture, shifts). Every random
   per-pattern parameter is drawn once on the CPU and given to both simulators (``parameters=``), because
   torch's CPU and CUDA generators give different streams for the same seed. The pattern effects of the
   preset (backgrounds, counting noise, ...) are random draws applied elementwise after rendering and are
   not compared. The measure is, per pattern, max |device − cpu| / max |cpu| (patterns are normalised to a
   maximum of 1, so this is the error relative to the strongest peak; an elementwise relative error would
   divide by the zeros between peaks); a check passes when the largest over the batch is <= 1e-4.

   The sampler: ``SpaceGroupSampler(seed=s, device=d)`` draws from a ``torch.Generator`` on ``d``, so the
   crystals on CUDA are *not* those on the CPU for the same seed (recorded as ``same_crystals_as_cpu``). What
   is compared instead: (a) determinism on the device (two samplers with the same seed give identical
   batches), (b) statistics of N crystals on the device (seed s + 1) against N on the CPU (seed s) — mean
   atoms per cell, log volume per atom, distinct elements, mean atomic number, and the share of each crystal
   system — each within 4.5 standard errors of the difference, (c) the labels of device crystals against
   spglib (``Crystal.detect_space_group(1e-3)``; at most max(1, 2 %) may disagree, the sampler's measured
   rate is 2 in 10,000), and (d) the patterns of device-sampled crystals simulated on the device against the
   same crystals simulated on the CPU (1e-4 as above).

2. **Throughput** (``throughput``): patterns/s of the simulator on batches of sampled crystals (batch sizes
   swept; float32 and float64 eager, float32 with ``compile=True``), crystals/s of the sampler (as
   constructed; then, off the CPU, with ``parallel_compositions=1``, the CPU's one composition at a time),
   patterns/s of
   sample + simulate in default constructors (``SpaceGroupSampler(seed=0, device=d)`` and
   ``PowderSimulator(device=d)``, eager and compiled), and of training the shipped architecture: the network
   step alone (forward, backward, AdamW on ready patterns) and the whole loop of ``xrdsynth.train.train``
   with the shipped model's recipe (read from its card; ``workers=0``, data made on the device, on a GPU
   with ``crystal_pool=32``: one call of the sampler per 32 batches). Each rate
   is the mean over calls after one untimed warm-up call (which also compiles), timed with device
   synchronisation, until ``--min-time`` seconds or ``--max-calls`` calls.

3. **Work per pattern** (``work``): FLOPs counted by ``torch.utils.flop_counter.FlopCounterMode`` (it counts
   matrix products and convolutions only: for the simulator the structure-factor products, not the FFTs,
   transcendental functions or elementwise passes; for the network nearly everything), the bytes allocated
   per pattern during one call (the sum of torch.profiler's positive self allocations: a measure of memory
   traffic through the allocator), the peak device memory per pattern on CUDA
   (``torch.cuda.max_memory_allocated``), the output bytes, and the number of operator calls (and device
   kernels) per call with the most expensive operators.

Results are merged into ``--out`` (a JSON file; other keys are kept) under ``runs`` with the key
"hostname/device/date"; a summary is printed against the targets of issue 17 (>= 1,000,000 simulated
patterns/s and >= 200,000 sample + simulate patterns/s on one GPU). Exit status 0 when every check ran and
passed, 1 when a check failed, 3 when the hard deadline stopped the run (the results so far are written).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import json
import math
import os
import platform
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import xrdsynth as xs
import xrdsynth.transforms as T
from xrdsynth import examples
from xrdsynth.models import Classifier, load_pretrained
from xrdsynth.simulate import PatternParameters
from xrdsynth.symmetry import crystal_system
from xrdsynth.train import TrainConfig, train

SCHEMA = "xrdsynth-gpu-check/1"
TOLERANCE = 1e-4
# Targets of issue 17 on one GPU.
TARGET_SIMULATE = 1_000_000.0
TARGET_PIPELINE = 200_000.0
# Two-sample statistics of the sampler: |difference| within this many standard errors.
STATISTIC_SIGMAS = 4.5
FLOPS_COUNTED_BY = "torch.utils.flop_counter.FlopCounterMode (matrix products and convolutions only)"
SYSTEMS = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic")


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much work each part does: the real run or the CPU smoke run."""

    grid: tuple[float, float, int] = (5.0, 90.0, 8501)
    check_crystals: int = 64
    statistic_crystals: int = 2048
    label_crystals: int = 64
    simulator_batches: tuple[int, ...] = (256, 1024, 4096, 16384, 65536)
    float64_batches: tuple[int, ...] = (1024, 16384)
    compile_batches: tuple[int, ...] = (4096, 16384, 65536)
    sampler_batches: tuple[int, ...] = (256, 1024, 4096, 16384, 65536)
    pipeline_batches: tuple[int, ...] = (1024, 4096, 16384, 65536)
    network_batches: tuple[int, ...] = (128, 1024)
    # Three pools of crystals (train_crystal_pool batches each) on a GPU, so that the rate after the first
    # log window pays for two calls of the sampler.
    train_steps: int = 96
    train_log_every: int = 8
    train_crystal_pool: int = 32
    work_batch: int = 1024
    # Seconds each section may take at most (the global deadline cuts them further).
    allowance: tuple[tuple[str, float], ...] = (
        ("checks", 90.0),
        ("sampler", 70.0),
        ("simulator float32", 60.0),
        ("work", 20.0),
        ("pipeline", 45.0),
        ("network", 30.0),
        ("train loop", 45.0),
        ("simulator float64", 30.0),
        ("compiled simulator", 110.0),
        ("compiled pipeline", 60.0),
    )


FULL = Sizes()
SMOKE = Sizes(
    grid=(5.0, 90.0, 501),
    check_crystals=4,
    statistic_crystals=96,
    label_crystals=8,
    simulator_batches=(4, 16),
    float64_batches=(16,),
    compile_batches=(),
    sampler_batches=(16,),
    pipeline_batches=(16,),
    network_batches=(4,),
    train_steps=2,
    train_log_every=1,
    train_crystal_pool=1,
    work_batch=8,
    allowance=(),
)


# ------------------------------------------------------------------------------------------ bookkeeping
class Run:
    """The record of one run: results under a lock, the deadlines, and writing to the JSON file."""

    def __init__(self, args: argparse.Namespace, device: torch.device) -> None:
        self.args = args
        self.device = device
        self.started = time.monotonic()
        self.lock = threading.RLock()
        self.current = "start"
        now = dt.datetime.now(dt.timezone.utc)
        self.key = f"{socket.gethostname()}/{device_name(device)}/{now.date().isoformat()}"
        self.record: dict[str, Any] = {
            "schema": SCHEMA,
            "mode": "smoke" if args.smoke else "full",
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "started_utc": now.isoformat(timespec="seconds"),
            "note": args.note,
            "host": host_info(device),
            "tolerance_relative_to_max": TOLERANCE,
            "deadline_s": None if math.isinf(args.deadline) else args.deadline,
            "hard_deadline_s": None if math.isinf(args.hard_deadline) else args.hard_deadline,
            "checks": {},
            "throughput": {},
            "work": {},
            "skipped": [],
            "errors": [],
        }

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        """Seconds left before the soft deadline."""
        return self.args.deadline - self.elapsed()

    def section(self, name: str, sizes: Sizes) -> float:
        """The monotonic time at which section ``name`` must stop starting new measurements."""
        allowance = dict(sizes.allowance).get(name, math.inf)
        self.current = name
        print(f"[{self.elapsed():4.0f} s] {name}", flush=True)
        return time.monotonic() + min(allowance, max(self.left(), 0.0))

    def skip(self, what: str, why: str) -> None:
        with self.lock:
            self.record["skipped"].append(f"{what}: {why}")
        print(f"  skipped {what}: {why}", flush=True)

    def error(self, what: str, exc: BaseException) -> None:
        text = f"{what}: {type(exc).__name__}: {exc}"
        with self.lock:
            self.record["errors"].append(text)
        print(f"  ERROR {text}", flush=True)
        traceback.print_exc()

    def put(self, path: tuple[str, ...], value: Any) -> None:
        with self.lock:
            node = self.record
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value

    def append(self, path: tuple[str, ...], value: Any) -> None:
        with self.lock:
            node = self.record
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node.setdefault(path[-1], []).append(value)

    def finish(self, hard_stop: str | None = None) -> dict[str, Any]:
        with self.lock:
            record = json.loads(json.dumps(self.record, default=str))  # a deep, plain copy
        record["elapsed_s"] = round(self.elapsed(), 1)
        record["hard_stop"] = hard_stop
        record["summary"] = summarise(record)
        write_merged(self.args.out, self.key, record)
        return record


def write_merged(out: Path, key: str, record: dict[str, Any]) -> None:
    """Merge ``record`` into the JSON file ``out`` under ``runs[key]``, keeping everything else; written
    atomically. A file that does not parse as a JSON object is left alone and the record goes to
    ``<out>.unmerged.json``."""
    data: dict[str, Any] = {}
    target = out
    if out.exists():
        try:
            data = json.loads(out.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            data = None  # type: ignore[assignment]
        if not isinstance(data, dict):
            target = out.with_name(out.name + ".unmerged.json")
            print(f"{out} is not a JSON object: writing to {target} instead", flush=True)
            data = {}
    data.setdefault(
        "_about_runs",
        "runs: records of benchmarks/gpu.py, keyed by hostname/device/date (UTC); see benchmarks/README.md",
    )
    data.setdefault("runs", {})[key] = record
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=target.parent, prefix=f".{target.name}-", delete=False, encoding="utf-8"
    ) as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
        tmp = handle.name
    os.replace(tmp, target)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device).replace("/", "-")
    return f"cpu{os.cpu_count()}"


def host_info(device: torch.device) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "device": str(device),
        "device_name": device_name(device),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "xrdsynth": xs.__version__,
        "cuda": torch.version.cuda,
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["device_memory_gib"] = round(props.total_memory / 2**30, 1)
    return info


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    function: Callable[[], Any],
    items: int,
    device: torch.device,
    min_time: float,
    max_calls: int,
    stop: float,
) -> dict[str, Any]:
    """Items/s of ``function`` (which makes ``items`` per call): one untimed warm-up call, then calls until
    ``min_time`` seconds, ``max_calls`` calls or the section's ``stop`` time."""
    start = time.perf_counter()
    function()
    synchronize(device)
    first = time.perf_counter() - start
    calls, start = 0, time.perf_counter()
    while True:
        function()
        synchronize(device)
        calls += 1
        elapsed = time.perf_counter() - start
        if calls >= max_calls or elapsed >= min_time or time.monotonic() >= stop:
            break
    return {
        "items_per_s": items * calls / elapsed,
        "calls": calls,
        "seconds": round(elapsed, 4),
        "seconds_per_call": elapsed / calls,
        "first_call_s": round(first, 4),
    }


def fits(run: Run, stop: float, last: dict[str, Any] | None, scale: float, what: str) -> bool:
    """Whether a measurement predicted from the last one (its call time times ``scale``, two calls and a
    warm-up) still fits before ``stop``; records a skip when not."""
    left = stop - time.monotonic()
    # A measurement is one warm-up call and at least one timed call.
    needed = 0.0 if last is None else 2.0 * last["seconds_per_call"] * scale
    if left <= 0:
        run.skip(what, "the section's time is used up")
        return False
    if needed > left:
        run.skip(what, f"{left:.0f} s left in the section, about {needed:.0f} s needed")
        return False
    return True


# ------------------------------------------------------------------------------------------------ data
def take(batch: xs.CrystalBatch, n: int) -> xs.CrystalBatch:
    """The first ``n`` crystals of ``batch``, repeated cyclically when it has fewer."""
    index = torch.arange(n, device=batch.device) % len(batch)
    return xs.CrystalBatch(
        lattice=batch.lattice[index],
        frac_coords=batch.frac_coords[index],
        numbers=batch.numbers[index],
        occupancies=batch.occupancies[index],
        b_iso=batch.b_iso[index],
        charges=batch.charges[index],
        mask=batch.mask[index],
        space_group=batch.space_group[index],
    )


def check_batch(sizes: Sizes, seed: int) -> xs.CrystalBatch:
    """Sampled crystals (CPU, CPU generator) plus the bundled example structures, float64 on the CPU."""
    sampled = xs.SpaceGroupSampler(seed=seed).sample(sizes.check_crystals).to_crystals()
    bundled = [xs.Crystal.from_cif(examples.cif_path(name)) for name in examples.names()]
    return xs.CrystalBatch.from_crystals(sampled + bundled)


def compare(device_patterns: torch.Tensor, cpu_patterns: torch.Tensor) -> dict[str, Any]:
    """Largest per-pattern max |a - b| / max |b| and whether it is <= TOLERANCE (non-finite values fail)."""
    a = device_patterns.detach().to("cpu", torch.float64)
    b = cpu_patterns.detach().to("cpu", torch.float64)
    if a.shape != b.shape:
        return {"max_rel_diff": math.inf, "passed": False, "why": f"shapes {tuple(a.shape)} {tuple(b.shape)}"}
    if not (bool(torch.isfinite(a).all()) and bool(torch.isfinite(b).all())):
        return {"max_rel_diff": math.inf, "passed": False, "why": "non-finite values"}
    scale = b.abs().amax(dim=1).clamp_min(1e-30)
    diff = float(((a - b).abs().amax(dim=1) / scale).max())
    return {"max_rel_diff": diff, "passed": diff <= TOLERANCE, "patterns": int(a.shape[0])}


def simulator_cases(n: int) -> list[tuple[str, dict[str, Any], PatternParameters]]:
    """(name, PowderSimulator settings, per-pattern parameters drawn on the CPU) of the compared cases."""
    g = torch.Generator().manual_seed(1234)
    sizes = 20.0 + 80.0 * torch.rand(n, generator=g, dtype=torch.float64)
    laboratory = T.Sequential(
        *[t for t in T.laboratory_cu_transforms() if isinstance(t, T.ReflectionTransform)]
    ).draw_reflections(n, g, torch.float64)
    return [
        ("gaussian", {"profile": "gaussian"}, PatternParameters(crystallite_size_nm=sizes)),
        ("lorentzian", {"profile": "lorentzian"}, PatternParameters(crystallite_size_nm=sizes)),
        (
            "pseudo_voigt + caglioti + microstrain",
            {"profile": "pseudo_voigt", "caglioti": (0.004, -0.002, 0.002), "microstrain": 5e-4},
            PatternParameters(crystallite_size_nm=sizes),
        ),
        (
            "CuKa doublet + monochromator + march_dollase + zero_shift",
            {
                "profile": "gaussian",
                "wavelength": "CuKa",
                "monochromator_two_theta": 26.6,
                "march_dollase": 0.7,
                "preferred_orientation_hkl": (0, 0, 1),
                "zero_shift": 0.03,
            },
            PatternParameters(crystallite_size_nm=sizes),
        ),
        ("laboratory-cu reflection effects", {"profile": "pseudo_voigt"}, laboratory),
    ]


def simulate(settings: dict[str, Any], grid: tuple, device: torch.device, dtype: torch.dtype, batch, params):
    simulator = xs.PowderSimulator(two_theta=grid, device=device, dtype=dtype, seed=0, **settings)
    with torch.no_grad():
        return simulator(batch.to(device), parameters=params)


# ---------------------------------------------------------------------------------------------- checks
def run_checks(run: Run, sizes: Sizes, seed: int) -> None:
    device, cpu = run.device, torch.device("cpu")
    stop = run.section("checks", sizes)
    batch = check_batch(sizes, seed)
    print(f"checks: {len(batch)} crystals ({sizes.check_crystals} sampled on the CPU + bundled examples)")
    for dtype in (torch.float32, torch.float64):
        for name, settings, params in simulator_cases(len(batch)):
            label = f"{name}, {str(dtype).removeprefix('torch.')}"
            if time.monotonic() >= stop:
                run.skip(f"check {label}", "deadline")
                continue
            try:
                reference = simulate(settings, sizes.grid, cpu, dtype, batch, params)
                result = compare(simulate(settings, sizes.grid, device, dtype, batch, params), reference)
            except Exception as exc:  # recorded and printed; the other checks still run
                run.error(f"check {label}", exc)
                result = {"max_rel_diff": math.inf, "passed": False, "why": repr(exc)}
            run.append(("checks", "simulator"), {"case": label, **result})
            print(
                f"  simulator {label:64s} max rel diff {result['max_rel_diff']:.2e}  "
                f"{'ok' if result['passed'] else 'FAILED'}",
                flush=True,
            )
        if dtype == torch.float32:  # the sampler before the float64 cases
            if time.monotonic() >= stop:
                run.skip("check sampler", "deadline")
                continue
            try:
                check_sampler(run, sizes, seed)
            except Exception as exc:
                run.error("check sampler", exc)
                run.put(("checks", "sampler"), {"passed": False, "why": repr(exc)})


def crystal_statistics(batch: xs.CrystalBatch) -> dict[str, torch.Tensor]:
    """Per-crystal quantities whose distributions the CPU and device samplers must share."""
    b = batch.to("cpu", torch.float64)
    atoms = b.mask.sum(1).to(torch.float64)
    volume = torch.linalg.det(b.lattice).abs()
    numbers = b.numbers.to(torch.float64)
    distinct = torch.tensor([len(set(row[m].tolist())) for row, m in zip(b.numbers, b.mask, strict=True)])
    values = {
        "atoms per cell": atoms,
        "log volume per atom": torch.log(volume / atoms),
        "distinct elements": distinct.to(torch.float64),
        "mean atomic number": (numbers * b.mask).sum(1) / atoms,
    }
    systems = [crystal_system(int(g)) for g in b.space_group]
    for system in SYSTEMS:
        values[f"share {system}"] = torch.tensor([float(s == system) for s in systems], dtype=torch.float64)
    return values


def check_sampler(run: Run, sizes: Sizes, seed: int) -> None:
    device, n = run.device, sizes.statistic_crystals
    result: dict[str, Any] = {}
    first = xs.SpaceGroupSampler(seed=seed, device=device).sample(n)
    again = xs.SpaceGroupSampler(seed=seed, device=device).sample(n)
    on_cpu = xs.SpaceGroupSampler(seed=seed).sample(n)
    fields = ("lattice", "frac_coords", "numbers", "mask", "space_group", "b_iso")
    result["deterministic_on_device"] = all(torch.equal(getattr(first, f), getattr(again, f)) for f in fields)
    result["same_crystals_as_cpu"] = all(
        getattr(first, f).shape == getattr(on_cpu, f).shape
        and torch.equal(getattr(first, f).cpu(), getattr(on_cpu, f))
        for f in fields
    )
    # Statistics: the device stream of another seed against the CPU stream (a real two-sample comparison
    # even when the device is the CPU).
    other = xs.SpaceGroupSampler(seed=seed + 1, device=device).sample(n)
    reference, candidate = crystal_statistics(on_cpu), crystal_statistics(other)
    rows, statistics_ok = [], True
    for name, ref in reference.items():
        cand = candidate[name]
        se = math.sqrt(float(ref.var()) / len(ref) + float(cand.var()) / len(cand))
        delta = float(cand.mean() - ref.mean())
        z = abs(delta) / se if se > 0 else (0.0 if delta == 0 else math.inf)
        ok = z <= STATISTIC_SIGMAS
        statistics_ok &= ok
        rows.append(
            {"quantity": name, "cpu": float(ref.mean()), "device": float(cand.mean()), "z": z, "ok": ok}
        )
    result["statistics"] = rows
    result["statistics_ok"] = statistics_ok
    # Labels of device crystals against spglib.
    crystals = first.to("cpu").to_crystals()[: sizes.label_crystals]
    wrong = [c.space_group for c in crystals if c.detect_space_group(1e-3) != c.space_group]
    allowed = max(1, math.ceil(0.02 * len(crystals)))
    result["labels"] = {"checked": len(crystals), "disagree": len(wrong), "allowed": allowed}
    result["labels_ok"] = len(wrong) <= allowed
    # Patterns of device-sampled crystals, simulated on the device and on the CPU.
    count = min(n, sizes.check_crystals)
    sample = take(first, count)
    params = PatternParameters(crystallite_size_nm=torch.full((count,), 50.0, dtype=torch.float64))
    settings = {"profile": "gaussian"}
    reference_patterns = simulate(
        settings, sizes.grid, torch.device("cpu"), torch.float32, sample.to("cpu"), params
    )
    patterns = simulate(settings, sizes.grid, device, torch.float32, sample, params)
    result["patterns_of_device_crystals"] = compare(patterns, reference_patterns)
    result["passed"] = bool(
        result["deterministic_on_device"]
        and statistics_ok
        and result["labels_ok"]
        and result["patterns_of_device_crystals"]["passed"]
    )
    run.put(("checks", "sampler"), result)
    print(
        f"  sampler: deterministic on device {result['deterministic_on_device']}, same crystals as CPU "
        f"{result['same_crystals_as_cpu']}, statistics {'ok' if statistics_ok else 'DIFFER'} "
        f"(largest z {max(r['z'] for r in rows):.1f}), labels {len(wrong)}/{len(crystals)} disagree, "
        f"patterns max rel diff {result['patterns_of_device_crystals']['max_rel_diff']:.2e}  "
        f"{'ok' if result['passed'] else 'FAILED'}",
        flush=True,
    )


# ------------------------------------------------------------------------------------------ throughput
def call_time_scale(last: tuple[int, float], previous: tuple[int, float] | None, size: int) -> float:
    """Predicted seconds per call at batch ``size`` over those of the last measured (batch, seconds): along
    the line through the last two measurements (never decreasing), else in proportion to the batch."""
    last_batch, last_seconds = last
    if previous is None or previous[0] >= last_batch:
        return size / last_batch
    slope = max((last_seconds - previous[1]) / (last_batch - previous[0]), 0.0)
    return (last_seconds + slope * (size - last_batch)) / max(last_seconds, 1e-12)


def sweep(
    run: Run,
    key: str,
    batches: tuple[int, ...],
    make: Callable[[int], Callable[[], Any]],
    sizes: Sizes,
    stop: float,
    extra: dict[str, Any],
    unit: str = "patterns/s",
) -> None:
    """One measurement per batch size (ascending), each skipped when the last ones predict it will not fit:
    the time per call is extrapolated along the line through the last two sizes measured (a GPU's fixed
    cost per call, its kernel launches, does not grow with the batch), else in proportion to the size."""
    last: dict[str, Any] | None = None
    last_batch = 1
    previous: tuple[int, float] | None = None
    for size in batches:
        what = f"{key} {extra} batch {size}"
        scale = (
            1.0 if last is None else call_time_scale((last_batch, last["seconds_per_call"]), previous, size)
        )
        if not fits(run, stop, last, scale, what):
            continue
        try:
            function = make(size)
            result = measure(function, size, run.device, run.args.min_time, run.args.max_calls, stop)
        except torch.cuda.OutOfMemoryError as exc:
            run.skip(what, f"out of memory ({str(exc).splitlines()[0]})")
            torch.cuda.empty_cache()
            break
        except Exception as exc:
            run.error(what, exc)
            break
        row = {**extra, "batch": size, **result}
        run.append(("throughput", key), row)
        if last is not None:
            previous = (last_batch, last["seconds_per_call"])
        last, last_batch = result, size
        print(
            f"  {key:18s} {json.dumps(extra):44s} batch {size:6d}: {result['items_per_s']:12,.0f} {unit} "
            f"({result['calls']} calls, first call {result['first_call_s']:.2f} s)",
            flush=True,
        )


def measure_sampler(run: Run, sizes: Sizes, seed: int) -> xs.CrystalBatch | None:
    """Crystals/s of the sampler as constructed by default; off the CPU then, in the same run and at the
    sizes the time leaves, with one composition at a time (``parallel_compositions=1``, the CPU's way), to
    show what trying several at once gives. Returns the largest batch the default sampler made (the
    simulator's pool of crystals)."""
    stop = run.section("sampler", sizes)
    pool: dict[str, xs.CrystalBatch] = {}

    def maker(sampler: xs.SpaceGroupSampler, keep: bool) -> Callable[[int], Callable[[], Any]]:
        def make(size: int) -> Callable[[], Any]:
            def call() -> None:
                batch = sampler.sample(size)
                if keep:
                    pool["batch"] = batch

            return call

        return make

    default = xs.SpaceGroupSampler(seed=seed, device=run.device)
    extra = {"dtype": "float64", "parallel_compositions": "default"}
    sweep(run, "sampler", sizes.sampler_batches, maker(default, True), sizes, stop, extra, "crystals/s")
    if run.device.type != "cpu":  # on the CPU the default is one at a time already
        one = xs.SpaceGroupSampler(seed=seed, device=run.device, parallel_compositions=1)
        extra = {"dtype": "float64", "parallel_compositions": 1}
        sweep(run, "sampler", sizes.sampler_batches, maker(one, False), sizes, stop, extra, "crystals/s")
    return pool.get("batch")


def measure_simulator(
    run: Run, sizes: Sizes, pool: xs.CrystalBatch, dtype: torch.dtype, compile: bool, section: str
) -> None:
    stop = run.section(section, sizes)
    simulator = xs.PowderSimulator(two_theta=sizes.grid, device=run.device, dtype=dtype, compile=compile)
    if compile:
        batches = sizes.compile_batches
    elif dtype == torch.float64:
        batches = sizes.float64_batches
    else:
        batches = sizes.simulator_batches
    extra = {"dtype": str(dtype).removeprefix("torch."), "compile": compile}

    def make(size: int) -> Callable[[], Any]:
        batch = take(pool, size).to(run.device, dtype)

        def call() -> None:
            with torch.no_grad():
                simulator(batch)

        return call

    if compile and batches and time.monotonic() < stop:
        # Compiled against eager on the same batch: one more equality check, cheap once compiled.
        try:
            batch = take(pool, batches[0]).to(run.device, dtype)
            eager = xs.PowderSimulator(two_theta=sizes.grid, device=run.device, dtype=dtype, compile=False)
            params = PatternParameters(
                crystallite_size_nm=torch.linspace(20.0, 100.0, len(batch), dtype=torch.float64)
            )
            with torch.no_grad():
                result = compare(simulator(batch, parameters=params), eager(batch, parameters=params))
            run.put(("checks", "compiled_vs_eager"), {"dtype": extra["dtype"], "batch": len(batch), **result})
            print(f"  compiled vs eager on the device: max rel diff {result['max_rel_diff']:.2e}", flush=True)
        except Exception as exc:
            run.error("check compiled vs eager", exc)
            run.put(("checks", "compiled_vs_eager"), {"passed": False, "why": repr(exc)})
    sweep(run, "simulator", batches, make, sizes, stop, extra)


def measure_pipeline(run: Run, sizes: Sizes, seed: int, compile: bool, section: str) -> None:
    stop = run.section(section, sizes)
    # The default constructors (only the grid is smaller in the smoke run).
    sampler = xs.SpaceGroupSampler(seed=seed, device=run.device)
    if sizes.grid == FULL.grid:
        simulator = xs.PowderSimulator(device=run.device, compile=compile)
    else:
        simulator = xs.PowderSimulator(two_theta=sizes.grid, device=run.device, compile=compile)

    def make(size: int) -> Callable[[], Any]:
        def call() -> None:
            with torch.no_grad():
                simulator(sampler.sample(size))

        return call

    batches = sizes.pipeline_batches[1:3] if compile else sizes.pipeline_batches  # compiled: 4,096 and 16,384
    sweep(run, "sample+simulate", batches, make, sizes, stop, {"compile": compile})


def shipped_classifier() -> Classifier:
    return load_pretrained()


def measure_network(run: Run, sizes: Sizes) -> None:
    """Training steps of the shipped architecture on ready patterns: forward, backward, AdamW."""
    stop = run.section("network", sizes)
    shipped = shipped_classifier()
    torch.manual_seed(0)
    model = Classifier.from_architecture(shipped.architecture, shipped.spec, **shipped.architecture_kwargs)
    model = model.to(run.device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    points = shipped.spec.num_points
    extra = {"architecture": shipped.architecture, **shipped.architecture_kwargs, "points": points}

    def step(patterns: torch.Tensor, labels: torch.Tensor) -> None:
        loss = torch.nn.functional.cross_entropy(model(patterns), labels, label_smoothing=0.05)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()

    def make(size: int) -> Callable[[], Any]:
        g = torch.Generator(device=run.device).manual_seed(size)
        patterns = torch.rand(size, points, generator=g, device=run.device)
        labels = torch.randint(0, 230, (size,), generator=g, device=run.device)
        return lambda: step(patterns, labels)

    sweep(run, "network step", sizes.network_batches, make, sizes, stop, extra)
    # FLOPs and bytes of one training step per pattern.
    size = sizes.network_batches[0]
    patterns = torch.rand(size, points, device=run.device)
    labels = torch.randint(0, 230, (size,), device=run.device)
    parameters = sum(p.numel() * p.element_size() for p in model.parameters())
    work = {"batch": size, "parameter_bytes": parameters, "input_bytes_per_pattern": points * 4}
    work.update(count_flops(lambda: step(patterns, labels), size))
    work.update(peak_memory(run.device, lambda: step(patterns, labels), size))
    run.put(("work", "network training step"), work)


def measure_train_loop(run: Run, sizes: Sizes) -> None:
    """``xrdsynth.train.train`` with the shipped model's recipe for a few steps: the whole loop."""
    stop = run.section("train loop", sizes)
    shipped = shipped_classifier()
    recipe = dict(shipped.card.get("recipe", {}))
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    base = {k: v for k, v in recipe.items() if k in names}
    base.update(
        steps=sizes.train_steps,
        device=str(run.device),
        threads=0,
        workers=0,
        init_from=None,
        compile=False,
        checkpoint_every=sizes.train_steps,
        snapshot_every=0,
        eval_every=sizes.train_steps,
        eval_patterns=8,
        log_every=sizes.train_log_every,
        warmup_steps=1,
    )
    if sizes.grid != FULL.grid:
        base["two_theta"] = tuple(recipe.get("two_theta", (5.0, 90.0, 4251)))
    # Off the CPU the sampler is bound by kernel launches: one call per pool of batches (crystal_pool), as a
    # GPU run should be configured.
    pool = 1 if run.device.type == "cpu" else sizes.train_crystal_pool
    base["crystal_pool"] = pool
    recipe_batch = recipe.get("batch_size", 128)
    batches = [recipe_batch, 8 * recipe_batch] if sizes is FULL else [sizes.network_batches[0]]
    last: dict[str, Any] | None = None
    for size in batches:
        what = f"train loop batch {size}"
        if not fits(run, stop, last, 1.0, what):
            continue
        with tempfile.TemporaryDirectory() as folder:
            config = TrainConfig(**{**base, "batch_size": size, "out": folder})
            start = time.perf_counter()
            try:
                train(config, progress=False)
            except Exception as exc:
                run.error(what, exc)
                continue
            wall = time.perf_counter() - start
            with open(Path(folder) / "metrics.csv", newline="", encoding="utf-8") as handle:
                rows = [r for r in csv.DictReader(handle) if r["samples_per_s"]]
        # The first window holds the first call of everything; the rest is the steady loop, whose rate is
        # its patterns over its time (not a median of windows, which would leave out the sampler's calls).
        if len(rows) > 1:
            first, end = rows[0], rows[-1]
            rate = (float(end["samples"]) - float(first["samples"])) / (
                float(end["elapsed_s"]) - float(first["elapsed_s"])
            )
        else:
            rate = float(rows[0]["samples_per_s"])
        result = {
            "batch": size,
            "steps": sizes.train_steps,
            "crystal_pool": pool,
            "recipe": "shipped model card",
            "preset": config.preset,
            "clean_fraction": config.clean_fraction,
            "points": config.two_theta[2],
            "items_per_s": rate,
            "windows": max(len(rows) - 1, 1),
            "wall_s": round(wall, 2),
            "seconds_per_call": wall / sizes.train_steps,
        }
        run.append(("throughput", "train loop"), result)
        last = result
        print(
            f"  train loop (shipped recipe, {config.preset}, clean {config.clean_fraction}, crystal pool "
            f"{pool}) batch {size}: "
            f"{result['items_per_s']:,.0f} patterns/s ({sizes.train_steps} steps in {wall:.1f} s)",
            flush=True,
        )


# ------------------------------------------------------------------------------------------------ work
def count_flops(function: Callable[[], Any], per: int) -> dict[str, Any]:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        function()
    by_op = {str(op): int(v) for op, v in counter.get_flop_counts().get("Global", {}).items()}
    return {
        "flops_per_pattern": counter.get_total_flops() / per,
        "flops_by_op_per_pattern": {k: v / per for k, v in sorted(by_op.items(), key=lambda kv: -kv[1])},
        "flops_counted_by": FLOPS_COUNTED_BY,
    }


def peak_memory(device: torch.device, function: Callable[[], Any], per: int) -> dict[str, Any]:
    if device.type != "cuda":
        return {"peak_device_bytes_per_pattern": None}
    synchronize(device)
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    function()
    synchronize(device)
    return {"peak_device_bytes_per_pattern": (torch.cuda.max_memory_allocated(device) - base) / per}


def profile_call(
    device: torch.device, function: Callable[[], Any], per: int, top: int = 12
) -> dict[str, Any]:
    """Operator calls, device kernels, allocation volume and the most expensive operators of one call."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, profile_memory=True) as prof:
        function()
        synchronize(device)
    events = prof.key_averages()

    def attr(event: Any, *names: str) -> float:
        for name in names:
            if hasattr(event, name):
                return float(getattr(event, name))
        return 0.0

    allocated = sum(
        max(attr(e, "self_cpu_memory_usage"), 0.0)
        + max(attr(e, "self_device_memory_usage", "self_cuda_memory_usage"), 0.0)
        for e in events
    )
    cuda = device.type == "cuda"
    key = ("self_device_time_total", "self_cuda_time_total") if cuda else ("self_cpu_time_total",)
    ops = [e for e in events if e.key.startswith("aten::")]
    ranked = sorted(events, key=lambda e: -attr(e, *key))[:top]
    kernels = sum(e.count for e in events if cuda and str(getattr(e, "device_type", "")).endswith("CUDA"))
    return {
        "aten_op_calls": int(sum(e.count for e in ops)),
        "device_kernels": int(kernels) if cuda else None,
        "allocated_bytes_per_pattern": allocated / per,
        "top_ops": [{"op": e.key, "self_us": round(attr(e, *key), 1), "calls": int(e.count)} for e in ranked],
    }


def measure_work(run: Run, sizes: Sizes, pool: xs.CrystalBatch) -> None:
    run.section("work", sizes)
    size = sizes.work_batch
    batch = take(pool, size).to(run.device, torch.float32)
    simulator = xs.PowderSimulator(two_theta=sizes.grid, device=run.device)

    def call() -> None:
        with torch.no_grad():
            simulator(batch)

    call()
    synchronize(run.device)
    work: dict[str, Any] = {
        "batch": size,
        "points": sizes.grid[2],
        "output_bytes_per_pattern": sizes.grid[2] * 4,
        "median_atoms_per_cell": float(batch.mask.sum(1).to(torch.float64).median()),
    }
    work.update(count_flops(call, size))
    work.update(peak_memory(run.device, call, size))
    run.put(("work", "simulator float32 eager"), work)
    try:
        work.update(profile_call(run.device, call, size))
    except Exception as exc:  # the profiler needs CUPTI on GPUs; the counts above are kept
        run.error("torch.profiler of the simulator", exc)
        work.update(aten_op_calls=None, allocated_bytes_per_pattern=None)
    run.put(("work", "simulator float32 eager"), work)
    allocated = work["allocated_bytes_per_pattern"]
    print(
        f"  simulator work per pattern: {work['flops_per_pattern']:,.0f} counted FLOPs, "
        f"{'?' if allocated is None else f'{allocated:,.0f}'} bytes allocated, {work['aten_op_calls']} "
        f"operator calls per call of {size}",
        flush=True,
    )


# ------------------------------------------------------------------------------------------------ summary
def best(record: dict[str, Any], key: str, **match: Any) -> float | None:
    rows = [r for r in record["throughput"].get(key, []) if all(r.get(k) == v for k, v in match.items())]
    return max((r["items_per_s"] for r in rows), default=None)


def summarise(record: dict[str, Any]) -> dict[str, Any]:
    checks = record["checks"]
    simulator_checks = checks.get("simulator", [])
    check_results = [c["passed"] for c in simulator_checks]
    if "sampler" in checks:
        check_results.append(bool(checks["sampler"].get("passed")))
    if "compiled_vs_eager" in checks:
        check_results.append(bool(checks["compiled_vs_eager"].get("passed")))
    simulate_best = best(record, "simulator")
    pipeline_best = best(record, "sample+simulate")
    return {
        "checks_run": len(check_results),
        "checks_skipped": sum(1 for text in record["skipped"] if text.startswith("check")),
        "checks_passed": bool(check_results) and all(check_results),
        "largest_simulator_rel_diff": max((c["max_rel_diff"] for c in simulator_checks), default=None),
        "simulator_best_patterns_per_s": simulate_best,
        "simulator_eager_float32_best": best(record, "simulator", dtype="float32", compile=False),
        "simulator_compiled_float32_best": best(record, "simulator", dtype="float32", compile=True),
        "simulator_eager_float64_best": best(record, "simulator", dtype="float64", compile=False),
        "sampler_best_crystals_per_s": best(record, "sampler", parallel_compositions="default"),
        "pipeline_best_patterns_per_s": pipeline_best,
        "network_step_best_patterns_per_s": best(record, "network step"),
        "train_loop_patterns_per_s": best(record, "train loop"),
        "target_simulate_patterns_per_s": TARGET_SIMULATE,
        "target_simulate_met": simulate_best is not None and simulate_best >= TARGET_SIMULATE,
        "target_pipeline_patterns_per_s": TARGET_PIPELINE,
        "target_pipeline_met": pipeline_best is not None and pipeline_best >= TARGET_PIPELINE,
    }


def print_summary(record: dict[str, Any], key: str, out: Path) -> None:
    s = record["summary"]

    def rate(value: float | None) -> str:
        return "not measured" if value is None else f"{value:,.0f}/s"

    print(f"\nsummary ({key}, {record['mode']} run, {record['elapsed_s']} s):")
    largest = s["largest_simulator_rel_diff"]
    largest_text = "n/a" if largest is None else f"{largest:.1e}"
    print(
        f"  checks: {s['checks_run']} run, {'all passed' if s['checks_passed'] else 'NOT all passed'}, "
        f"{s['checks_skipped']} skipped "
        f"(largest simulator difference {largest_text}, tolerance {TOLERANCE:g})"
    )
    print(
        f"  simulator: {rate(s['simulator_best_patterns_per_s'])} best (eager float32 "
        f"{rate(s['simulator_eager_float32_best'])}, compiled {rate(s['simulator_compiled_float32_best'])}, "
        f"eager float64 {rate(s['simulator_eager_float64_best'])}); target {TARGET_SIMULATE:,.0f}/s: "
        f"{'met' if s['target_simulate_met'] else 'NOT met'}"
    )
    print(
        f"  sample + simulate: {rate(s['pipeline_best_patterns_per_s'])}; target {TARGET_PIPELINE:,.0f}/s: "
        f"{'met' if s['target_pipeline_met'] else 'NOT met'}"
    )
    print(
        f"  sampler: {rate(s['sampler_best_crystals_per_s'])} crystals; network training step: "
        f"{rate(s['network_step_best_patterns_per_s'])}; whole training loop (shipped recipe): "
        f"{rate(s['train_loop_patterns_per_s'])}"
    )
    if record["skipped"]:
        print(f"  skipped ({len(record['skipped'])}): " + "; ".join(record["skipped"]))
    if record["errors"]:
        print(f"  errors ({len(record['errors'])}): " + "; ".join(record["errors"]))
    print(f"  written to {out} under runs[{key!r}]")


# ------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results.json"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds on a CPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="seconds after which no new measurement starts (default 400; smoke: none)",
    )
    parser.add_argument(
        "--hard-deadline",
        type=float,
        default=None,
        help="seconds after which the run writes its results and exits (default 450; smoke: none)",
    )
    parser.add_argument("--min-time", type=float, default=None, help="seconds per measurement (default 2)")
    parser.add_argument(
        "--max-calls", type=int, default=None, help="calls per measurement at most (default 50)"
    )
    parser.add_argument("--note", default="", help="free text stored with the run (machine load, ...)")
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    # The deadlines keep a GPU run within its 8 minutes; a smoke run has none unless asked (its sizes are
    # tiny, and on a loaded CPU a deadline would make its results depend on the load).
    args.deadline = args.deadline if args.deadline is not None else (math.inf if args.smoke else 400.0)
    args.hard_deadline = (
        args.hard_deadline if args.hard_deadline is not None else (math.inf if args.smoke else 450.0)
    )
    args.min_time = args.min_time if args.min_time is not None else (0.0 if args.smoke else 2.0)
    args.max_calls = args.max_calls if args.max_calls is not None else (1 if args.smoke else 50)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch.cuda.is_available() is False (use --smoke --device cpu)")
    run = Run(args, device)
    print(
        f"xrdsynth GPU check, {run.record['mode']} run on {device} ({device_name(device)}), torch "
        f"{torch.__version__}; deadline {args.deadline:.0f} s, hard stop {args.hard_deadline:.0f} s "
        "(inf: none)",
        flush=True,
    )

    def hard_stop() -> None:
        record = run.finish(hard_stop=f"hard deadline during {run.current}")
        print_summary(record, run.key, args.out)
        print(
            f"hard deadline of {args.hard_deadline:.0f} s reached during {run.current}: results written, "
            "exiting",
            flush=True,
        )
        os._exit(3)

    watchdog = None
    if not math.isinf(args.hard_deadline):
        watchdog = threading.Timer(args.hard_deadline, hard_stop)
        watchdog.daemon = True
        watchdog.start()

    pools: list[xs.CrystalBatch] = []

    def pool() -> xs.CrystalBatch:
        """Crystals for the simulator: the sampler's largest batch, else a fresh one."""
        if not pools:
            pools.append(
                xs.SpaceGroupSampler(seed=args.seed, device=device).sample(sizes.simulator_batches[0])
            )
        return pools[0]

    def sampler_step() -> None:
        batch = measure_sampler(run, sizes, args.seed)
        if batch is not None:
            pools.append(batch)

    steps: list[tuple[str, Callable[[], None]]] = [
        ("checks", lambda: run_checks(run, sizes, args.seed)),
        ("sampler", sampler_step),
        (
            "simulator float32",
            lambda: measure_simulator(run, sizes, pool(), torch.float32, False, "simulator float32"),
        ),
        ("work", lambda: measure_work(run, sizes, pool())),
        ("pipeline", lambda: measure_pipeline(run, sizes, args.seed, False, "pipeline")),
        ("network", lambda: measure_network(run, sizes)),
        ("train loop", lambda: measure_train_loop(run, sizes)),
        (
            "simulator float64",
            lambda: measure_simulator(run, sizes, pool(), torch.float64, False, "simulator float64"),
        ),
    ]
    if sizes.compile_batches:
        steps.append(("compiled", lambda: compiled(run, sizes, pool(), args.seed)))
    for name, step in steps:
        if run.left() <= 0:
            run.skip(name, f"global deadline of {args.deadline:.0f} s passed")
            continue
        try:
            step()
        except Exception as exc:
            run.error(name, exc)
    if watchdog is not None:
        watchdog.cancel()
    record = run.finish()
    print_summary(record, run.key, args.out)
    summary = record["summary"]
    return 0 if summary["checks_passed"] and not summary["checks_skipped"] else 1


def compiled(run: Run, sizes: Sizes, pool: xs.CrystalBatch, seed: int) -> None:
    """compile=True: the simulator (float32) and the pipeline, within the 'compiled' allowance."""
    if run.left() < 60.0:
        run.skip("compiled", f"{run.left():.0f} s left, compilation needs about a minute")
        return
    measure_simulator(run, sizes, pool, torch.float32, True, "compiled simulator")
    if run.left() > 0:
        measure_pipeline(run, sizes, seed, True, "compiled pipeline")


if __name__ == "__main__":
    sys.exit(main())
