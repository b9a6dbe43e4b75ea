"""Calibrate a classifier's probabilities on measured patterns, and choose where it should say "unsure".

    python scripts/calibrate_classifier.py ../shared/data/rruff-dev [--model FOLDER_OR_NAME]
        [--plot docs/_static/calibration.png] [--json out.json] [--write]

0. A prior correction that follows from the training recipe, not from rruff-dev: a network trained with
   space groups drawn as counts^w (``tempered``: w = 0.5; ``uniform``: w = 0) from the sampler's statistics
   (fitted on amcsd-dev minerals) is applied to mineral data, whose groups occur as counts^1; Bayes' rule
   then adds (1 - w) log(counts + 1) to the logits. ``--no-prior-correction`` leaves it out.
1. The softmax temperature T that minimises the negative log-likelihood of the true space groups on the
   measured patterns of rruff-dev (one number; the ranking, hence top-k accuracy, does not change). Its
   effect is reported honestly by two-fold cross-validation: T fitted on one half, the expected calibration
   error (ECE, 15 equal-width bins of the confidence) measured on the other, and the other way round.
2. Accuracy against coverage: answering only where the confidence (the top group's probability, summed with
   its enantiomorph's) is above a threshold. The threshold written with ``--write`` is the smallest one at
   which the answered patterns are right at least ``--target-accuracy`` of the time (up to the
   enantiomorph) on rruff-dev.

``--write`` stores ``calibration = {temperature, threshold, log_prior_ratio}`` in the model folder's
card.json (the weights' checksum does not change), where :func:`xrdsynth.models.load_pretrained` reads it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from xrdsynth.models import load_pretrained
from xrdsynth.sampler import default_statistics
from xrdsynth.symmetry import enantiomorph

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_classifier import SYSTEM_OF_GROUP, rruff_patterns, system_probability

PARTNER = np.array([(enantiomorph(n) or n) - 1 for n in range(1, 231)])


def prior_ratio(recipe: dict) -> np.ndarray:
    """(230,) (1 - w) log(counts + 1), centred: the label-shift correction of a recipe's group weights
    (counts: the recipe's ``space_group_counts`` where it has them, else the default statistics')."""
    given = recipe.get("space_group_counts")
    if given is not None:
        counts = dict(zip(range(1, 231), given, strict=True))
    else:
        counts = default_statistics().space_group_counts
    log_counts = np.log(np.array([counts.get(g, 0) + 1.0 for g in range(1, 231)]))
    exponent = {"uniform": 0.0, "statistics": 1.0, "tempered": float(recipe.get("tempering", 0.5))}
    ratio = (1.0 - exponent[recipe["space_group_weights"]]) * log_counts
    return ratio - ratio.mean()


def print_system_temperatures(
    logits: np.ndarray, labels: np.ndarray, shift: np.ndarray, fitted: float
) -> None:
    """The crystal system answered by summing each system's probabilities, against the temperature: its
    accuracy and the negative log-likelihood of the true systems (whether the summed system probabilities
    would want a temperature of their own), beside the system of the first answer (no temperature moves
    it)."""
    true_system = SYSTEM_OF_GROUP[labels - 1]
    first = np.mean(SYSTEM_OF_GROUP[logits.argmax(axis=1)] == true_system)
    print(f"crystal system of the first answer: {first:.1%}; summed over each system's groups:")
    for t in sorted({0.3, 0.4, 0.5, 0.8, 1.0, round(fitted, 3)}):
        p = softmax(logits, t, shift)
        per_system = system_probability(p)
        nll = -np.mean(np.log(np.clip(per_system[np.arange(len(p)), true_system], 1e-300, None)))
        mark = "  (fitted)" if t == round(fitted, 3) else ""
        right = np.mean(per_system.argmax(axis=1) == true_system)
        print(f"  T = {t:.3f}: {right:.1%} right, NLL {nll:.3f}{mark}")


def softmax(logits: np.ndarray, temperature: float, shift: np.ndarray | float = 0.0) -> np.ndarray:
    z = logits / temperature + shift
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, shift: np.ndarray | float = 0.0) -> float:
    """argmin_T of the mean negative log-likelihood of softmax(logits / T + shift) (1-D, by LBFGS)."""
    x = torch.as_tensor(logits, dtype=torch.float64)
    offset = torch.as_tensor(np.broadcast_to(shift, logits.shape[1:]).copy(), dtype=torch.float64)
    y = torch.as_tensor(labels - 1)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(x / log_t.exp() + offset, y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def pair_confidence(probability: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top group (0-based) and its probability summed with its enantiomorph's."""
    top = probability.argmax(axis=1)
    rows = np.arange(len(top))
    confidence = probability[rows, top] + np.where(PARTNER[top] != top, probability[rows, PARTNER[top]], 0.0)
    return top, confidence


def correct(top: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return (top == labels - 1) | (PARTNER[top] == labels - 1)


def expected_calibration_error(probability: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    top, confidence = pair_confidence(probability)
    right = correct(top, labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(right[inside].mean() - confidence[inside].mean())
    return float(error)


def reliability(
    probability: np.ndarray, labels: np.ndarray, bins: int = 10
) -> list[tuple[float, float, int]]:
    top, confidence = pair_confidence(probability)
    right = correct(top, labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    return [
        (float(confidence[which == b].mean()), float(right[which == b].mean()), int((which == b).sum()))
        for b in range(bins)
        if (which == b).any()
    ]


def coverage_curve(probability: np.ndarray, labels: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, coverage, accuracy of the answered) for thresholds at every observed confidence."""
    top, confidence = pair_confidence(probability)
    right = correct(top, labels)
    order = np.argsort(-confidence)
    curve = []
    for k in range(1, len(order) + 1):
        chosen = order[:k]
        curve.append((float(confidence[order[k - 1]]), k / len(order), float(right[chosen].mean())))
    return curve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rruff", type=Path, help="rruff-dev folder (rruff-dev.npz)")
    parser.add_argument(
        "--model", default=None, help="model folder or shipped name (default: the default model)"
    )
    parser.add_argument("--target-accuracy", type=float, default=0.5)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--write", action="store_true", help="store the calibration in the card")
    parser.add_argument("--no-prior-correction", action="store_true", help="fit the temperature alone")
    args = parser.parse_args(argv)

    classifier = load_pretrained(args.model)
    classifier.temperature, classifier.log_prior_ratio = 1.0, None
    two_theta, intensity, labels = rruff_patterns(args.rruff)
    # Logits: log of the raw network's probabilities (equal to the logits up to a per-row constant).
    raw = classifier.predict_proba(two_theta, intensity, wavelength="CuKa1")
    logits = np.log(np.clip(raw, 1e-300, None))
    shift = np.zeros(230) if args.no_prior_correction else prior_ratio(classifier.card["recipe"])

    temperature = fit_temperature(logits, labels, shift)
    calibrated = softmax(logits, temperature, shift)
    # Two-fold cross-validation of the fitted temperature (a fixed split by pattern index parity).
    halves = [np.arange(len(labels)) % 2 == k for k in (0, 1)]
    held_out = np.zeros_like(raw)
    for fit, test in ((halves[0], halves[1]), (halves[1], halves[0])):
        held_out[test] = softmax(logits[test], fit_temperature(logits[fit], labels[fit], shift), shift)
    for name, p in (("raw network", raw), ("calibrated", calibrated)):
        top = p.argmax(axis=1)
        print(f"{name:<12} top-1 {np.mean(top == labels - 1):.1%}   up to the enantiomorph "
              f"{np.mean(correct(top, labels)):.1%}")
    ece_before = expected_calibration_error(raw, labels)
    ece_after = expected_calibration_error(held_out, labels)
    print(f"temperature (all {len(labels)} patterns): {temperature:.3f}")
    print(
        f"ECE before: {ece_before:.3f}   after (two-fold cross-validated): {ece_after:.3f}   "
        f"(in-sample: {expected_calibration_error(calibrated, labels):.3f})"
    )
    nll_before = float(-np.mean(np.log(np.clip(raw[np.arange(len(labels)), labels - 1], 1e-300, None))))
    nll_after = float(-np.mean(np.log(np.clip(held_out[np.arange(len(labels)), labels - 1], 1e-300, None))))
    print(f"NLL before: {nll_before:.3f}   after (cross-validated): {nll_after:.3f}")
    print_system_temperatures(logits, labels, shift, temperature)

    curve = coverage_curve(calibrated, labels)
    print("coverage   accuracy of the answered (up to the enantiomorph)   threshold")
    for want in (1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1):
        t, cov, acc = min(curve, key=lambda c: abs(c[1] - want))
        print(f"{cov:7.0%}   {acc:7.1%}   {t:.3f}")
    meeting = [c for c in curve if c[2] >= args.target_accuracy]
    threshold = min(c[0] for c in meeting) if meeting else None
    if threshold is not None:
        _, cov, acc = max((c for c in curve if c[0] >= threshold), key=lambda c: c[1])
        print(
            f"threshold for >= {args.target_accuracy:.0%} right among the answered: {threshold:.3f} "
            f"(answers {cov:.0%}, {acc:.1%} right)"
        )
    else:
        print(f"no threshold gives >= {args.target_accuracy:.0%} right among the answered")

    result = {
        "temperature": temperature,
        "threshold": threshold,
        "ece_before": ece_before,
        "ece_after_cross_validated": ece_after,
        "nll_before": nll_before,
        "nll_after_cross_validated": nll_after,
        "reliability_before": reliability(raw, labels),
        "reliability_after": reliability(held_out, labels),
        "coverage_curve": [*curve[:: max(1, len(curve) // 50)], curve[-1]],
        "n": len(labels),
    }
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
        for name, rows, style in (
            ("before", result["reliability_before"], "o-"),
            ("after (T fitted, cross-validated)", result["reliability_after"], "s-"),
        ):
            left.plot([r[0] for r in rows], [r[1] for r in rows], style, label=name)
        left.plot([0, 1], [0, 1], "k:", lw=1)
        left.set_xlabel("confidence (top group with its enantiomorph)")
        left.set_ylabel("accuracy")
        left.set_title(f"reliability on rruff-dev (ECE {ece_before:.2f} -> {ece_after:.2f})")
        left.legend()
        right.plot([c[1] for c in curve], [c[2] for c in curve])
        right.set_xlabel("coverage (share of patterns answered)")
        right.set_ylabel("accuracy of the answered")
        right.set_title("accuracy against coverage, rruff-dev")
        right.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=90)
        print(f"plot written to {args.plot}")
    if args.write:
        folder = Path(args.model) if args.model and Path(args.model).is_dir() else None
        if folder is None:
            parser.error("--write needs --model FOLDER")
        card_path = folder / "card.json"
        meta = json.loads(card_path.read_text(encoding="utf-8"))
        meta["calibration"] = {
            "temperature": temperature,
            "threshold": threshold,
            "log_prior_ratio": None if args.no_prior_correction else shift.tolist(),
        }
        meta["card"]["calibration"] = {k: v for k, v in result.items() if k != "coverage_curve"}
        meta["card"]["calibration"]["fitted_on"] = "rruff-dev (449 measured RRUFF patterns)"
        meta["card"]["calibration"]["prior_correction"] = not args.no_prior_correction
        card_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        print(f"calibration written to {card_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
