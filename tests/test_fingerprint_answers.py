"""scripts/fingerprint_answers.py: the comparison names the first stage at which two machines' readings of
the same patterns part, and ignores rounding."""

from __future__ import annotations

import pytest

from conftest import load_script


def record(resampled: float = 10.0, strip: float = 0.0, answer: int = 14, logp: float = -0.5) -> dict:
    return {
        "resampled_sum": resampled,
        "resampled_max": 1.0,
        "strip_l1": strip,
        "input_sum": resampled / 10,
        "input_l2": 0.5,
        "top_log_probabilities": [logp, logp - 1, logp - 2],
        "top_groups": [answer, 2, 15],
    }


def test_compare_names_the_stage_where_patterns_part_and_ignores_rounding():
    script = load_script("fingerprint_answers")
    here = [record(), record(), record(), record()]
    there = [
        record(resampled=10.0 * (1 + 1e-7), logp=-0.5 * (1 + 1e-7)),  # rounding only
        record(strip=0.3),  # the Kβ strip acted on one machine only
        record(logp=-0.3, answer=62),  # the network alone differs, and the answer with it
        record(resampled=10.5),  # the resampled pattern already differs
    ]
    rows = script.compare(here, there)
    assert rows["resampled"] == [3]
    assert rows["kbeta_strip"] == [1]
    assert rows["network"] == [2]
    assert rows["answer"] == [2]


def test_compare_refuses_fingerprints_of_different_sets():
    script = load_script("fingerprint_answers")
    with pytest.raises(ValueError, match="hold 2 and 1 patterns"):
        script.compare([record(), record()], [record()])
