"""The training loop: outputs, resuming, the command line, and two-process DistributedDataParallel."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
import warnings
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import torch

import xrdsynth as xs
from xrdsynth import Crystal
from xrdsynth.models import Classifier, load_pretrained
from xrdsynth.train import (
    TrainConfig,
    build_data,
    build_parser,
    config_from_args,
    crystal_system_loss,
    describe_hardware,
    statistics_fingerprint,
    train,
    views_divergence,
)

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "architecture": "resnet10",
    "architecture_kwargs": {"width": 8, "stem_stride": 4},
    "two_theta": (10.0, 70.0, 400),
    "batch_size": 8,
    "warmup_steps": 2,
    "eval_patterns": 16,
    "log_every": 2,
    "threads": 1,
}


def rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "metrics.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_training_writes_a_loadable_classifier_and_its_metrics(tmp_path):
    config = TrainConfig(out=str(tmp_path / "run"), steps=6, checkpoint_every=3, eval_every=3, **TINY)
    classifier = train(config, progress=False)
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {"config.json", "metrics.csv", "checkpoint.pt", "model"}
    assert json.loads((run / "config.json").read_text())["steps"] == 6
    table = rows(run)
    assert [int(r["step"]) for r in table] == [2, 3, 4, 6]
    assert [int(r["samples"]) for r in table] == [16, 24, 32, 48]
    assert table[1]["val_top1"] != "" and table[-1]["val_top5"] != ""
    assert all(float(r["loss"]) > 0 for r in table)
    loaded = load_pretrained(run / "model")
    assert loaded.card["steps"] == 6
    assert loaded.card["samples_seen"] == 48
    assert loaded.card["hardware"] == f"1 x {describe_hardware('cpu')}"
    assert loaded.spec.num_points == 400
    x = torch.rand(3, 400)
    torch.testing.assert_close(loaded(x), classifier(x))


@pytest.mark.parametrize(("crystal_reuse", "crystal_pool"), [(1, 1), (4, 1), (2, 3)])
def test_resuming_with_the_same_total_reproduces_the_run(tmp_path, crystal_reuse, crystal_pool):
    """Also when the run stops in the middle of a pool of crystals (step 4 of pools of 3 batches)."""
    base = {**TINY, "steps": 6, "checkpoint_every": 2, "eval_every": 6, "crystal_reuse": crystal_reuse,
            "crystal_pool": crystal_pool}  # fmt: skip
    whole = train(TrainConfig(out=str(tmp_path / "whole"), **base), progress=False)
    # Interrupt the second run after 4 of its 6 steps by letting a callback raise.
    config = TrainConfig(out=str(tmp_path / "parts"), **base)
    with pytest.raises(KeyboardInterrupt):
        train(config, progress=False, _stop_after=4)
    assert torch.load(tmp_path / "parts" / "checkpoint.pt", weights_only=True)["step"] == 4
    resumed = train(config, progress=False)
    for a, b in zip(resumed.model.parameters(), whole.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_a_resumed_run_logs_every_step_once_with_the_losses_of_an_uninterrupted_run(tmp_path):
    """Stopped at step 5 with its last checkpoint at step 4, a run has logged step 5 already; resumed, it
    logs steps 5 and 6 again: metrics.csv then holds steps 1..6 once each, with the losses of the run that
    was never stopped."""
    base = {**TINY, "steps": 6, "checkpoint_every": 4, "eval_every": 6, "log_every": 1}
    train(TrainConfig(out=str(tmp_path / "whole"), **base), progress=False)
    config = TrainConfig(out=str(tmp_path / "parts"), **base)
    with pytest.raises(KeyboardInterrupt):
        train(config, progress=False, _stop_after=5)
    assert [int(r["step"]) for r in rows(tmp_path / "parts")] == [1, 2, 3, 4, 5]
    train(config, progress=False)
    parts, whole = rows(tmp_path / "parts"), rows(tmp_path / "whole")
    assert [int(r["step"]) for r in parts] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(parts, whole, strict=True):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-5)


@pytest.mark.filterwarnings("ignore:precision='bfloat16':RuntimeWarning")
def test_resuming_with_other_settings_is_refused_and_lists_every_difference(tmp_path):
    base = {**TINY, "steps": 2, "checkpoint_every": 2, "eval_every": 2}
    out = str(tmp_path / "run")
    train(TrainConfig(out=out, **base), progress=False)
    stored = (tmp_path / "run" / "config.json").read_text()
    wider = {**base, "architecture_kwargs": {"width": 16, "stem_stride": 4}}
    with pytest.raises(ValueError, match=r"architecture_kwargs: stored \{'width': 8") as info:
        train(TrainConfig(out=out, **wider), progress=False)
    assert "checkpoint.pt" in str(info.value)
    with pytest.raises(ValueError) as info:
        train(TrainConfig(out=out, **{**base, "lr": 0.01, "batch_size": 4, "steps": 3}), progress=False)
    differing = [line.split(":")[0].strip() for line in str(info.value).splitlines()[1:]]
    assert differing == ["steps", "batch_size", "lr"]
    # Nothing was written by the refused calls.
    assert (tmp_path / "run" / "config.json").read_text() == stored
    # Where and how often a run reports may change.
    allowed = {**base, "log_every": 1, "eval_every": 1, "checkpoint_every": 1, "threads": 2, "device": "cpu",
               "precision": "bfloat16"}  # fmt: skip
    train(TrainConfig(out=out, **allowed), progress=False)


def test_a_run_stopped_before_its_first_checkpoint_keeps_its_settings(tmp_path):
    base = {**TINY, "steps": 4, "checkpoint_every": 4, "eval_every": 4}
    out = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=out, **base), progress=False, _stop_after=1)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    refused = r"config.json belongs to a run with other settings.*\n  seed: stored 0, now 1"
    with pytest.raises(ValueError, match=refused):
        train(TrainConfig(out=out, **{**base, "seed": 1}), progress=False)


def test_runs_written_before_a_setting_existed_resume_with_its_old_behaviour(tmp_path):
    """A checkpoint whose stored settings lack ``smoothing_fwhm_deg``, ``crystal_reuse``, ``log_d_points``,
    ``rerender_size_nm``, ``kalpha2_strip_ratio``, ``baseline_threshold``, ``clean_doublet``, ``clean_noise``,
    ``free_atoms``, ``widths_fraction``, ``clean_effects``, ``kbeta_strip``, ``clean_pseudo_voigt`` and
    ``step_average`` (written before they existed) resumes with 0 (no smoothing), 1 (a crystal per pattern),
    0 (the 2θ grid), 0 (the pattern itself), 0 (Kα2 kept), 0 (every level read), 0 (clean patterns Kα1
    only), 0 (clean patterns without background or noise), 0 (atoms always pushed apart), 0 (no batches of
    widths alone), {} (no other effects on clean patterns), False (a Kβ residue kept), 0 (clean batches
    Gaussian only) and False (profiles read at the points), as it was trained, and is refused with any
    other value."""
    base = {**TINY, "steps": 4, "checkpoint_every": 2, "eval_every": 4}
    out = tmp_path / "run"
    config = TrainConfig(out=str(out), **base)
    with pytest.raises(KeyboardInterrupt):
        train(config, progress=False, _stop_after=2)
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    stored = json.loads(state["config"])
    del stored["smoothing_fwhm_deg"], stored["crystal_reuse"], stored["log_d_points"]
    del stored["rerender_size_nm"], stored["kalpha2_strip_ratio"], stored["baseline_threshold"]
    del stored["clean_doublet"], stored["clean_noise"], stored["free_atoms"], stored["widths_fraction"]
    del stored["clean_effects"], stored["kbeta_strip"], stored["clean_pseudo_voigt"], stored["step_average"]
    state["config"] = json.dumps(stored)
    torch.save(state, out / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"smoothing_fwhm_deg: stored 0.0, now 0.2"):
        train(TrainConfig(out=str(out), **{**base, "smoothing_fwhm_deg": 0.2}), progress=False)
    with pytest.raises(ValueError, match=r"crystal_reuse: stored 1, now 2"):
        train(TrainConfig(out=str(out), **{**base, "crystal_reuse": 2}), progress=False)
    with pytest.raises(ValueError, match=r"log_d_points: stored 0, now 64"):
        train(TrainConfig(out=str(out), **{**base, "log_d_points": 64}), progress=False)
    with pytest.raises(ValueError, match=r"rerender_size_nm: stored 0.0, now 50.0"):
        train(TrainConfig(out=str(out), **{**base, "rerender_size_nm": 50.0}), progress=False)
    with pytest.raises(ValueError, match=r"kalpha2_strip_ratio: stored 0.0, now 0.5"):
        train(TrainConfig(out=str(out), **{**base, "kalpha2_strip_ratio": 0.5}), progress=False)
    with pytest.raises(ValueError, match=r"baseline_threshold: stored 0.0, now 0.003"):
        train(TrainConfig(out=str(out), **{**base, "baseline_threshold": 0.003}), progress=False)
    doublet = TrainConfig(out=str(out), **{**base, "clean_fraction": 0.5, "clean_doublet": 0.5})
    with pytest.raises(ValueError, match=r"clean_doublet: stored 0.0, now 0.5"):
        train(doublet, progress=False)
    noise = TrainConfig(out=str(out), **{**base, "clean_fraction": 0.5, "clean_noise": 0.5})
    with pytest.raises(ValueError, match=r"clean_noise: stored 0.0, now 0.5"):
        train(noise, progress=False)
    with pytest.raises(ValueError, match=r"free_atoms: stored 0.0, now 0.5"):
        train(TrainConfig(out=str(out), **{**base, "free_atoms": 0.5}), progress=False)
    effects = TrainConfig(out=str(out), **{**base, "clean_fraction": 0.5, "clean_effects": {"Clip": 0.5}})
    with pytest.raises(ValueError, match=r"clean_effects: stored \{\}"):
        train(effects, progress=False)
    widths = TrainConfig(out=str(out), **{**base, "preset": "laboratory-cu", "widths_fraction": 0.5})
    with pytest.raises(ValueError, match=r"widths_fraction: stored 0.0, now 0.5"):
        train(widths, progress=False)
    pseudo_voigt = TrainConfig(out=str(out), **{**base, "clean_fraction": 0.5, "clean_pseudo_voigt": 0.5})
    with pytest.raises(ValueError, match=r"clean_pseudo_voigt: stored 0.0, now 0.5"):
        train(pseudo_voigt, progress=False)
    with pytest.raises(ValueError, match=r"kbeta_strip: stored False, now True"):
        train(TrainConfig(out=str(out), **{**base, "kbeta_strip": True}), progress=False)
    with pytest.raises(ValueError, match=r"step_average: stored False, now True"):
        train(TrainConfig(out=str(out), **{**base, "step_average": True}), progress=False)
    assert train(config, progress=False).card["steps"] == 4


def test_resuming_with_another_number_of_processes_is_refused(tmp_path, monkeypatch):
    base = {**TINY, "steps": 2, "checkpoint_every": 2, "eval_every": 2}
    train(TrainConfig(out=str(tmp_path / "run"), **base), progress=False)
    # As under torchrun with 2 processes: the refusal comes before any process group is made.
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match=r"processes \(WORLD_SIZE\): stored 1, now 2"):
        train(TrainConfig(out=str(tmp_path / "run"), **base), progress=False)


def test_describe_hardware_names_the_device() -> None:
    cpu = describe_hardware("cpu")
    threads = torch.get_num_threads()
    assert re.fullmatch(rf".+ \(\d+ cores\), {threads} torch threads?", cpu), cpu
    # One thread is "1 torch thread", as model cards print it.
    torch.set_num_threads(1)
    try:
        assert describe_hardware("cpu").endswith(f"({os.cpu_count()} cores), 1 torch thread")
    finally:
        torch.set_num_threads(threads)
    assert describe_hardware(torch.device("cpu")) == cpu
    if torch.cuda.is_available():
        assert describe_hardware("cuda:0") == torch.cuda.get_device_name(0)


def test_command_line_arguments_make_the_config():
    args = build_parser().parse_args(
        ["--out", "x", "--steps", "7", "--two-theta", "5", "60", "500", "--wavelength", "1.540593",
         "--architecture-kwargs", '{"width": 12}', "--space-group-weights", "tempered"]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.steps == 7
    assert config.two_theta == (5.0, 60.0, 500)
    assert config.wavelength == 1.540593
    assert config.architecture_kwargs == {"width": 12}
    assert config.space_group_weights == "tempered"
    mo = ["--wavelength", "MoKa1", "--preset", "clean"]  # the laboratory preset is Cu's
    assert config_from_args(build_parser().parse_args(mo)).wavelength == "MoKa1"
    texture = ["--preset-overrides", '{"PreferredOrientation": {"r": [0.35, 1.8], "p": 0.8}}']
    config = config_from_args(build_parser().parse_args(texture))
    assert config.preset_overrides == {"PreferredOrientation": {"r": [0.35, 1.8], "p": 0.8}}
    assert config_from_args(build_parser().parse_args(["--crystal-reuse", "4"])).crystal_reuse == 4
    assert config_from_args(build_parser().parse_args(["--crystal-pool", "64"])).crystal_pool == 64
    assert config_from_args(build_parser().parse_args(["--log-d-points", "4251"])).log_d_points == 4251
    rerender = config_from_args(build_parser().parse_args(["--rerender-size-nm", "50"]))
    assert rerender.rerender_size_nm == 50.0
    stripped = config_from_args(build_parser().parse_args(["--kalpha2-strip-ratio", "0.5"]))
    assert stripped.kalpha2_strip_ratio == 0.5
    cut = config_from_args(build_parser().parse_args(["--baseline-threshold", "0.003"]))
    assert cut.baseline_threshold == 0.003
    assert config_from_args(build_parser().parse_args(["--kbeta-strip"])).kbeta_strip is True
    assert config_from_args(build_parser().parse_args([])).kbeta_strip is False


def test_preset_overrides_reach_the_training_patterns():
    """The laboratory simulator of a run with preset_overrides carries them; the clean one is untouched;
    overrides the preset cannot take are refused when the config is made."""
    from xrdsynth.train import build_data

    texture = {"PreferredOrientation": {"r": [0.35, 1.8], "p": 0.8}}
    settings = {**TINY, "preset": "laboratory-cu", "clean_fraction": 0.5, "preset_overrides": texture}
    config = TrainConfig(**settings)
    _, mixture = build_data(config, torch.device("cpu"))
    clean, laboratory = mixture.simulators
    texture = [t for t in laboratory.transforms.reflection if type(t).__name__ == "PreferredOrientation"]
    assert len(texture) == 1 and texture[0].r == (0.35, 1.8) and texture[0].p == 0.8
    assert len(clean.transforms.reflection) == 0
    with pytest.raises(ValueError, match="no effect 'Texture'"):
        TrainConfig(preset_overrides={"Texture": {"r": 0.5}})
    with pytest.raises(ValueError, match="laboratory-cu"):
        TrainConfig(preset="clean", preset_overrides={"PreferredOrientation": {"r": 0.5}})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": 0}, "steps"),
        ({"clean_fraction": 1.5}, "clean_fraction"),
        ({"space_group_weights": "often"}, "weights"),
        ({"preset": "synchrotron"}, "preset"),
        ({"wavelength": "MoKa1"}, "Cu"),
        ({"snapshot_every": 5, "checkpoint_every": 2}, "multiple"),
        ({"workers": -1}, "workers"),
        ({"crystal_reuse": 0}, "crystal_reuse"),
        ({"crystal_reuse": 2.0}, "crystal_reuse"),
        ({"crystal_pool": 0}, "crystal_pool must be a positive int"),
        ({"crystal_reuse": 9}, r"crystal_reuse must be between 1 and batch_size \(8\)"),
        ({"precision": "float16"}, "precision must be one of float32, bfloat16"),
        ({"log_d_points": 8}, "log_d_points must be 0 or an int >= 16"),
        ({"log_d_points": 100.0}, "log_d_points"),
        ({"rerender_size_nm": -1.0}, "rerender_size_nm must be >= 0"),
        ({"kalpha2_strip_ratio": 1.0}, r"kalpha2_strip_ratio must be in \[0, 1\)"),
        ({"kalpha2_strip_ratio": 0.5, "wavelength": 1.5, "preset": "clean"}, "Kα1"),
        ({"kalpha2_strip_ratio": 0.5, "rerender_size_nm": 50.0}, "strips the Kα2 line itself"),
        ({"kbeta_strip": True, "wavelength": 1.5, "preset": "clean"}, "kbeta_strip needs a tube"),
        ({"kbeta_strip": 1}, "kbeta_strip must be True or False"),
        ({"rerender_size_nm": float("nan")}, "rerender_size_nm"),
        ({"baseline_threshold": -0.01}, r"baseline_threshold must be in \[0, 1\)"),
        ({"baseline_threshold": float("nan")}, "baseline_threshold must be in"),
        ({"consistency": -1.0, "crystal_reuse": 4}, "consistency must be >= 0"),
        ({"consistency": float("nan"), "crystal_reuse": 4}, "consistency must be >= 0"),
        ({"consistency": 1.0}, "needs crystal_reuse >= 2 dividing batch_size"),
        ({"consistency": 1.0, "crystal_reuse": 3}, "crystal_reuse=3, batch_size=8"),
        ({"clean_views": True}, "clean_views .* needs crystal_reuse >= 2"),
        ({"consistency_anchor": "median"}, "consistency_anchor must be one of mean, clean"),
        ({"consistency_anchor": "clean", "crystal_reuse": 4}, "needs clean_views"),
        ({"clean_views": True, "crystal_reuse": 4, "clean_fraction": 0.2}, "clean_fraction=0.2"),
        ({"clean_views": True, "crystal_reuse": 4, "preset": "clean"}, "preset='clean'"),
        ({"statistics": "no/such/statistics.json"}, "statistics must be one of .* the path .*no such file"),
        ({"space_group_counts": (1.0,) * 229, "space_group_weights": "tempered"}, "230 finite counts"),
        ({"space_group_counts": (-1.0,) * 230, "space_group_weights": "tempered"}, "230 finite counts"),
        ({"space_group_counts": (1.0,) * 230}, "needs space_group_weights 'statistics' or 'tempered'"),
    ],
)
def test_bad_configs_raise(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{**TINY, **change})


def test_training_data_can_come_from_a_statistics_file(tmp_path) -> None:
    # Statistics fitted on one's own collection (here: the default ones, with every structure in Fm-3m):
    # the crystals and the tempered space-group weights both follow the file.
    import dataclasses

    from xrdsynth.sampler import default_statistics

    path = tmp_path / "mine.json"
    dataclasses.replace(default_statistics(), space_group_counts={225: 5000}).save(path)
    config = TrainConfig(**{**TINY, "statistics": str(path), "space_group_weights": "tempered"})
    sampler, _ = build_data(config, torch.device("cpu"))
    groups = sampler.sample(300).space_group
    # Weights sqrt(5001) for Fm-3m against 1 for each other group: about 24 % Fm-3m, 0.3 % any other.
    assert int((groups == 225).sum()) > 45
    assert int(torch.bincount(groups, minlength=231)[torch.arange(231) != 225].max()) < 10
    args = build_parser().parse_args(["--statistics", str(path)])
    assert config_from_args(args).statistics == str(path)


@pytest.mark.filterwarnings("ignore:precision='bfloat16':RuntimeWarning")
def test_bfloat16_mixed_precision_trains_the_same_network_in_float32_weights(tmp_path) -> None:
    """Under bfloat16 autocast the weights stay float32 and the run follows the float32 one closely."""
    base = {**TINY, "steps": 3, "checkpoint_every": 3, "eval_every": 3, "lr": 1e-3}
    full = train(TrainConfig(out=str(tmp_path / "fp32"), **base), progress=False)
    mixed = train(TrainConfig(out=str(tmp_path / "bf16"), precision="bfloat16", **base), progress=False)
    assert all(p.dtype == torch.float32 for p in mixed.model.parameters())
    start = train(TrainConfig(out=str(tmp_path / "start"), **{**base, "lr": 1e-12}), progress=False)

    def distance(x: Classifier, y: Classifier) -> float:
        pairs = zip(x.model.parameters(), y.model.parameters(), strict=True)
        return sum(float((a - b).detach().norm()) for a, b in pairs)

    moved, apart = distance(full, start), distance(mixed, full)
    # bfloat16 keeps 8 bits of mantissa, and Adam's normalised steps enlarge the rounding of small
    # gradients: the two runs differ (bfloat16 did run), by much less than the distance they moved.
    assert 0 < apart < 0.5 * moved
    table = rows(tmp_path / "bf16")
    assert all(math.isfinite(float(r["loss"])) for r in table)
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["precision"] == "bfloat16"


@pytest.mark.parametrize("native", [False, True])
def test_bfloat16_on_a_cpu_without_bfloat16_instructions_warns(tmp_path, monkeypatch, native) -> None:
    """On an AVX2 CPU, emulated bfloat16 made a training step several times slower than float32: a user who
    asks for it there is told; on a CPU with AVX512-BF16 or AMX nothing is said."""
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, probe, lambda: native, raising=False)
    config = TrainConfig(
        out=str(tmp_path / "run"), precision="bfloat16", device="cpu",
        **{**TINY, "steps": 1, "checkpoint_every": 1, "eval_every": 1},
    )  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(config, progress=False)
    emulated = [w for w in caught if "no native bfloat16" in str(w.message)]
    assert len(emulated) == (0 if native else 1)
    if emulated:
        assert emulated[0].category is RuntimeWarning and "precision='float32'" in str(emulated[0].message)


@pytest.mark.slow
def test_two_process_distributed_training_with_gloo(tmp_path):
    """torchrun with 2 CPU processes: DDP over gloo, each rank on its own share of the data stream."""
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
        "-m", "xrdsynth.train", "--out", str(out), "--steps", "4", "--batch-size", "4",
        "--two-theta", "10", "70", "400", "--architecture-kwargs", '{"width": 8, "stem_stride": 4}',
        "--warmup-steps", "1", "--checkpoint-every", "2", "--eval-every", "4", "--eval-patterns", "8",
        "--log-every", "2", "--threads", "1", "--device", "cpu", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    table = rows(out)
    # Both ranks contributed: 4 steps x 4 patterns x 2 ranks.
    assert int(table[-1]["samples"]) == 32
    assert load_pretrained(out / "model").card["hardware"].startswith("2 x ")


def test_laboratory_preset_data_are_finite_with_max_one() -> None:
    from xrdsynth.data import SyntheticPowderDataset
    from xrdsynth.train import build_data

    config = TrainConfig(**{**TINY, "two_theta": (5.0, 70.0, 651), "preset": "laboratory-cu"})
    sampler, simulator = build_data(config, torch.device("cpu"))
    assert isinstance(simulator, xs.transforms.AugmentedSimulator)
    stream = SyntheticPowderDataset(sampler, simulator, batch_size=32, seed=3, num_batches=2)
    for patterns, _ in stream:
        assert bool(torch.isfinite(patterns).all()) and bool((patterns >= 0).all())
        nonempty = patterns.amax(dim=1) > 0
        torch.testing.assert_close(patterns.amax(dim=1)[nonempty], torch.ones(int(nonempty.sum())))


def test_clean_fraction_mixes_clean_and_laboratory_batches() -> None:
    from xrdsynth.train import build_data
    from xrdsynth.train._data import SimulatorMixture

    config = TrainConfig(**{**TINY, "clean_fraction": 0.5})
    _, mixture = build_data(config, torch.device("cpu"))
    assert isinstance(mixture, SimulatorMixture)
    clean, lab = mixture.simulators
    assert clean.simulator.profile == "gaussian" and not clean.transforms.reflection
    assert lab.simulator.profile == "pseudo_voigt" and len(lab.transforms.pattern) > 0
    calls = [0, 0]
    for i, simulator in enumerate(mixture.simulators):
        simulator.register_forward_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
    batch = xs.SpaceGroupSampler(seed=0).sample(2)
    for seed in range(12):
        mixture(batch, generator=torch.Generator().manual_seed(seed))
    assert calls[0] > 0 and calls[1] > 0 and sum(calls) == 12


def test_workers_do_not_change_the_run_and_snapshots_are_kept(tmp_path) -> None:
    """Generating in a DataLoader worker gives the same stream, hence the same weights, as in-process."""
    base = {**TINY, "steps": 4, "checkpoint_every": 2, "snapshot_every": 2, "eval_every": 4}
    inline = train(TrainConfig(out=str(tmp_path / "inline"), **base), progress=False)
    worker = train(TrainConfig(out=str(tmp_path / "worker"), workers=1, **base), progress=False)
    pairs = zip(inline.model.state_dict().items(), worker.model.state_dict().values(), strict=True)
    for (name, a), b in pairs:
        torch.testing.assert_close(a, b, msg=name)
    kept = sorted(p.name for p in (tmp_path / "inline" / "snapshots").iterdir())
    assert kept == ["step-0000002", "step-0000004"]


def test_init_from_copies_weights_and_refuses_another_architecture(tmp_path) -> None:
    config = TrainConfig(out=str(tmp_path / "a"), steps=2, checkpoint_every=2, eval_every=2, **TINY)
    first = train(config, progress=False)
    config = TrainConfig(out=str(tmp_path / "b"), steps=1, checkpoint_every=1, eval_every=1, lr=0.0,
                         init_from=str(tmp_path / "a" / "model"), **{**TINY, "warmup_steps": 1})  # fmt: skip
    second = train(config, progress=False)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)  # lr 0: the copied weights are unchanged
    wider = {**TINY, "architecture_kwargs": {"width": 16, "stem_stride": 4}}
    with pytest.raises(ValueError, match="init_from"):
        train(TrainConfig(out=str(tmp_path / "c"), steps=1, init_from=str(tmp_path / "a" / "model"), **wider),
              progress=False)  # fmt: skip


def test_a_resnet10_starts_a_resnet18_that_computes_the_same_and_not_the_reverse(tmp_path) -> None:
    """Function-preserving deepening: the added blocks start as the identity, so before any update the
    resnet18 gives the donor's logits; a shallower run cannot take a deeper donor."""
    config = TrainConfig(out=str(tmp_path / "a"), steps=2, checkpoint_every=2, eval_every=2, **TINY)
    donor = train(config, progress=False)
    deep = {**TINY, "architecture": "resnet18", "warmup_steps": 1}
    config = TrainConfig(out=str(tmp_path / "b"), steps=1, checkpoint_every=1, eval_every=1, lr=0.0,
                         init_from=str(tmp_path / "a" / "model"), **deep)  # fmt: skip
    deeper = train(config, progress=False)
    assert deeper.architecture == "resnet18"
    assert sum(p.numel() for p in deeper.parameters()) > 1.5 * sum(p.numel() for p in donor.parameters())
    patterns = torch.rand(6, donor.spec.num_points)
    with torch.no_grad():
        torch.testing.assert_close(deeper.eval()(patterns), donor.eval()(patterns), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="init_from"):
        train(TrainConfig(out=str(tmp_path / "c"), steps=1, init_from=str(tmp_path / "b" / "model"), **TINY),
              progress=False)  # fmt: skip


def test_a_resnet_starts_one_with_a_position_head_that_computes_the_same(tmp_path) -> None:
    """The position head starts at zero: before any update the network with it gives the donor's logits;
    after an update the head has learned something; a donor with the head cannot start one without it."""
    config = TrainConfig(out=str(tmp_path / "a"), steps=2, checkpoint_every=2, eval_every=2, **TINY)
    donor = train(config, progress=False)
    headed = {**TINY, "architecture_kwargs": {"width": 8, "stem_stride": 4, "position_points": 400}}
    headed["warmup_steps"] = 1
    config = TrainConfig(out=str(tmp_path / "b"), steps=1, checkpoint_every=1, eval_every=1, lr=0.0,
                         init_from=str(tmp_path / "a" / "model"), **headed)  # fmt: skip
    same = train(config, progress=False)
    patterns = torch.rand(6, donor.spec.num_points)
    with torch.no_grad():
        torch.testing.assert_close(same.eval()(patterns), donor.eval()(patterns), rtol=1e-6, atol=1e-6)
    config = TrainConfig(out=str(tmp_path / "c"), steps=2, checkpoint_every=2, eval_every=2, lr=1e-3,
                         init_from=str(tmp_path / "a" / "model"), **headed)  # fmt: skip
    learned = train(config, progress=False)
    assert learned.model.position_head[-1].weight.abs().max() > 0
    with pytest.raises(ValueError, match="init_from"):
        train(TrainConfig(out=str(tmp_path / "d"), steps=1, init_from=str(tmp_path / "c" / "model"), **TINY),
              progress=False)  # fmt: skip


def test_views_divergence_is_the_jensen_shannon_divergence_of_each_crystals_views() -> None:
    logits = torch.randn(3, 230, dtype=torch.float64)
    # Identical views: nothing to penalise, whatever the predictions.
    assert views_divergence(logits.repeat_interleave(4, dim=0), 4).item() == pytest.approx(0.0, abs=1e-6)
    # Two certain views that disagree: ln 2, the largest divergence of two distributions.
    certain = torch.full((2, 230), -50.0)
    certain[0, 0] = certain[1, 1] = 50.0
    assert views_divergence(certain, 2).item() == pytest.approx(math.log(2), rel=1e-6)
    # Against the definition for two views, with scipy's independent Jensen-Shannon distance.
    from scipy.spatial.distance import jensenshannon

    pair = torch.randn(2, 230, dtype=torch.float64)
    p, q = torch.softmax(pair, dim=-1).numpy()
    assert views_divergence(pair, 2).item() == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-4)
    # Anchored on the first (clean) view: KL(p_1 || p_v) over the other views, no gradient into the first.
    from scipy.stats import entropy

    logits = torch.randn(3, 230, requires_grad=True)
    anchored = views_divergence(logits, 3, anchor="clean")
    p1, p2, p3 = torch.softmax(logits.detach().double(), dim=-1).numpy()
    assert anchored.item() == pytest.approx((entropy(p1, p2) + entropy(p1, p3)) / 2, rel=1e-4)
    anchored.backward()
    assert logits.grad is not None and torch.all(logits.grad[0] == 0) and torch.any(logits.grad[1] != 0)
    with pytest.raises(ValueError, match="anchor"):
        views_divergence(logits, 3, anchor="last")
    with pytest.raises(ValueError, match="whole groups of views=2"):
        views_divergence(logits, 2)


def test_crystal_system_loss_is_the_likelihood_of_the_summed_probability_of_the_systems_groups() -> None:
    from xrdsynth.symmetry import crystal_system

    logits = torch.randn(5, 230, dtype=torch.float64)
    target = torch.tensor([0, 13, 61, 166, 224])  # P1, P2₁/c, Pnma, R-3m (trigonal), Fm-3m: 0-based
    probability = torch.softmax(logits, dim=-1)
    expected = []
    for row, group in zip(probability, target.tolist(), strict=True):
        mine = [n - 1 for n in range(1, 231) if crystal_system(n) == crystal_system(group + 1)]
        expected.append(-math.log(float(row[mine].sum())))
    assert crystal_system_loss(logits, target).item() == pytest.approx(sum(expected) / 5, rel=1e-6)
    # Certain of the system but split evenly between two of its groups: no system loss, ln 2 of cross-entropy.
    split = torch.full((1, 230), -60.0)
    split[0, 13] = split[0, 14] = 10.0  # P2₁/c and C2/c, both monoclinic
    assert crystal_system_loss(split, torch.tensor([13])).item() == pytest.approx(0.0, abs=1e-6)
    loss = torch.nn.functional.cross_entropy(split, torch.tensor([13])).item()
    assert loss == pytest.approx(math.log(2), rel=1e-5)
    # All on the wrong system: large.
    assert crystal_system_loss(split, torch.tensor([224])).item() > 50
    with pytest.raises(ValueError, match=r"\(B, 230\)"):
        crystal_system_loss(torch.zeros(2, 7), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="crystal_system_loss"):
        TrainConfig(crystal_system_loss=-1.0)


def test_crystal_system_loss_is_part_of_the_training_loss_and_of_the_command_line(tmp_path) -> None:
    """The same steps and data with the system term give a larger logged loss (it adds a positive term)."""
    losses = {}
    for weight in (0.0, 1.0):
        config = TrainConfig(out=str(tmp_path / f"w{weight}"), steps=2, checkpoint_every=2, eval_every=2,
                             crystal_system_loss=weight, **TINY)  # fmt: skip
        train(config, progress=False)
        losses[weight] = float(rows(tmp_path / f"w{weight}")[0]["loss"])
    assert losses[1.0] > losses[0.0] + 0.1
    args = build_parser().parse_args(["--out", str(tmp_path / "cli"), "--crystal-system-loss", "0.5"])
    assert config_from_args(args).crystal_system_loss == 0.5


def test_space_group_counts_from_a_file_set_the_weights_and_resume(tmp_path) -> None:
    """--space-group-counts replaces the statistics' counts in the tempered and statistics weights (here
    every mineral in Fm-3m), is stored with the run so that it resumes exactly, and a bad file is refused."""
    from xrdsynth.train._data import space_group_weights

    path = tmp_path / "counts.json"
    path.write_text(json.dumps({"space_group_counts": {"225": 3, "2": 8}}), encoding="utf-8")
    args = ["--space-group-weights", "tempered", "--tempering", "0.5", "--space-group-counts", str(path)]
    config = config_from_args(build_parser().parse_args(args))
    assert config.space_group_counts[1] == 8.0 and config.space_group_counts[224] == 3.0
    assert sum(config.space_group_counts) == 11.0
    weights = space_group_weights(config)
    assert weights[1] == pytest.approx(3.0) and weights[224] == pytest.approx(2.0) and weights[0] == 1.0
    as_counts = TrainConfig(**{**TINY, "space_group_weights": "statistics",
                               "space_group_counts": config.space_group_counts})  # fmt: skip
    sampler, _ = build_data(as_counts, torch.device("cpu"))
    assert set(sampler.sample(40).space_group.tolist()) == {2, 225}
    base = {**TINY, "steps": 2, "checkpoint_every": 1, "eval_every": 2, "seed": 4,
            "space_group_weights": "tempered", "space_group_counts": config.space_group_counts}  # fmt: skip
    whole = train(TrainConfig(out=str(tmp_path / "whole"), **base), progress=False)
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=str(tmp_path / "stopped"), **base), progress=False, _stop_after=1)
    resumed = train(TrainConfig(out=str(tmp_path / "stopped"), **base), progress=False)
    pairs = zip(whole.model.named_parameters(), resumed.model.named_parameters(), strict=True)
    for (_, a), (_, b) in pairs:
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="space_group_counts"):
        train(
            TrainConfig(out=str(tmp_path / "stopped"), **{**base, "space_group_counts": None}), progress=False
        )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"space_group_counts": {"231": 1}}), encoding="utf-8")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--space-group-counts", str(bad)])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--space-group-counts", str(tmp_path / "missing.json")])


def test_counting_space_groups_once_per_mineral(tmp_path) -> None:
    """scripts/count_space_groups.py: every row per structure; the first row of each named mineral per
    mineral, unnamed rows left out; the file it writes is what --space-group-counts reads."""
    index = tmp_path / "index.csv"
    index.write_text(
        "amcsd_id,mineral,space_group\n1,Halite,225\n2,Halite,225\n3,Albite,2\n4,<missing>,225\n"
        "5,,62\n6,Quartz,154\n7,Odd,\n",
        encoding="utf-8",
    )
    out = tmp_path / "counts.json"
    script = ROOT / "scripts" / "count_space_groups.py"
    for per, expected in (("structure", {"225": 3, "2": 1, "62": 1, "154": 1}),
                          ("mineral", {"225": 1, "2": 1, "154": 1})):  # fmt: skip
        subprocess.run([sys.executable, str(script), str(tmp_path), "--per", per, "--out", str(out)],
                       check=True, capture_output=True)  # fmt: skip
        assert json.loads(out.read_text())["space_group_counts"] == expected
    config = config_from_args(build_parser().parse_args(["--space-group-weights", "tempered",
                                                         "--space-group-counts", str(out)]))  # fmt: skip
    assert [g + 1 for g, c in enumerate(config.space_group_counts) if c] == [2, 154, 225]


def test_consistency_changes_the_run_and_resumes_exactly(tmp_path) -> None:
    base = {**TINY, "steps": 4, "checkpoint_every": 2, "eval_every": 4, "crystal_reuse": 4, "seed": 3}
    plain = train(TrainConfig(out=str(tmp_path / "plain"), **base), progress=False)
    consistent = train(TrainConfig(out=str(tmp_path / "c"), **base, consistency=5.0), progress=False)
    weights = dict(plain.model.named_parameters())
    assert any(not torch.equal(weights[k], v) for k, v in consistent.model.named_parameters())
    stopped = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=str(stopped), **base, consistency=5.0), progress=False, _stop_after=2)
    resumed = train(TrainConfig(out=str(stopped), **base, consistency=5.0), progress=False)
    pairs = zip(consistent.model.named_parameters(), resumed.model.named_parameters(), strict=True)
    for (_, a), (_, b) in pairs:
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"consistency: stored 5\.0, now 0\.0"):
        train(TrainConfig(out=str(stopped), **base), progress=False)


def test_clean_views_make_the_first_pattern_of_each_crystal_clean() -> None:
    from xrdsynth.train import ViewMixture

    class Marker(torch.nn.Module):
        """A stand-in simulator: each pattern holds its crystal's space group, times ``factor``."""

        def __init__(self, factor: float) -> None:
            super().__init__()
            self.factor = factor
            self.two_theta = torch.linspace(10, 70, 5)

        def forward(self, batch, generator=None):
            return self.factor * batch.space_group.double()[:, None].expand(-1, 5)

    crystals = xs.SpaceGroupSampler(seed=0).sample(8)
    patterns = ViewMixture(Marker(1.0), Marker(-1.0), views=4)(crystals, torch.Generator())
    groups = crystals.space_group.double()
    sign = torch.tensor([1.0, -1, -1, -1, 1, -1, -1, -1], dtype=torch.float64)
    torch.testing.assert_close(patterns[:, 0], sign * groups)
    # The training data of a config with clean_views: the clean preset first, the laboratory one after.
    config = TrainConfig(**{**TINY, "crystal_reuse": 4, "clean_views": True})
    _, simulator = build_data(config, torch.device("cpu"))
    assert isinstance(simulator, ViewMixture) and simulator.views == 4
    assert "KAlphaDoublet" not in repr(simulator.clean) and "KAlphaDoublet" in repr(simulator.laboratory)


def test_a_run_whose_statistics_changed_is_not_resumed(tmp_path) -> None:
    # A shipped name follows the installed xrdsynth and a file can be rewritten: a run resumed on other
    # statistics would continue on other crystals, so the checkpoint keeps their fingerprint.
    import dataclasses

    from xrdsynth.sampler import default_statistics

    path = tmp_path / "mine.json"
    default_statistics().save(path)
    base = {**TINY, "steps": 4, "checkpoint_every": 2, "eval_every": 4, "statistics": str(path)}
    out = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=out, **base), progress=False, _stop_after=2)
    stored = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["statistics_sha256"]
    assert stored == statistics_fingerprint(str(path)) != statistics_fingerprint("default-v1")
    dataclasses.replace(default_statistics(), volume_shift=-0.3).save(path)
    with pytest.raises(ValueError, match=r"statistics '.*mine.json': content changed since the checkpoint"):
        train(TrainConfig(out=out, **base), progress=False)
    default_statistics().save(path)  # the same content again: resumes
    assert train(TrainConfig(out=out, **base), progress=False).card["steps"] == 4


def test_clean_doublet_puts_the_kalpha2_line_on_clean_patterns_and_nothing_else() -> None:
    from xrdsynth.simulate import WAVELENGTHS
    from xrdsynth.train import build_data
    from xrdsynth.train._data import SimulatorMixture

    config = TrainConfig(**{**TINY, "clean_fraction": 0.2, "clean_doublet": 0.5})
    _, mixture = build_data(config, torch.device("cpu"))
    assert isinstance(mixture, SimulatorMixture)
    clean, lab = mixture.simulators
    # The clean batches: the clean preset's Gaussian peaks, the laboratory preset's doublet and nothing else.
    assert clean.simulator.profile == "gaussian"
    assert [type(t).__name__ for t in clean.transforms.reflection] == ["KAlphaDoublet"]
    assert not clean.transforms.pattern
    doublet, lab_doublet = clean.transforms.reflection[0], lab.transforms.reflection[0]
    assert doublet.p == 0.5 and doublet.ratio == lab_doublet.ratio
    # About half of the clean patterns get Kα2, at the laboratory preset's ratios.
    drawn = clean.transforms.draw_reflections(4000, torch.Generator().manual_seed(1), torch.float64)
    [(wavelength, weight)] = drawn.extra_lines
    assert wavelength == WAVELENGTHS["CuKa2"]
    shown = weight[weight > 0]
    assert 0.46 < len(shown) / 4000 < 0.54
    assert doublet.ratio[0] <= float(shown.min()) and float(shown.max()) <= doublet.ratio[1]
    # The ratios follow the laboratory preset's as the run's overrides set them.
    overrides = {"KAlphaDoublet": {"ratio": [0.4, 0.45]}}
    changed = {**TINY, "clean_fraction": 0.2, "clean_doublet": 0.5, "preset_overrides": overrides}
    _, mixture = build_data(TrainConfig(**changed), torch.device("cpu"))
    assert mixture.simulators[0].transforms.reflection[0].ratio == (0.4, 0.45)
    # Without the option the clean batches stay Kα1 only.
    _, plain = build_data(TrainConfig(**{**TINY, "clean_fraction": 0.2}), torch.device("cpu"))
    assert not plain.simulators[0].transforms.reflection
    with pytest.raises(ValueError, match="clean_doublet adds the Cu Kα doublet to clean patterns"):
        TrainConfig(**{**TINY, "clean_fraction": 0.0, "clean_doublet": 0.5})
    with pytest.raises(ValueError, match="clean_doublet must be a probability"):
        TrainConfig(**{**TINY, "clean_fraction": 0.2, "clean_doublet": 1.5})


def test_clean_noise_puts_the_background_and_the_counting_noise_on_clean_patterns() -> None:
    from xrdsynth.train import build_data

    overrides = {"PoissonNoise": {"counts": [100.0, 200.0]}}
    config = TrainConfig(**{**TINY, "clean_fraction": 0.2, "clean_noise": 0.5, "preset_overrides": overrides})
    _, mixture = build_data(config, torch.device("cpu"))
    clean, lab = mixture.simulators
    assert clean.simulator.profile == "gaussian"
    assert not clean.transforms.reflection  # no Kα2 without clean_doublet
    names = [type(t).__name__ for t in clean.transforms.pattern]
    assert names == ["Background", "PoissonNoise"]  # the background before the noise that counts it
    background, noise = clean.transforms.pattern
    lab_background = next(t for t in lab.transforms.pattern if type(t).__name__ == "Background")
    assert (background.level, background.floor) == (lab_background.level, lab_background.floor)
    assert background.p == 0.5
    assert noise.counts == (100.0, 200.0) and noise.p == 0.5  # the run's overrides hold
    # On clean patterns (one peak on an empty baseline) half get a smooth background, and of those half
    # are counted with Poisson noise (noise alone leaves an empty baseline empty); the maximum stays 1.
    two_theta = torch.linspace(5.0, 90.0, 800)
    batch = torch.zeros(2000, 800)
    batch[:, 400] = 1.0
    out = clean.transforms.apply_patterns(batch, two_theta, torch.Generator().manual_seed(3))
    baseline = out[:, :300]
    raised = (baseline > 1e-6).any(dim=1)
    noisy = baseline.diff(n=2, dim=1).abs().amax(dim=1) > 1e-3
    assert 0.45 < float(raised.double().mean()) < 0.55
    assert 0.4 < float(noisy[raised].double().mean()) < 0.6
    torch.testing.assert_close(out.amax(dim=1), torch.ones(2000))
    with pytest.raises(ValueError, match="clean_noise adds the laboratory preset's background"):
        TrainConfig(**{**TINY, "clean_fraction": 0.0, "clean_noise": 0.5})
    with pytest.raises(ValueError, match="clean_noise must be a probability"):
        TrainConfig(**{**TINY, "clean_fraction": 0.2, "clean_noise": -0.1})


def test_step_average_reaches_every_simulator_of_the_recipe() -> None:
    """--step-average: the clean batches (Gaussian and pseudo-Voigt), the laboratory preset and the widths
    alone all render each grid point as the mean over its step; without it none does."""
    from xrdsynth.train import build_data

    recipe = {
        **TINY, "preset": "laboratory-cu", "clean_fraction": 0.2, "clean_pseudo_voigt": 0.5,
        "widths_fraction": 0.1,
    }  # fmt: skip

    def simulators(module) -> list:
        if hasattr(module, "simulators"):
            return [s for m in module.simulators for s in simulators(m)]
        return [module.simulator]

    for flag in (True, False):
        _, data = build_data(TrainConfig(**recipe, step_average=flag), torch.device("cpu"))
        found = simulators(data)
        assert len(found) == 4
        assert all(sim.step_average is flag for sim in found)
    parsed = config_from_args(build_parser().parse_args(["--step-average"]))
    assert parsed.step_average is True


def test_clean_pseudo_voigt_renders_a_share_of_the_clean_batches_with_pseudo_voigt_peaks() -> None:
    """With clean_pseudo_voigt the clean batches are a per-batch mixture of the clean recipe on Gaussian
    peaks and the same recipe (sizes, effects) on the laboratory preset's pseudo-Voigt peaks, in the given
    shares; a pseudo-Voigt pattern of the same crystal is the same sticks with Lorentzian tails (more
    intensity far from its peaks); without the option the clean batches stay Gaussian."""
    from xrdsynth.examples import cif_path
    from xrdsynth.train import build_data
    from xrdsynth.train._data import SimulatorMixture

    config = TrainConfig(**{**TINY, "clean_fraction": 0.2, "clean_doublet": 0.5, "clean_pseudo_voigt": 0.25})
    _, mixture = build_data(config, torch.device("cpu"))
    clean, lab = mixture.simulators
    assert isinstance(clean, SimulatorMixture)
    gaussian, pseudo_voigt = clean.simulators
    assert gaussian.simulator.profile == "gaussian" and pseudo_voigt.simulator.profile == "pseudo_voigt"
    assert lab.simulator.profile == "pseudo_voigt"
    assert pseudo_voigt.simulator.crystallite_size_nm == gaussian.simulator.crystallite_size_nm
    assert [type(t).__name__ for t in pseudo_voigt.transforms.reflection] == ["KAlphaDoublet"]
    torch.testing.assert_close(clean._weights, torch.tensor([0.75, 0.25], dtype=torch.float64))
    quartz = [xs.Crystal.from_cif(cif_path("quartz"))]
    plain = [gaussian.simulator(quartz, generator=torch.Generator().manual_seed(0))]
    tails = [pseudo_voigt.simulator(quartz, generator=torch.Generator().manual_seed(0))]
    between = plain[0][0] < 1e-4  # points far from every Gaussian peak
    assert float(tails[0][0][between].mean()) > 10 * float(plain[0][0][between].mean())
    _, only_gaussian = build_data(TrainConfig(**{**TINY, "clean_fraction": 0.2}), torch.device("cpu"))
    assert only_gaussian.simulators[0].simulator.profile == "gaussian"
    all_voigt = TrainConfig(**{**TINY, "clean_fraction": 0.2, "clean_pseudo_voigt": 1.0})
    assert build_data(all_voigt, torch.device("cpu"))[1].simulators[0].simulator.profile == "pseudo_voigt"
    with pytest.raises(ValueError, match="clean_pseudo_voigt renders a share of the clean batches"):
        TrainConfig(**{**TINY, "clean_fraction": 0.0, "clean_pseudo_voigt": 0.5})
    with pytest.raises(ValueError, match="clean_pseudo_voigt must be a share"):
        TrainConfig(**{**TINY, "clean_fraction": 0.2, "clean_pseudo_voigt": 1.5})
    arguments = ["--clean-fraction", "0.3", "--clean-pseudo-voigt", "0.5"]
    parsed = config_from_args(build_parser().parse_args(arguments))
    assert parsed.clean_pseudo_voigt == 0.5


def test_free_atoms_draws_some_batches_without_minimum_distances() -> None:
    """With ``free_atoms`` a sampler call's crystals are, with that probability, placed without minimum
    distances (atoms closer than any pair distance the sampler enforces), at about the same volumes per atom,
    with labels spglib confirms; the same generator gives the same crystals."""
    from xrdsynth.train import build_data

    sampler, _ = build_data(TrainConfig(**{**TINY, "free_atoms": 0.5}), torch.device("cpu"))
    table = sampler.min_distance_table()
    floor = table[table > 0].min()  # the smallest distance any pair is kept apart by
    free, pushed = [], []
    for k in range(12):
        crystals = sampler.sample(24, generator=torch.Generator().manual_seed(k)).to_crystals()
        closest = min(
            float(np.sort(c.distances(), axis=None)[c.num_atoms]) for c in crystals if c.num_atoms > 1
        )
        (free if closest < floor else pushed).append(crystals)
    assert len(free) >= 2 and len(pushed) >= 2  # both kinds occur (p = 0.5 per call)
    volume = [np.median([c.volume / c.num_atoms for batch in kind for c in batch]) for kind in (free, pushed)]
    assert 0.7 < volume[0] / volume[1] < 1.3  # the volume shift is not applied to cells that do not grow
    for crystal in free[0][:8]:
        assert crystal.detect_space_group(symprec=1e-3) == crystal.space_group
    again = sampler.sample(24, generator=torch.Generator().manual_seed(0))
    first = sampler.sample(24, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(again.frac_coords, first.frac_coords, rtol=0, atol=0)
    with pytest.raises(ValueError, match="free_atoms must be a probability"):
        TrainConfig(**{**TINY, "free_atoms": 1.5})
    plain, _ = build_data(TrainConfig(**TINY), torch.device("cpu"))
    assert type(plain).__name__ == "SpaceGroupSampler"  # without the option the stream is unchanged


def test_widths_fraction_adds_batches_with_the_laboratory_widths_alone() -> None:
    """A share of batches rendered with the laboratory preset's pseudo-Voigt peaks and its instrument
    function, sizes and strain (the run's overrides holding), Kα1 alone, without background or noise: a
    pattern of such a batch has narrower peaks than the clean preset's 20–100 nm and an empty baseline."""
    from xrdsynth.train import build_data

    overrides = {"CrystalliteSize": {"size_nm": [2000.0, 3000.0]}}
    base = {**TINY, "preset": "laboratory-cu", "clean_fraction": 0.3, "preset_overrides": overrides}
    base["two_theta"] = (20.0, 35.0, 1501)  # 0.01° steps: rutile's (110) at 27.4° and the baseline before it
    _, mixture = build_data(TrainConfig(**{**base, "widths_fraction": 0.2}), torch.device("cpu"))
    clean, _, widths = mixture.simulators
    torch.testing.assert_close(mixture._weights, torch.tensor([0.3, 0.5, 0.2], dtype=torch.float64))
    assert widths.simulator.profile == "pseudo_voigt" and not widths.transforms.pattern
    names = [type(t).__name__ for t in widths.transforms.reflection]
    assert names == ["InstrumentFunction", "CrystalliteSize", "Microstrain"]
    assert widths.transforms.reflection[1].size_nm == (2000.0, 3000.0)
    rutile = Crystal.from_cif(files("xrdsynth.examples") / "rutile.cif")
    generator = torch.Generator().manual_seed(0)
    narrow, broad = widths([rutile], generator=generator)[0], clean([rutile], generator=generator)[0]
    assert (narrow > 0.5).sum() < (broad > 0.5).sum()  # the strongest peak's top is narrower
    assert float(narrow[:400].abs().max()) < 1e-3  # nothing below 24° (no background)
    with pytest.raises(ValueError, match="widths_fraction must be in"):
        TrainConfig(**{**base, "widths_fraction": 0.8})
    with pytest.raises(ValueError, match="widths_fraction takes the laboratory-cu preset"):
        TrainConfig(**{**TINY, "preset": "clean", "widths_fraction": 0.1})


def test_clean_effects_put_more_laboratory_effects_on_clean_patterns() -> None:
    """``clean_effects`` adds the laboratory preset's effects (its arguments, as the run's overrides set them)
    to the clean patterns with the probabilities given, in the preset's order among the doublet, background
    and noise; the width effects and unknown names are refused."""
    from xrdsynth.train import build_data

    overrides = {"ScanRange": {"start": [10.0, 12.0]}}
    effects = {"ScanRange": 0.5, "Impurity": 0.25}
    config = TrainConfig(
        **{
            **TINY,
            "clean_fraction": 0.2,
            "clean_noise": 0.1,
            "clean_effects": effects,
            "preset_overrides": overrides,
        }
    )
    _, mixture = build_data(config, torch.device("cpu"))
    clean = mixture.simulators[0]
    names = [type(t).__name__ for t in clean.transforms.pattern]
    assert names == ["Impurity", "Background", "PoissonNoise", "ScanRange"]  # the preset's order
    impurity, scan = clean.transforms.pattern[0], clean.transforms.pattern[3]
    assert (impurity.p, scan.p) == (0.25, 0.5)
    assert scan.start == (10.0, 12.0)  # the run's overrides hold
    # Half of the clean patterns lose their start: zero below the cut, the rest keep the whole grid.
    two_theta = torch.linspace(10.0, 70.0, 400)
    batch = torch.ones(400, 400)
    generator = torch.Generator().manual_seed(1)
    cut = scan.apply(batch.clone(), two_theta, scan.draw(400, generator, batch.dtype), generator)
    assert 0.4 < float((cut[:, 0] == 0).double().mean()) < 0.6
    for refused in ({"InstrumentFunction": 0.1}, {"Background": 0.1}, {"Nonsense": 0.1}):
        with pytest.raises(ValueError, match="cannot go on clean patterns"):
            TrainConfig(**{**TINY, "clean_fraction": 0.2, "clean_effects": refused})
    with pytest.raises(ValueError, match="probabilities in"):
        TrainConfig(**{**TINY, "clean_fraction": 0.2, "clean_effects": {"Clip": 1.5}})
    with pytest.raises(ValueError, match="needs clean batches"):
        TrainConfig(**{**TINY, "clean_effects": {"Clip": 0.5}})
