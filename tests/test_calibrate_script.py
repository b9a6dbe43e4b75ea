"""scripts/calibrate_classifier.py: the temperature fit and the crystal-system report, on made-up logits."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import load_script

calibrate = load_script("calibrate_classifier")


def test_fitted_temperature_recovers_the_one_the_labels_were_drawn_with() -> None:
    """Labels drawn from softmax(logits / 0.5): the maximum-likelihood temperature is close to 0.5."""
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(4000, 230))
    p = calibrate.softmax(logits, 0.5)
    labels = np.array([rng.choice(230, p=row) for row in p]) + 1
    assert calibrate.fit_temperature(logits, labels) == pytest.approx(0.5, rel=0.05)


def test_system_report_counts_summed_and_first_answers(capsys: pytest.CaptureFixture[str]) -> None:
    """A pattern of a triclinic group (P1) whose first answer is P1 but whose probability is spread over
    many orthorhombic groups: its first answer's system is right, the summed one wrong at a high
    temperature and right at a low one."""
    logits = np.zeros((1, 230))
    logits[0, 0] = 3.0  # P1, triclinic
    logits[0, 15:74] = 1.0  # the 59 orthorhombic groups 16..74
    calibrate.print_system_temperatures(logits, np.array([1]), np.zeros(230), fitted=1.0)
    out = capsys.readouterr().out
    assert "first answer: 100.0%" in out
    assert "T = 1.000: 0.0% right" in out
    assert "T = 0.300: 100.0% right" in out
