"""The model card says in which arithmetic its figures were measured (scripts/evaluate_classifier.py
--precision, scripts/write_model_card.py): bfloat16 and float32 networks turn a few answers near a tie, so a
figure without its arithmetic is not reproducible."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
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


def test_both_crystal_system_answers_are_scored_and_the_card_shows_the_first_answers_where_recorded():
    script = load_script("evaluate_classifier")
    # Row 0: P2_1/c (14) first with 0.30, but the orthorhombic groups 16..74 hold 0.59 between them: the
    # most probable system is orthorhombic, the first answer's monoclinic. Row 1: cubic Fm-3m (225) alone.
    probability = np.zeros((2, 230))
    probability[0, 13] = 0.30
    probability[0, 15:74] = 0.01
    probability[0, 1] = 0.11
    probability[1, 224] = 1.0
    labels = np.array([14, 225])
    result = script.scores(probability, labels)
    assert result["top1"] == 1.0
    assert result["crystal_system"] == 0.5  # orthorhombic for row 0: wrong
    assert result["crystal_system_first"] == 1.0
    by_system = script.breakdown(probability, labels)["by_crystal_system"]
    # Both first answers are in their true system: monoclinic counted as monoclinic, cubic as cubic.
    monoclinic = {
        "n": 1,
        "top1": 1.0,
        "crystal_system": 0.0,
        "crystal_system_first": 1.0,
        "answered_as": [0, 1, 0, 0, 0, 0, 0],
    }
    assert by_system["monoclinic"] == monoclinic
    assert by_system["cubic"]["answered_as"] == [0, 0, 0, 0, 0, 0, 1]

    card = load_script("write_model_card")
    old = {"n": 449, "top1": 0.381, "top1_enantiomorph": 0.381, "top5": 0.661, "crystal_system": 0.539}
    new = {**old, "top1": 0.367, "crystal_system": 0.535, "crystal_system_first": 0.579}
    # An evaluation from before the second answer was scored keeps one system column.
    assert card.evaluation_table({"rruff": old})[0].count("crystal system") == 1
    table = card.evaluation_table({"rruff": new})
    assert table[0].endswith("| crystal system (most probable) | crystal system of the first answer |")
    assert table[2].endswith("| 53.5 % | 57.9 % |")
    text = " ".join(card.system_answer_lines({"rruff": old}, {"rruff": new, "precision": "float32"}))
    assert "first answer against summed (the network in float32): rruff-dev 57.9 % against 53.5 %." in text
    assert card.system_answer_lines({"rruff": old}, None) == []


def test_the_card_shows_which_crystal_systems_the_measured_patterns_are_mistaken_for():
    script = load_script("evaluate_classifier")
    card = load_script("write_model_card")
    # Three triclinic patterns: two answered P2_1/c (monoclinic), one P-1; one cubic pattern answered Pnma.
    probability = np.zeros((4, 230))
    probability[[0, 1], 13] = 1.0
    probability[2, 1] = 1.0
    probability[3, 61] = 1.0
    breakdown = script.breakdown(probability, np.array([2, 2, 2, 225]))
    lines = card.breakdown_lines(breakdown)
    header = "| true / answered | triclinic | monoclinic | orthorhombic | tetragonal | trigonal | hexagonal |"
    assert header + " cubic |" in lines
    assert "| triclinic | 1 | 2 | 0 | 0 | 0 | 0 | 0 |" in lines
    assert "| cubic | 0 | 0 | 1 | 0 | 0 | 0 | 0 |" in lines
    # Answers in the systems the set holds no pattern of are said to be wrong there; systems never
    # answered (tetragonal, ...) are not named.
    assert (
        "The set holds no monoclinic or orthorhombic pattern, so its 2 first answers in the monoclinic "
        "system and 1 first answer in the orthorhombic system are all wrong there; on other measured data "
        "such answers can be right." in lines
    )
    assert not any("tetragonal" in line for line in lines if line.startswith("The set holds"))
    # A card evaluated before the answers were counted keeps its table without the confusion rows.
    for row in breakdown["by_crystal_system"].values():
        del row["answered_as"]
    assert not any(line.startswith("| true / answered") for line in card.breakdown_lines(breakdown))


def test_apparent_counts_of_poisson_patterns_and_accuracy_by_counts():
    """Patterns of a few peaks on a 5 % background with Poisson noise at 150 and 3,000 counts at the
    strongest point: the estimate (background level / scatter²) finds each within 25 %; the breakdown puts
    each pattern in its class and scores it."""
    script = load_script("evaluate_classifier")
    x = np.linspace(5.0, 90.0, 8500)
    shape = 0.05 + sum(h * np.exp(-0.5 * ((x - c) / 0.05) ** 2) for c, h in [(20, 1.0), (35, 0.4), (61, 0.2)])
    generator = np.random.default_rng(0)
    counts = np.array([150.0, 3000.0])
    patterns = generator.poisson(counts[:, None] * shape[None, :] / shape.max()).astype(np.float64)
    estimate = script.apparent_peak_counts(patterns)
    np.testing.assert_allclose(estimate, counts, rtol=0.25)
    probability = np.full((2, 230), 1e-3)
    probability[0, 13], probability[1, 0] = 1.0, 1.0  # answers 14 and 1
    rows = script.counts_breakdown(patterns, probability, np.array([14, 2]))
    assert [r["n"] for r in rows] == [0, 1, 0, 1]  # 150 counts in 100-300, 3000 in >= 1000
    assert rows[1]["top1"] == 1.0 and rows[3]["top1"] == 0.0 and rows[0]["top1"] is None


def test_smoothed_rruff_scans_are_read_after_a_unit_area_gaussian(tmp_path: Path):
    """--rruff-smooth-fwhm: every scan convolved with a unit-area Gaussian of that FWHM before reading (the
    peaks keep their areas and positions, their heights fall); 0 reads the scans as they are."""
    script = load_script("evaluate_classifier")
    _measured_set(tmp_path)
    classifier = load_pretrained(None, precision="float32")
    plain = script.evaluate_rruff(classifier, tmp_path)[1]
    again = script.evaluate_rruff(classifier, tmp_path, 0.0)[1]
    smoothed = script.evaluate_rruff(classifier, tmp_path, 0.3)[1]
    np.testing.assert_array_equal(plain, again)
    assert not np.allclose(plain, smoothed)
    captured = {}
    original = classifier.predict_proba

    def spy(two_theta, intensity, **kwargs):
        captured["intensity"] = intensity
        return original(two_theta, intensity, **kwargs)

    classifier.predict_proba = spy
    script.evaluate_rruff(classifier, tmp_path, 0.3)
    measured = np.load(tmp_path / "rruff-dev.npz")["intensity"]
    np.testing.assert_allclose(captured["intensity"].sum(axis=1), measured.sum(axis=1), rtol=1e-3)
    assert float(captured["intensity"].max()) < 0.8 * float(measured.max())


def test_every_pattern_conditions_put_each_partial_effect_of_the_preset_on_every_pattern():
    """--every-pattern: besides clean, one condition per effect the laboratory preset applies to only a share
    of its patterns, holding that effect alone with p = 1 and the preset's other arguments; the impurity
    condition then adds another phase to every pattern of a batch (three distinct minerals: each pattern's
    impurity is another one)."""
    from xrdsynth.transforms import laboratory_cu_transforms

    script = load_script("evaluate_classifier")
    conditions = script.every_pattern_conditions((5.0, 90.0, 851), 0)
    partial = [t for t in laboratory_cu_transforms() if 0.0 < getattr(t, "p", 1.0) < 1.0]
    assert next(iter(conditions)) == "clean"
    counted = [k for k in conditions if k.startswith(script.COUNTED)]
    assert counted == [script.COUNTED, f"{script.COUNTED} + KBetaResidue", f"{script.COUNTED} + Impurity"]
    assert len(conditions) == 1 + len(partial) + len(counted)
    for transform in partial:
        name = type(transform).__name__
        (key,) = [k for k in conditions if k.startswith(f"+ {name} (")]
        assert f"{transform.p:.0%} of patterns" in key
        (effect,) = [*conditions[key].transforms.reflection, *conditions[key].transforms.pattern]
        assert type(effect) is type(transform) and effect.p == 1.0
        assert effect.extra_repr() == transform.extra_repr().replace(f"p={transform.p}", "p=1.0")
    crystals = [xs.Crystal.from_cif(xrdsynth.examples.cif_path(n)) for n in ("quartz", "rutile", "pyrite")]
    impurity = next(v for k, v in conditions.items() if k.startswith("+ Impurity ("))
    with torch.no_grad():
        clean = conditions["clean"](crystals)
        mixed = impurity(crystals)
        baseline = conditions[script.COUNTED](crystals)
        counted_mixed = conditions[f"{script.COUNTED} + Impurity"](crystals)
    assert bool((mixed - clean).abs().amax(dim=1).gt(1e-3).all())
    # Counted: a 3 % floor with Poisson noise of 1,000 counts at the strongest peak, so the points far from
    # any peak scatter about 0.03 by about sqrt(30) / 1000; the impurity adds its peaks on top of that.
    quiet = clean < 1e-6
    assert float(baseline[quiet].mean()) == pytest.approx(0.03, abs=0.003)
    assert 0.002 < float(baseline[quiet].std()) < 0.01
    assert bool((counted_mixed - baseline).abs().amax(dim=1).gt(1e-3).all())


def test_the_card_shows_the_every_pattern_table_with_its_own_run():
    card = load_script("write_model_card")
    row = {"n": 1210, "top1": 0.646, "top5": 0.84, "crystal_system": 0.82}
    every = {
        "every_pattern": {"clean": row, "+ Impurity (the preset's: 15% of patterns)": {**row, "top1": 0.208}},
        "precision": "bfloat16",
        "date": "2026-12-07",
        "hardware": "h",
        "command": "python scripts/evaluate_classifier.py --every-pattern",
    }
    text = "\n".join(card.every_pattern_lines(every))
    assert "| + Impurity (the preset's: 15% of patterns) | 20.8 % | -43.8 points | 84.0 % | 82.0 % |" in text
    assert "2026-12-07 (h; the network in bfloat16)" in text
    assert "python scripts/evaluate_classifier.py --every-pattern" in text
    assert "On a pattern that has it, Impurity (44 points)\ncosts more than 10 points of top-1" in text
    every["every_pattern"]["+ Impurity (the preset's: 15% of patterns)"]["top1"] = 0.6
    assert "On a pattern" not in "\n".join(card.every_pattern_lines(every))
    assert "counted" not in "\n".join(card.every_pattern_lines(every))
    # Counted rows: their costs against the counted baseline, and none of them in the costly sentence.
    every["every_pattern"]["counted: 1,000 counts over 3 %"] = {**row, "top1": 0.5}
    every["every_pattern"]["counted: 1,000 counts over 3 % + Impurity"] = {**row, "top1": 0.374}
    text = "\n".join(card.every_pattern_lines(every))
    assert "Against the counted baseline (50.0 %) the effects cost Impurity 12.6\npoints of top-1" in text
    assert "On a pattern" not in text


def test_the_card_gives_the_chance_interval_of_each_measured_figure():
    card = load_script("write_model_card")
    z = 1.959963984540054  # the two-sided 95 % normal quantile

    def wilson(k: int, n: int) -> tuple[float, float]:  # the closed form, written out independently
        centre = (k + z * z / 2) / (n + z * z)
        half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
        return centre - half, centre + half

    for k, n in [(179, 449), (7, 17), (0, 10), (10, 10), (787, 1210)]:
        low, high = card.share_interval(k / n, n)
        assert (low, high) == pytest.approx(wilson(k, n), abs=1e-9)
        assert low <= k / n <= high
    # No pattern right of 10 still allows up to z^2 / (n + z^2) = 27.8 %.
    assert card.share_interval(0.0, 10)[1] == pytest.approx(z * z / (10 + z * z), abs=1e-9)

    evaluation = {
        "rruff": {"n": 449, "top1": 179 / 449, "crystal_system_first": 269 / 449},
        "xred": {"n": 17, "top1": 7 / 17},
    }
    text = " ".join(card.chance_lines(evaluation))
    assert "rruff-dev (449 patterns) top-1 39.9 % (35.4–44.5 %)" in text
    assert "crystal system of the first answer 59.9 % (55.3–64.3 %)" in text
    assert "XRed (17 patterns) top-1 41.2 % (21.6–64.0 %)" in text
    assert "amcsd-dev" not in text
    assert card.chance_lines({"synthetic": {"n": 2048, "top1": 0.41}}) == []
