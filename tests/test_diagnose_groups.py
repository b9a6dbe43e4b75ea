"""scripts/diagnose_groups.py: the rows of its tables say how often the answers are right and what they are
mistaken for."""

from __future__ import annotations

import numpy as np

from conftest import load_script


def test_system_row_counts_the_crystal_systems_of_the_first_answers():
    script = load_script("diagnose_groups")
    # Four triclinic patterns (P-1): answered P-1, P2_1/c, C2/c and Pnma; one cubic pattern answered Fm-3m.
    labels = np.array([2, 2, 2, 2, 225])
    answers = np.array([2, 14, 15, 62, 225])
    assert script.system_row(answers, labels, 0) == "25% of 4 (→ monoclinic 2, orthorhombic 1)"
    assert script.system_row(answers, labels, 6) == "100% of 1"
    assert script.system_row(answers, labels, 3) == "—"  # no tetragonal pattern


def test_recall_row_names_the_most_frequent_answers():
    script = load_script("diagnose_groups")
    labels = np.array([14, 14, 14, 2])
    answers = np.array([14, 14, 2, 2])
    assert script.recall_row(answers, labels, 14) == "67% of 3 (P2_1/c 2, P-1 1)"
    assert script.recall_row(answers, labels, 62) == "—"
