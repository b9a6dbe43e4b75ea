"""The model card says in which arithmetic its figures were measured (scripts/evaluate_classifier.py
--precision, scripts/write_model_card.py): bfloat16 and float32 networks turn a few answers near a tie, so a
figure without its arithmetic is not reproducible."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

import xrdsynth as xs
import xrdsynth.examples
from conftest import load_script
from xrdsynth.models import load_pretrained


def _measured_set(folder: Path) -> None:
    """A three-pattern stand-in for rruff-dev: the bundled examples simulated on its grid (Cu Kα1 + Kα2)."""
    two_theta = np.round(np.arange(5.0, 90.0, 0.01), 2)
    names, groups = ["quartz", "rutile", "pyrite"], [154, 136, 205]
    crystals = [xs.Crystal.from_cif(xrdsynth.examples.cif_path(name)) for name in names]
    simulator = xs.PowderSimulator(two_theta=two_theta, wavelength="CuKa", crystallite_size_nm=80.0)
    with torch.no_grad():
        intensity = simulator(crystals).double().numpy()
    np.savez(folder / "rruff-dev.npz", two_theta=two_theta, intensity=1000 * intensity, space_group=groups)


def test_evaluation_records_its_arithmetic_and_writes_the_float32_figures_beside(tmp_path: Path):
    script = load_script("evaluate_classifier")
    model = tmp_path / "model"
    shutil.copytree(Path(xrdsynth.models.__file__).parent / "pretrained" / "xrdsynth-resnet-cu", model)
    before = json.loads((model / "card.json").read_text(encoding="utf-8"))["card"]["evaluation"]
    (tmp_path / "rruff").mkdir()
    _measured_set(tmp_path / "rruff")
    arguments = ["--model", str(model), "--rruff", str(tmp_path / "rruff"), "--precision", "float32"]
    assert script.main([*arguments, "--write-card", "--card-key", "evaluation_float32"]) == 0
    card = json.loads((model / "card.json").read_text(encoding="utf-8"))["card"]
    assert card["evaluation"] == before  # the table's figures are left alone
    written = card["evaluation_float32"]
    assert written["precision"] == "float32"
    assert written["rruff"]["n"] == 3
    assert "--precision float32" in written["command"]
    # The same patterns through the library in float32 give the figure the script wrote.
    classifier = load_pretrained(str(model), precision="float32")
    data = np.load(tmp_path / "rruff" / "rruff-dev.npz")
    answers = classifier.predict_proba(data["two_theta"], data["intensity"], wavelength="CuKa1").argmax(1) + 1
    assert written["rruff"]["top1"] == np.mean(answers == data["space_group"])


def test_the_card_page_names_the_arithmetic_and_shows_float32_only_where_the_table_is_not():
    script = load_script("write_model_card")
    row = {"n": 449, "top1": 0.381, "top1_enantiomorph": 0.381, "top5": 0.661, "crystal_system": 0.539}
    evaluation = {"rruff": row, "precision": "bfloat16", "date": "d", "hardware": "h", "command": "c"}
    float32 = {**evaluation, "rruff": {**row, "top1": 0.367}, "precision": "float32"}
    assert script.arithmetic(evaluation) == "the network in bfloat16"
    assert "not recorded" in script.arithmetic({k: v for k, v in evaluation.items() if k != "precision"})
    lines = script.float32_lines(evaluation, float32)
    text = "\n".join(lines)
    assert "rruff-dev top-1 36.7 % against 38.1 % above" in text
    assert "| rruff-dev: 449 measured RRUFF laboratory patterns (Cu Kα) | 449 | 36.7 % |" in text
    assert script.float32_lines(evaluation, None) == []
    assert script.float32_lines(float32, float32) == []  # the table is float32 already
