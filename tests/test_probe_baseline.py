"""scripts/probe_baseline_sensitivity.py: each condition adds exactly its one effect to the same patterns."""

from __future__ import annotations

import torch

from conftest import load_script


def _probe():
    return load_script("probe_baseline_sensitivity")


def test_conditions_add_one_effect_to_the_same_patterns():
    probe = _probe()
    two_theta = torch.linspace(5.0, 90.0, 851)
    clean = torch.zeros(3, 851)
    clean[:, 100] = torch.tensor([50.0, 8.0, 1.0])  # one peak each, of different heights
    clean[:, 400] = torch.tensor([10.0, 8.0, 0.5])
    out = probe.conditions(clean, two_theta, seed=0)
    assert list(out) == list(probe.CONDITIONS)
    base = out["clean"]
    torch.testing.assert_close(base.amax(dim=1), torch.ones(3))  # scaled to 1 at the strongest point
    torch.testing.assert_close(base[:, 400], torch.tensor([0.2, 1.0, 0.5]))
    floor = out["+ constant floor, 10 % of the strongest peak"]
    torch.testing.assert_close(floor - base, torch.full_like(base, 0.1))
    smooth = out["+ smooth background (preset's curve, level 0-0.5)"] - base
    assert float(smooth.min()) >= -1e-6 and float(smooth.max()) <= 0.5 + 1e-6
    assert float((smooth[:, 1:] - smooth[:, :-1]).abs().max()) < 0.01  # smooth: no jumps between points
    noise = out["+ white noise, σ 0.1 % of the strongest peak"] - base
    assert 0.0007 < float(noise.std()) < 0.0013
    # Seeded: the same call gives the same patterns.
    again = probe.conditions(clean, two_theta, seed=0)
    for name in out:
        torch.testing.assert_close(out[name], again[name])
