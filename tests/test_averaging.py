"""Weight averaging of classifiers (models.average_classifiers) and the script that averages a run's
snapshots."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import load_script
from xrdsynth.models import Classifier, InputSpec, average_classifiers, load_pretrained, save_pretrained

ROOT = Path(__file__).resolve().parents[1]
SPEC = InputSpec(10.0, 70.0, 400, wavelength=1.540593, sqrt_scale=True)


def classifier(seed: int, steps: int | None = None, width: int = 8, spec: InputSpec = SPEC) -> Classifier:
    torch.manual_seed(seed)
    card = {"name": f"seed-{seed}"} if steps is None else {"name": f"seed-{seed}", "steps": steps}
    return Classifier.from_architecture("resnet10", spec, width=width, card=card).eval()


def average_snapshots(run: Path, out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """scripts/average_snapshots.py RUN --out OUT [OPTIONS], as a user runs it."""
    script = ROOT / "scripts" / "average_snapshots.py"
    command = [sys.executable, str(script), str(run), "--out", str(out), *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_parameters_are_the_mean_and_the_inputs_are_left_alone() -> None:
    members = [classifier(seed) for seed in (0, 1, 2)]
    before = [{k: v.clone() for k, v in c.model.state_dict().items()} for c in members]
    averaged = average_classifiers(members)
    for name, value in averaged.model.state_dict().items():
        expected = sum(state[name].double() for state in before) / 3
        torch.testing.assert_close(value.double(), expected, rtol=0, atol=1e-6)
    for c, state in zip(members, before, strict=True):
        for name, value in c.model.state_dict().items():
            assert torch.equal(value, state[name])
    assert not averaged.training


def test_copies_of_one_network_average_to_the_same_answers() -> None:
    one = classifier(0)
    patterns = torch.rand(4, SPEC.num_points)
    with torch.no_grad():
        expected = one(patterns)
        torch.testing.assert_close(average_classifiers([one])(patterns), expected)
        three = average_classifiers([one, one, one])
        torch.testing.assert_close(three(patterns), expected, rtol=0, atol=1e-5)


def test_the_card_says_what_was_averaged_and_survives_saving(tmp_path) -> None:
    members = [classifier(0, steps=1000), classifier(1, steps=2000)]
    members[1].temperature = 1.7
    averaged = average_classifiers(members)
    assert averaged.card["name"] == "seed-1"  # the latest snapshot's card
    assert averaged.card["weight_average"] == {"networks": 2, "steps": [1000, 2000]}
    assert averaged.temperature == 1.7
    assert "weight_average" not in members[1].card
    loaded = load_pretrained(save_pretrained(averaged, tmp_path / "avg"), precision="float32")
    patterns = torch.rand(2, SPEC.num_points)
    with torch.no_grad():
        torch.testing.assert_close(loaded(patterns), averaged(patterns))
    assert loaded.card["weight_average"]["networks"] == 2


@pytest.mark.parametrize(
    ("other", "match"),
    [
        (lambda: classifier(1, width=12), "architecture_kwargs"),
        (lambda: classifier(1, spec=InputSpec(10.0, 70.0, 400, wavelength=1.540593)), "spec"),
    ],
    ids=["width", "input"],
)
def test_different_networks_are_refused(other, match) -> None:
    with pytest.raises(ValueError, match=match):
        average_classifiers([classifier(0), other()])


def test_nothing_to_average_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        average_classifiers([])


def test_the_script_averages_the_second_half_of_a_run(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"steps": 400}))
    members = {step: classifier(step, steps=step) for step in (100, 200, 300, 400)}
    for step, c in members.items():
        save_pretrained(c, run / "snapshots" / f"step-{step:07d}")
    save_pretrained(members[400], run / "model")  # the final model coincides with the last snapshot
    result = average_snapshots(run, tmp_path / "a")
    assert result.returncode == 0, result.stderr
    assert "averaged 3 networks (steps 200, 300, 400)" in result.stdout
    written = load_pretrained(tmp_path / "a", precision="float32")
    expected = average_classifiers([members[200], members[300], members[400]])
    for name, value in written.model.state_dict().items():
        torch.testing.assert_close(value, expected.model.state_dict()[name], rtol=0, atol=1e-6)
    assert written.card["weight_average"]["steps"] == [200, 300, 400]


def test_the_script_says_when_there_is_nothing_to_average(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"steps": 400}))
    result = average_snapshots(run, tmp_path / "a")
    assert result.returncode != 0
    assert "no snapshot" in result.stderr


def test_the_script_averages_a_fine_tune_with_its_start(tmp_path) -> None:
    start = classifier(7, steps=5000)
    start_folder = save_pretrained(start, tmp_path / "start")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"steps": 800, "init_from": str(start_folder)}))
    tuned = classifier(8, steps=800)
    save_pretrained(tuned, run / "model")
    result = average_snapshots(run, tmp_path / "soup", "--with-start", "--from-step", "800")
    assert result.returncode == 0, result.stderr
    assert "averaged 2 networks (steps 800 and its start" in result.stdout
    written = load_pretrained(tmp_path / "soup", precision="float32")
    for name, value in written.model.state_dict().items():
        expected = (start.model.state_dict()[name].double() + tuned.model.state_dict()[name].double()) / 2
        torch.testing.assert_close(value.double(), expected, rtol=0, atol=1e-6)
    record = written.card["weight_average"]
    assert record["steps"] == [5000, 800]
    sha = json.loads((start_folder / "card.json").read_text(encoding="utf-8"))["weights_sha256"]
    assert record["start"] == {"name": "seed-7", "init_from": str(start_folder), "weights_sha256": sha}
    assert written.card["name"] == "seed-8"  # the fine-tune's card: its recipe is what was trained


def test_the_script_refuses_a_start_the_run_does_not_have(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"steps": 400, "init_from": None}))
    save_pretrained(classifier(1, steps=400), run / "model")
    result = average_snapshots(run, tmp_path / "a", "--with-start")
    assert result.returncode != 0
    assert "not initialised from a network" in result.stderr


def test_the_script_averages_a_start_that_strips_kbeta_as_the_run_reads(tmp_path) -> None:
    """The shipped card strips a Kβ residue at inference, which a run trained from it does not: the two are
    averaged with the run's preprocessing; a start that reads its input otherwise is still refused."""
    stripping = dataclasses.replace(SPEC, kbeta_strip=True)
    run = tmp_path / "run"
    run.mkdir()
    save_pretrained(classifier(8, steps=800), run / "model")
    start_folder = save_pretrained(classifier(7, steps=5000, spec=stripping), tmp_path / "start")
    (run / "config.json").write_text(json.dumps({"steps": 800, "init_from": str(start_folder)}))
    result = average_snapshots(run, tmp_path / "soup", "--with-start", "--from-step", "800")
    assert result.returncode == 0, result.stderr
    assert "differ in kbeta_strip" in result.stdout
    assert not load_pretrained(tmp_path / "soup").spec.kbeta_strip
    other = dataclasses.replace(SPEC, background_window_deg=2.0)
    save_pretrained(classifier(7, steps=5000, spec=other), tmp_path / "start")
    result = average_snapshots(run, tmp_path / "soup2", "--with-start", "--from-step", "800")
    assert result.returncode != 0
    assert "differs from classifier 0 in its spec" in result.stderr


def soup_models(out: Path, *models: Path) -> subprocess.CompletedProcess[str]:
    """scripts/soup_models.py MODEL... --out OUT, as a user runs it."""
    script = ROOT / "scripts" / "soup_models.py"
    command = [sys.executable, str(script), *map(str, models), "--out", str(out)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def fine_tune(seed: int, start_sha256: str, folder: Path) -> tuple[Classifier, Path]:
    """A classifier whose card says it was averaged with the start of that sha256, saved to ``folder``."""
    member = classifier(seed, steps=700)
    member.card.update(samples_seen=1000 * seed, wall_time_s=10.0 * seed, seed=seed)
    member.card["weight_average"] = {
        "networks": 2,
        "steps": [5000, 700],
        "start": {"name": "s", "weights_sha256": start_sha256},
    }
    return member, save_pretrained(member, folder)


def test_the_soup_script_averages_runs_from_one_start_and_sums_their_training(tmp_path) -> None:
    (a, folder_a), (b, folder_b) = (fine_tune(s, "abc", tmp_path / f"m{s}") for s in (3, 4))
    result = soup_models(tmp_path / "soup", folder_a, folder_b)
    assert result.returncode == 0, result.stderr
    written = load_pretrained(tmp_path / "soup", precision="float32")
    for name, value in written.model.state_dict().items():
        expected = (a.model.state_dict()[name].double() + b.model.state_dict()[name].double()) / 2
        torch.testing.assert_close(value.double(), expected, rtol=0, atol=1e-6)
    # The soup cost the training of both runs, and its card says which runs they were.
    assert written.card["samples_seen"] == 7000
    assert written.card["wall_time_s"] == 70.0
    assert written.card["name"] == "seed-3+seed-4"
    assert [m["seed"] for m in written.card["weight_average"]["members"]] == [3, 4]


def test_the_soup_script_refuses_runs_from_different_starts(tmp_path) -> None:
    _, folder_a = fine_tune(3, "abc", tmp_path / "m3")
    _, folder_b = fine_tune(4, "def", tmp_path / "m4")
    result = soup_models(tmp_path / "soup", folder_a, folder_b)
    assert result.returncode != 0
    assert "do not all record one start" in result.stderr
    assert not (tmp_path / "soup").exists()


def test_the_card_page_says_how_a_soup_weighs_its_start(tmp_path) -> None:
    """scripts/write_model_card.py describes a soup of runs averaged with their start (the start weighs half)
    and a soup of the runs as trained (the start has no weight of its own), from what soup_models.py wrote."""
    weights_lines = load_script("write_model_card").weights_lines
    folders = []
    for seed in (3, 4):
        member = classifier(seed, steps=700)
        member.card.update(samples_seen=1000 * seed, wall_time_s=10.0, seed=seed)
        member.card["recipe"] = {"init_from": "xrdsynth-resnet-cu"}
        folders.append(save_pretrained(member, tmp_path / f"raw{seed}"))
    assert soup_models(tmp_path / "raw-soup", *folders).returncode == 0
    line, seeds = weights_lines(load_pretrained(tmp_path / "raw-soup").card)
    assert line.startswith("- **Weights**: the mean of 2 runs of this recipe trained from one start")
    assert "(xrdsynth-resnet-cu)" in line and "weighs half" not in line
    assert seeds.startswith("- **Seeds**: 3, 4; **patterns seen** in these runs: 7,000")
    averaged = [fine_tune(s, "abc123def456789", tmp_path / f"m{s}")[1] for s in (3, 4)]
    assert soup_models(tmp_path / "soup", *averaged).returncode == 0
    line, _ = weights_lines(load_pretrained(tmp_path / "soup").card)
    assert "from one start (s, sha256 abc123def456…), each first averaged with that start" in line
    assert line.endswith("so the start weighs half.")
