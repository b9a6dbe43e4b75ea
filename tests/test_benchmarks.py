"""The benchmark scripts that CI can run: benchmarks/gpu.py in its CPU smoke mode, and its checks."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import xrdsynth as xs

ROOT = Path(__file__).resolve().parents[1]
GPU_SCRIPT = ROOT / "benchmarks" / "gpu.py"


def load_script(path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(path.stem + "_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_script(path: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    # The xrdsynth under test, also in the child process.
    source = str(Path(xs.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONIOENCODING": "utf-8",
        "PYTHONPATH": os.pathsep.join([source, *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    return subprocess.run(
        [sys.executable, str(path), *map(str, args)],
        capture_output=True, text=True, timeout=900, env=env, cwd=ROOT, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict]:
    """One smoke run of gpu.py on the CPU, merged into a results file that already holds other figures."""
    out = tmp_path_factory.mktemp("gpu") / "results.json"
    out.write_text(json.dumps({"comparisons": [{"task": "kept"}], "runs": {"older/run": {"mode": "full"}}}))
    result = run_script(GPU_SCRIPT, "--smoke", "--device", "cpu", "--out", out, "--note", "test")
    return result, json.loads(out.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_gpu_smoke_run_passes_its_checks_and_merges_its_record(smoke_run) -> None:
    result, data = smoke_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # Other keys and other runs are kept; the new run is keyed hostname/device/date.
    assert data["comparisons"] == [{"task": "kept"}]
    assert data["runs"]["older/run"] == {"mode": "full"}
    new = [key for key in data["runs"] if key != "older/run"]
    assert len(new) == 1
    host, device, date = new[0].split("/")
    assert host and device.startswith("cpu") and len(date) == 10
    record = data["runs"][new[0]]
    assert record["schema"] == "xrdsynth-gpu-check/1"
    assert record["mode"] == "smoke" and record["note"] == "test"
    assert record["errors"] == [] and record["hard_stop"] is None and record["skipped"] == []
    assert record["deadline_s"] is None  # a smoke run has no deadline: its results do not depend on the load
    assert record["host"]["device"] == "cpu"
    assert "checks: 11 run, all passed, 0 skipped" in result.stdout


@pytest.mark.slow
def test_gpu_smoke_equality_checks_hold(smoke_run) -> None:
    _, data = smoke_run
    record = next(r for k, r in data["runs"].items() if k != "older/run")
    checks = record["checks"]
    cases = {c["case"] for c in checks["simulator"]}
    assert len(checks["simulator"]) == 10  # 5 cases x float32 and float64
    assert "laboratory-cu reflection effects, float64" in cases
    for check in checks["simulator"]:
        assert check["passed"] and 0.0 <= check["max_rel_diff"] <= 1e-4, check
        assert check["patterns"] >= 4
    sampler = checks["sampler"]
    assert sampler["passed"] and sampler["deterministic_on_device"] and sampler["statistics_ok"]
    assert sampler["same_crystals_as_cpu"]  # the device is the CPU here
    assert len(sampler["statistics"]) == 4 + 7
    assert all(row["z"] <= 4.5 for row in sampler["statistics"])
    assert sampler["labels"]["checked"] == 8 and sampler["labels_ok"]
    assert sampler["patterns_of_device_crystals"]["max_rel_diff"] <= 1e-4
    assert record["summary"]["checks_passed"] is True
    assert record["summary"]["checks_run"] == 11


@pytest.mark.slow
def test_gpu_smoke_measures_every_stage(smoke_run) -> None:
    _, data = smoke_run
    record = next(r for k, r in data["runs"].items() if k != "older/run")
    throughput = record["throughput"]
    for key in ("simulator", "sampler", "sample+simulate", "network step", "train loop"):
        assert throughput[key], key
        for row in throughput[key]:
            assert row["items_per_s"] > 0 and math.isfinite(row["items_per_s"]), (key, row)
    assert {(r["dtype"], r["compile"]) for r in throughput["simulator"]} == {
        ("float32", False),
        ("float64", False),
    }
    work = record["work"]
    assert work["simulator float32 eager"]["flops_per_pattern"] > 0
    assert work["simulator float32 eager"]["aten_op_calls"] > 0
    assert work["network training step"]["flops_per_pattern"] > 1e6
    summary = record["summary"]
    assert summary["target_simulate_patterns_per_s"] == 1_000_000
    assert summary["target_pipeline_patterns_per_s"] == 200_000
    assert summary["simulator_best_patterns_per_s"] > 0


def test_gpu_deadline_skips_everything_and_still_writes_the_record(tmp_path) -> None:
    # A deadline of 0 s: every section is skipped (no timing involved), the run says so and fails.
    out = tmp_path / "results.json"
    result = run_script(GPU_SCRIPT, "--smoke", "--device", "cpu", "--out", out, "--deadline", "0")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    (record,) = json.loads(out.read_text(encoding="utf-8"))["runs"].values()
    assert record["deadline_s"] == 0 and record["hard_deadline_s"] is None
    skipped = [text.split(":")[0] for text in record["skipped"]]
    assert skipped == [
        "checks", "sampler", "simulator float32", "work", "pipeline", "network", "train loop",
        "simulator float64",
    ]  # fmt: skip
    assert record["checks"] == {} and record["throughput"] == {} and record["errors"] == []
    assert record["summary"]["checks_passed"] is False and record["summary"]["checks_run"] == 0


def test_gpu_compare_fails_on_a_difference_and_on_nan() -> None:
    gpu = load_script(GPU_SCRIPT)
    x = torch.rand(3, 50, dtype=torch.float64)
    assert gpu.compare(x.clone(), x)["passed"]
    off = x.clone()
    off[1, 7] += 2e-4 * float(x[1].abs().max())
    result = gpu.compare(off, x)
    assert not result["passed"] and result["max_rel_diff"] == pytest.approx(2e-4, rel=1e-6)
    off[1, 7] = math.nan
    assert not gpu.compare(off, x)["passed"]
    assert not gpu.compare(x[:2], x)["passed"]


def test_gpu_call_time_prediction_follows_the_fixed_cost_of_a_call() -> None:
    """The sampler on the H200 (2026-12-04): 2.2 s for 256 crystals; with a second point at 1,024 the next
    sizes are extrapolated along the line, not in proportion (which predicted 71 s for 4,096: skipped)."""
    gpu = load_script(GPU_SCRIPT)
    assert gpu.call_time_scale((256, 2.2), None, 4096) == pytest.approx(16.0)
    assert gpu.call_time_scale((1024, 2.5), (256, 2.2), 4096) * 2.5 == pytest.approx(2.5 + 0.3 / 768 * 3072)
    # never predicts less than the last call when the larger batch happened to be faster
    assert gpu.call_time_scale((1024, 2.0), (256, 2.2), 4096) == pytest.approx(1.0)


def test_gpu_results_merge_keeps_other_keys_and_refuses_a_broken_file(tmp_path) -> None:
    gpu = load_script(GPU_SCRIPT)
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"hardware": "2 cores", "runs": {"a/cpu2/2026-12-01": {"x": 1}}}))
    gpu.write_merged(out, "b/NVIDIA H200/2026-12-02", {"y": 2})
    data = json.loads(out.read_text())
    assert data["hardware"] == "2 cores"
    assert data["runs"] == {"a/cpu2/2026-12-01": {"x": 1}, "b/NVIDIA H200/2026-12-02": {"y": 2}}
    out.write_text("not json")
    gpu.write_merged(out, "c", {"z": 3})
    assert out.read_text() == "not json"
    assert json.loads((tmp_path / "results.json.unmerged.json").read_text())["runs"] == {"c": {"z": 3}}


def test_gpu_training_script_sizes_its_run_to_the_budget(tmp_path: Path) -> None:
    """scripts/train_on_gpu.py in its CPU smoke mode: it measures its step rate, trains the shipped recipe for
    as many steps as the probe's rate fits into what is left of the budget, and leaves a loadable model and a
    summary. (How long the run then takes depends on the machine's load, which a test cannot assume.)"""
    out = tmp_path / "run"
    script = ROOT / "scripts" / "train_on_gpu.py"
    done = run_script(script, "--out", out, "--smoke", "--budget-s", "20", "--clean-doublet", "0.5")
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["clean_doublet"] == 0.5  # the one recipe change asked for
    sizing = summary["sizing"]
    assert sizing["steps_per_s"] > 0 and sizing["seconds_for_steps"] < 20.0
    assert summary["steps"] == max(1, int(sizing["steps_per_s"] * sizing["seconds_for_steps"]))
    assert summary["config"]["workers"] == 0 and summary["config"]["precision"] == "bfloat16"
    model = xs.models.load_pretrained(out / "model")
    assert model.card["samples_seen"] == summary["patterns"]
    with pytest.raises(SystemExit):  # a second run into the same folder is refused
        load_script(ROOT / "scripts" / "train_on_gpu.py").main(["--out", str(out), "--smoke"])


def test_train_loop_rate_leaves_out_the_first_steps(tmp_path: Path) -> None:
    """Patterns/s of a run from its metrics.csv: from the first row at or after --skip to the last."""
    loop = load_script(ROOT / "benchmarks" / "train_loop.py")
    rows = ["step,samples,elapsed_s", "10,1280,30.0", "20,2560,35.0", "30,3840,40.0", "40,5120,45.0"]
    (tmp_path / "metrics.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert loop.loop_rate(tmp_path, skip=20) == pytest.approx(2560 / 10.0)
    with pytest.raises(ValueError, match="fewer than two metric rows"):
        loop.loop_rate(tmp_path, skip=40)


def test_train_loop_reads_thread_and_worker_settings_and_refuses_bad_ones() -> None:
    loop = load_script(ROOT / "benchmarks" / "train_loop.py")
    assert loop.parse_processes("2:1,1:1,1:2") == [(2, 1), (1, 1), (1, 2)]
    assert loop.parse_processes("1:0, 2:0") == [(1, 0), (2, 0)]
    for bad in ("2:1", "2:1,2:1", "0:1,1:1", "1:-1,1:1", "2,1", "a:b,1:1"):
        with pytest.raises(ValueError, match="--processes"):
            loop.parse_processes(bad)
    with pytest.raises(SystemExit):  # reported by argparse, before any run starts
        loop.main(["--processes", "2:1"])


def test_train_loop_takes_the_shipped_recipe_in_the_precision_asked() -> None:
    """On a CPU without bfloat16 the loop is measured in float32 (bfloat16 is emulated there, 13x slower)."""
    loop = load_script(ROOT / "benchmarks" / "train_loop.py")
    card = xs.models.load_pretrained().card["recipe"]
    assert loop.shipped_recipe() == card
    changed = loop.shipped_recipe("float32")
    assert changed["precision"] == "float32"
    assert {k: v for k, v in changed.items() if k != "precision"} == {
        k: v for k, v in card.items() if k != "precision"
    }
    with pytest.raises(SystemExit):
        loop.main(["--processes", "1:2,1:1", "--precision", "float16"])


def test_inference_benchmark_counts_the_flops_of_a_forward_pass() -> None:
    """benchmarks/inference.py's work per pattern is the closed-form count of a convolution and a linear
    layer (2 FLOPs per multiply-add), whatever the batch it counts on."""
    inference = load_script(ROOT / "benchmarks" / "inference.py")
    points, channels, kernel, classes = 50, 4, 5, 3
    length = points - kernel + 1
    model = torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, points)),
        torch.nn.Conv1d(1, channels, kernel),
        torch.nn.Flatten(),
        torch.nn.Linear(channels * length, classes),
    )
    expected = 2 * channels * length * kernel + 2 * channels * length * classes
    assert inference.flops_per_pattern(model, points) == expected
    assert inference.flops_per_pattern(model, points, batch=3) == expected
