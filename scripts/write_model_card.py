"""Write the documentation page of a shipped classifier from its card.json.

    python scripts/write_model_card.py [--model xrdsynth-resnet-cu] [--out docs/model_card.md]

The page is generated, never edited by hand: the card (recipe, data, hardware, and the figures that
scripts/evaluate_classifier.py --write-card stored in it) is the single source.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scipy.stats import binomtest

from xrdsynth.models import DEFAULT_MODEL
from xrdsynth.simulate import WAVELENGTHS

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "xrdsynth" / "models" / "pretrained"


# The evaluation's test sets by the short names the card's paragraphs give them.
SHORT_NAMES = {"rruff": "rruff-dev", "xred": "XRed", "amcsd_one_per_mineral": "amcsd-dev one per mineral"}


def percent(value: float) -> str:
    return f"{100.0 * value:.1f} %"


def evaluation_table(evaluation: dict) -> list[str]:
    names = {
        "rruff": "rruff-dev: 449 measured RRUFF laboratory patterns (Cu Kα)",
        "xred": "xred-monophase: 17 measured laboratory patterns (Cu Kα)",
        "amcsd_one_per_mineral": "amcsd-dev, one structure per mineral: clean Cu Kα1, Gaussian, 20–100 nm",
        "amcsd": "amcsd-dev, every structure: clean Cu Kα1, Gaussian, 20–100 nm",
        "synthetic": "synthetic crystals, uniform over the 230 groups, clean Cu Kα1",
    }
    rows = [(label, evaluation[key]) for key, label in names.items() if key in evaluation]
    # Evaluations before the script scored the system of the first answer have one system column.
    first = bool(rows) and all("crystal_system_first" in r for _, r in rows)
    lines = [
        "| test set | patterns | top-1 | top-1 up to the enantiomorph | top-5 | "
        "crystal system (most probable) |" + (" crystal system of the first answer |" if first else ""),
        "|---|---|---|---|---|---|" + ("---|" if first else ""),
    ]
    for label, r in rows:
        lines.append(
            f"| {label} | {r['n']:,} | {percent(r['top1'])} | "
            f"{percent(r.get('top1_enantiomorph', r['top1']))} | {percent(r['top5'])} | "
            f"{percent(r['crystal_system'])} |"
            + (f" {percent(r['crystal_system_first'])} |" if first else "")
        )
    return lines


def arithmetic(evaluation: dict) -> str:
    """How the network computed the figures of ``evaluation``, in words."""
    precision = evaluation.get("precision")
    if precision is None:  # evaluations before the script recorded it
        return (
            "the network's arithmetic not recorded: `precision='auto'`, which is bfloat16 where the CPU has "
            "bfloat16 instructions"
        )
    return f"the network in {precision}"


def float32_lines(evaluation: dict, float32: dict | None) -> list[str]:
    """The same test sets with the network in float32, where the table above is not (a paragraph and its
    table), or nothing."""
    if not float32 or evaluation.get("precision") == "float32":
        return []
    measured = ""
    if "rruff" in float32 and "rruff" in evaluation:
        measured = (
            f" (rruff-dev top-1 {percent(float32['rruff']['top1'])} against "
            f"{percent(evaluation['rruff']['top1'])} above)"
        )
    return [
        "The network computes in bfloat16 where the CPU (or GPU) has bfloat16 instructions and in float32",
        "elsewhere (`Classifier.precision='auto'`). The two differ in the last bits of the",
        "probabilities, which turns answers close to a tie: the same sets in float32"
        f"{measured}, measured on {float32['date']} ({float32['hardware']}) with",
        "",
        "```bash",
        float32["command"],
        "```",
        "",
        *evaluation_table(float32),
        "",
    ]


def system_answer_lines(*evaluations: dict | None) -> list[str]:
    """How the two crystal-system answers compare, from the first of ``evaluations`` that scored both on
    rruff-dev (a paragraph), or nothing."""
    for evaluation in (e for e in evaluations if e):
        if "crystal_system_first" not in evaluation.get("rruff", {}):
            continue
        figures = "; ".join(
            f"{SHORT_NAMES[key]} {percent(evaluation[key]['crystal_system_first'])} against "
            f"{percent(evaluation[key]['crystal_system'])}"
            for key in ("rruff", "amcsd_one_per_mineral", "xred")
            if "crystal_system_first" in evaluation.get(key, {})
        )
        return [
            "A prediction names two crystal systems: the system of its first answer",
            "(`prediction.crystal_system[0]`) and the system with the largest summed probability",
            "(`prediction.most_probable_crystal_system`). How often each was right, first answer against",
            f"summed ({arithmetic(evaluation)}): {figures}. The sums favour systems of many groups (59",
            "orthorhombic), which collect the largest sum from many small shares; the first answer favours",
            "the monoclinic groups the network falls back on. Which is right more often depends on the mix",
            "of systems a user measures.",
            "",
        ]
    return []


def share_interval(share: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval (``confidence``, two-sided) for a network that read ``share`` of ``n``
    patterns right: the accuracies on all patterns like these that such a count does not rule out."""
    interval = binomtest(round(share * n), n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def chance_lines(evaluation: dict) -> list[str]:
    """How far the figures of the accuracy table could lie from the network's true accuracy on sets like
    these (a paragraph), or nothing where the evaluation has no set to name."""
    parts = []
    for key, label in SHORT_NAMES.items():
        if key not in evaluation:
            continue
        r = evaluation[key]
        figures = [("top-1", r["top1"])]
        if key == "rruff" and "crystal_system_first" in r:
            figures.append(("crystal system of the first answer", r["crystal_system_first"]))
        shown = []
        for what, share in figures:
            low, high = share_interval(share, r["n"])
            shown.append(f"{what} {percent(share)} ({100 * low:.1f}–{100 * high:.1f} %)")
        parts.append(f"{label} ({r['n']:,} patterns) {', '.join(shown)}")
    if not parts:
        return []
    return [
        "Each figure is a share of a finite set of patterns, so chance moves it. The 95 % confidence",
        "interval (Wilson's) of the network's accuracy on patterns like those of each set: "
        + "; ".join(parts)
        + ". Two networks read on the same patterns differ far less by chance than two such intervals",
        "suggest; the project compares them paired, by McNemar's test on the patterns only one of them",
        "reads right ({doc}`training`).",
        "",
    ]


def breakdown_lines(breakdown: dict) -> list[str]:
    """Accuracy per crystal system on rruff-dev, the crystal systems of the first answers (where the
    evaluation counted them) and how the answers concentrate."""
    from xrdsynth.symmetry import CRYSTAL_SYSTEMS, SpaceGroup

    systems = breakdown["by_crystal_system"]
    first = all("crystal_system_first" in row for row in systems.values())
    lines = [
        "| true crystal system | patterns | top-1 | crystal system right (most probable) |"
        + (" crystal system of the first answer right |" if first else ""),
        "|---|---|---|---|" + ("---|" if first else ""),
    ]
    for name, row in systems.items():
        lines.append(
            f"| {name} | {row['n']} | {percent(row['top1'])} | {percent(row['crystal_system'])} |"
            + (f" {percent(row['crystal_system_first'])} |" if first else "")
        )
    confusion = []
    if all("answered_as" in row for row in systems.values()):
        # Rows: the true systems present; columns: every system a first answer can have.
        confusion = [
            "",
            "The crystal system of the first answer, by true crystal system (rows; counts of patterns):",
            "",
            "| true / answered | " + " | ".join(CRYSTAL_SYSTEMS) + " |",
            "|---|" + "---|" * len(CRYSTAL_SYSTEMS),
            *(
                f"| {name} | " + " | ".join(str(count) for count in row["answered_as"]) + " |"
                for name, row in systems.items()
            ),
        ]
        # A system the set holds no pattern of, yet answered: every such answer is wrong there.
        absent = [
            (name, sum(row["answered_as"][k] for row in systems.values()))
            for k, name in enumerate(CRYSTAL_SYSTEMS)
            if name not in systems
        ]
        absent = [(name, count) for name, count in absent if count]
        if absent:
            confusion += [
                "",
                "The set holds no "
                + " or ".join(name for name, _ in absent)
                + " pattern, so its "
                + " and ".join(
                    f"{count} first answer{'' if count == 1 else 's'} in the {name} system"
                    for name, count in absent
                )
                + " are all wrong there; on other measured data such answers can be right.",
            ]
    n = breakdown["n"]
    answered = ", ".join(
        f"`{SpaceGroup(group).symbol}` ({group}) {count} times" for group, count in breakdown["most_answered"]
    )
    top_two = sum(count for _, count in breakdown["most_answered"][:2])
    never = [name for name, row in breakdown["by_crystal_system"].items() if row["top1"] == 0]
    return [
        *lines,
        *confusion,
        "",
        f"Its answers concentrate on few groups: {breakdown['distinct_answers']} distinct groups for {n}",
        f"patterns, the two most frequent {percent(top_two / n)} of them ({answered}).",
        (
            f"No {' or '.join([', '.join(never[:-1]), never[-1]] if len(never) > 1 else never)} pattern "
            "gets its group right. "
            if never
            else ""
        )
        + "Where a measured pattern is unclear to it, the network falls back on the groups that are",
        "common in its training data and in minerals: use the top 5, the crystal-system probabilities and",
        "the abstention threshold accordingly.",
    ]


def robustness_table(robustness: dict, top5: bool = False) -> list[str]:
    """Top-1 of each condition and its change against "clean", top-5 (with ``top5``), crystal system."""
    clean = robustness["clean"]["top1"]
    lines = [
        "| condition | top-1 | change against clean |" + (" top-5 |" if top5 else "") + " crystal system |",
        "|---|---|---|---|" + ("---|" if top5 else ""),
    ]
    for name, r in robustness.items():
        change = "" if name == "clean" else f"{100 * (r['top1'] - clean):+.1f} points"
        cells = [name, percent(r["top1"]), change, *([percent(r["top5"])] if top5 else [])]
        lines.append("| " + " | ".join([*cells, percent(r["crystal_system"])]) + " |")
    return lines


def every_pattern_lines(every: dict) -> list[str]:
    """The section of a run of ``evaluate_classifier.py --every-pattern``: each effect the preset applies to a
    share of its patterns, on every pattern."""
    return [
        "### Each effect on every pattern",
        "",
        "The table above applies each effect as often as the preset does (each row below names that",
        "share), which spreads the cost of a rare effect over the patterns without it. Here each effect",
        "the preset applies to only a share of its patterns is put on every pattern, with the preset's",
        "ranges: what it costs a pattern that has it. Measured on",
        f"{every['date']} ({every['hardware']}; {arithmetic(every)}) with",
        "",
        "```bash",
        every["command"],
        "```",
        "",
        *robustness_table(every["every_pattern"], top5=True),
        "",
        *_costly_lines({k: v for k, v in every["every_pattern"].items() if not k.startswith(COUNTED_PREFIX)}),
        *_counted_lines(every["every_pattern"]),
    ]


# How the rows of ``evaluate_classifier.py --every-pattern`` on counted patterns begin (its COUNTED is the
# baseline's full name, "counted: 1,000 counts over 3 %"; the effects on it follow it after " + ").
COUNTED_PREFIX = "counted"


def _counted_lines(rows: dict) -> list[str]:
    """What the effects put on counted patterns cost against the counted baseline, where the run has them."""
    baseline = next((name for name in rows if name.startswith(COUNTED_PREFIX) and " + " not in name), None)
    if baseline is None:
        return []
    effects = [
        (name.split(" + ", 1)[1], 100 * (rows[baseline]["top1"] - r["top1"]))
        for name, r in rows.items()
        if name.startswith(baseline + " + ")
    ]
    named = ", ".join(f"{effect} {cost:.1f}" for effect, cost in effects)
    return [
        f'The last rows are the clean patterns counted ("{baseline}": counts at the strongest peak over a',
        "flat background, Poisson noise), alone and with an effect that adds weak extra peaks on every",
        f"pattern. Against the counted baseline ({percent(rows[baseline]['top1'])}) the effects cost {named}",
        "points of top-1: a noiseless pattern shows the weakest extra peak as clearly as a reflection, a",
        "counted one hides the weakest in its noise, so these are the costs a measurement meets.",
        "",
    ]


def _costly_lines(rows: dict, points: float = 10.0) -> list[str]:
    """A sentence naming the effects that cost a pattern more than ``points`` of top-1, worst first."""
    clean = rows["clean"]["top1"]
    costly = sorted(
        ((name.split(" (")[0].removeprefix("+ "), 100 * (clean - r["top1"])) for name, r in rows.items()),
        key=lambda item: -item[1],
    )
    named = [f"{name} ({cost:.0f} points)" for name, cost in costly if cost > points]
    if not named:
        return []
    return [
        f"On a pattern that has it, {', '.join(named)}",
        ("costs" if len(named) == 1 else "cost")
        + f" more than {points:.0f} points of top-1 on otherwise clean simulated minerals: where a",
        "measured pattern may have such a feature, its first answer is less certain than the figures above",
        "say (how much less where counting noise hides weak peaks, the counted rows tell for the effects",
        "that add them).",
        "",
    ]


def calibration_lines(calibration: dict) -> list[str]:
    lines = [
        f"Temperature {calibration['temperature']:.3f}, fitted on {calibration['fitted_on']} by minimising",
        "the negative log-likelihood. Expected calibration error (15 bins of the confidence, which is the",
        "top group's probability plus its enantiomorph's):",
        f"{calibration['ece_before']:.3f} before, {calibration['ece_after_cross_validated']:.3f} after",
        "(two-fold cross-validated: the temperature fitted on one half of rruff-dev, the error measured on",
        "the other).",
    ]
    prior = calibration.get("prior_correction")
    if prior is not None:
        lines.append(
            "The logits carry the prior correction of the training recipe (space groups as often as in "
            "minerals, `scripts/calibrate_classifier.py`)."
            if prior
            else "No prior correction: the probabilities keep the training recipe's space-group weights "
            "(`scripts/calibrate_classifier.py --no-prior-correction`; {doc}`training` says why)."
        )
    lines += [
        "",
        "![Reliability diagram and accuracy against coverage on rruff-dev](_static/calibration.png)",
        "",
    ]
    threshold = calibration.get("threshold")
    if threshold is not None:
        lines += [
            f'`predict` marks a prediction "unsure" (`abstained`) below a confidence of {threshold:.3f}: on',
            "rruff-dev the answered patterns are then right at least half of the time (see the curve).",
            "",
        ]
    return lines


def learning_curve_lines(curve: list[dict], soup_of: list[str] | None = None) -> list[str]:
    """The model card's learning-curve section; ``soup_of`` names the runs of a shipped soup, whose last run
    the snapshots are from."""
    if soup_of:
        average = (
            f'; "average" the soup that ships, of the runs {", ".join(soup_of)} (the snapshots are those of '
            f"{soup_of[-1]}; the soup's patterns and CPU-hours count every run)"
        )
    elif any(r["model"] == "average" for r in curve):
        average = '; "average" the weight average of the run that ships'
    else:
        average = ""
    lines = [
        "![Accuracy against patterns seen and CPU-hours](_static/learning_curve.png)",
        "",
        "The models kept during training, as networks (without the calibration the shipped one carries);",
        '"start" is the model the run was initialised from'
        + average
        + ". CPU-hours: wall hours times the 2 cores.",
        "",
        "| model | patterns seen | CPU-hours | rruff-dev top-1 | rruff-dev crystal system "
        "| amcsd-dev top-1 (one per mineral, clean) |",
        "|---|---|---|---|---|---|",
    ]
    for r in curve:
        lines.append(
            f"| {r['model']} | {r['patterns_seen'] / 1e6:.2f} M | {r['cpu_hours']:.2f} | "
            f"{percent(r['rruff_top1'])} | "
            f"{percent(r['rruff_crystal_system'])} | {percent(r['amcsd_top1'])} |"
        )
    return lines


def weights_lines(card: dict) -> tuple[str | None, str]:
    """The card's "Weights" line (None for a network as trained) and its "Seed(s)" line: which networks the
    shipped weights average (``card["weight_average"]``), as `scripts/average_snapshots.py` and
    `scripts/soup_models.py` record them."""
    average = card.get("weight_average")
    seeds = (
        f"- **Seed**: {card['seed']}; **patterns seen** in this run: {card['samples_seen']:,}, every one new."
    )
    if average and average.get("members"):
        runs = "; ".join(
            f"{m['name']} (seed {m['seed']}, {m['steps']:,} steps, {m['samples_seen']:,} patterns)"
            for m in average["members"]
        )
        start = average.get("start")
        if start:
            how = (
                f"from one start ({start['name']}, sha256 {start['weights_sha256'][:12]}…), each first "
                f"averaged with that start (WiSE-FT): {runs}; a uniform model soup "
                "(`scripts/soup_models.py`), so the start weighs half."
            )
        else:
            # Runs soup_models.py accepted by the start they were trained from (init_from), not averaged
            # with it: the start has no weight of its own in the mean.
            how = (
                f"trained from one start ({card['recipe']['init_from']}): {runs}; a uniform model soup "
                "(`scripts/soup_models.py`)."
            )
        seeds = (
            f"- **Seeds**: {', '.join(str(m['seed']) for m in average['members'])}; **patterns seen** in "
            f"these runs: {card['samples_seen']:,}, every one new."
        )
        return f"- **Weights**: the mean of {len(average['members'])} runs of this recipe {how}", seeds
    if average and average.get("start"):
        start = average["start"]
        steps = ", ".join(f"{s:,}" for s in average["steps"][1:] if s is not None)
        return (
            f"- **Weights**: the mean of the network this run started from ({start['name']}, sha256 "
            f"{start['weights_sha256'][:12]}…) and {average['networks'] - 1} of this run (steps {steps}): "
            "weight-space ensembling of a fine-tune with its start (WiSE-FT), by "
            "`scripts/average_snapshots.py --with-start`."
        ), seeds
    if average:
        steps = ", ".join(f"{s:,}" for s in average["steps"] if s is not None)
        return (
            f"- **Weights**: the mean of {average['networks']} networks of this run (steps {steps}; "
            "stochastic weight averaging by `scripts/average_snapshots.py`)."
        ), seeds
    return None, seeds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "model_card.md")
    args = parser.parse_args()
    meta = json.loads((SHIPPED / args.model / "card.json").read_text(encoding="utf-8"))
    card = meta["card"]
    spec = meta["input"]
    recipe = card["recipe"]
    weights = SHIPPED / args.model / "weights.pt"
    history = card.get("initialised_from")
    recipe_text = (
        f"{card['steps']:,} steps of {recipe['batch_size']} patterns, AdamW (peak rate {recipe['lr']:g}, "
        f"weight decay {recipe['weight_decay']:g}, {recipe['warmup_steps']} warm-up steps, cosine decay), "
        "label "
        f"smoothing {recipe['label_smoothing']:g}; the `{recipe.get('preset', 'laboratory-cu')}` preset"
        + (
            f" with {percent(recipe['clean_fraction'])} of the batches clean"
            + (
                f", {percent(recipe['clean_doublet'])} of their patterns with the preset's Kα doublet"
                if recipe.get("clean_doublet")
                else ""
            )
            + (
                f", {percent(recipe['clean_noise'])} with its smooth background and as many with its "
                "counting noise"
                if recipe.get("clean_noise")
                else ""
            )
            + "".join(
                f", {percent(probability)} with its `{name}`"
                for name, probability in (recipe.get("clean_effects") or {}).items()
                if probability
            )
            + (
                f", {percent(recipe['clean_pseudo_voigt'])} of the clean batches with pseudo-Voigt peaks "
                "instead of Gaussians"
                if recipe.get("clean_pseudo_voigt")
                else ""
            )
            if recipe.get("clean_fraction")
            else ""
        )
        + (
            f" (effects changed: `{json.dumps(recipe['preset_overrides'])}`)"
            if recipe.get("preset_overrides")
            else ""
        )
        + (
            f"; {percent(recipe['widths_fraction'])} of the batches with the preset's peak widths alone"
            if recipe.get("widths_fraction")
            else ""
        )
        + (
            f"; the atoms of {percent(recipe['free_atoms'])} of the sampler's calls placed freely (uniform "
            "coordinates, no minimum distances)"
            if recipe.get("free_atoms")
            else ""
        )
        + (
            f"; a consistency term ({recipe['consistency']:g} x the Jensen-Shannon divergence among the "
            f"{recipe.get('crystal_reuse', 1)} patterns of each crystal)"
            if recipe.get("consistency")
            else ""
        )
        + f"; space groups {recipe['space_group_weights']}"
        + (f" (exponent {recipe['tempering']:g})" if recipe["space_group_weights"] == "tempered" else "")
        + " (see {doc}`training` and {doc}`transforms`)"
    )
    lines = [
        f"# Model card: {args.model}",
        "",
        "This page is generated by `scripts/write_model_card.py` from the card shipped with the weights",
        f"(`src/xrdsynth/models/pretrained/{args.model}/card.json`).",
        "",
        "```python",
        "clf = xrdsynth.models.load_pretrained()   # this model",
        'clf.predict(two_theta, intensity, wavelength="CuKa1", top=5)   # or clf.predict(measured_pattern)',
        "```",
        "",
        "## What it does",
        "",
        f"{card['task'][0].upper()}{card['task'][1:]}. Input: a powder pattern on any 2θ grid and at any",
        "wavelength; it is converted through d-spacing to the model's grid "
        f"({spec['two_theta_min']:g}–{spec['two_theta_max']:g}° 2θ, {spec['num_points']} points, at "
        f"{spec['wavelength']:g} Å; at another wavelength its intensities are scaled by the ratio of the "
        "polarisation factors), averaged onto the grid cells, clipped at 0"
        + (
            ", a Kα2 line found in it removed where its tube's lies much further from Kα1 than the model's"
            " own (Mo and Ag for Cu: the network reads such a doublet as split peaks)"
            if any(
                name.endswith("Ka1") and abs(value - spec["wavelength"]) < 1e-6
                for name, value in WAVELENGTHS.items()
            )
            else ""
        )
        + (
            ", a Kβ residue found in it removed (of its own tube's line, which it looks for first where that"
            " is another tube, and of the model's)"
            if spec.get("kbeta_strip")
            else ""
        )
        + (
            f", its background removed (morphological opening of {spec['background_window_deg']:g}°)"
            if spec.get("background_window_deg")
            else ""
        )
        + ", divided by its maximum"
        + (", then square-rooted." if spec["sqrt_scale"] else "."),
        "Output: probabilities over the 230 space groups (column k = group k + 1), calibrated on measured",
        "patterns; crystal-system probabilities are their sums; enantiomorphic pairs, which a powder pattern",
        "cannot tell apart, are named with their summed probability.",
        "",
        "## Training",
        "",
        f"- **Data**: {card['training_data']}. No measured pattern was used for training; rruff-dev served",
        "  to choose the recipe and to calibrate the probabilities (one temperature, one threshold).",
        f"- **Architecture**: `{meta['architecture']}` with `{json.dumps(meta['architecture_kwargs'])}`, "
        f"{weights.stat().st_size / 1e6:.1f} MB of weights.",
        f"- **Recipe**: {recipe_text}.",
    ]
    if history:
        chain, link = [], history
        while link:
            chain.append(link)
            link = link.get("initialised_from")
        lines.append(
            f"- **Initialised from** {history['name']} (sha256 {history['weights_sha256'][:12]}…): "
            f"{history['samples_seen']:,} clean and laboratory-mixed synthetic patterns in "
            f"{history['wall_time_s'] / 3600:.2f} h on {history['hardware']}"
            + (
                f"; with the {len(chain) - 1} runs before it, {sum(h['samples_seen'] for h in chain):,} "
                f"patterns in {sum(h['wall_time_s'] for h in chain) / 3600:.2f} h."
                if len(chain) > 1
                else "."
            )
        )
    weights_line, seeds = weights_lines(card)
    if weights_line:
        lines.append(weights_line)
    lines += [
        seeds,
        f"- **Wall time and hardware**: {card['wall_time_s'] / 3600:.2f} h on {card['hardware']}.",
        f"- **Software**: xrdsynth {card['xrdsynth_version']}, torch {card['torch_version']}.",
        "- **Reproduce**: `python -m xrdsynth.train` with the card's `recipe` (it holds every option).",
        "",
    ]
    evaluation = card.get("evaluation")
    if evaluation:
        lines += [
            "## Accuracy",
            "",
            f"Measured on {evaluation['date']} ({evaluation['hardware']}; {arithmetic(evaluation)}) with",
            "",
            "```bash",
            evaluation["command"],
            "```",
            "",
            *evaluation_table(evaluation),
            "",
            *float32_lines(evaluation, card.get("evaluation_float32")),
            *system_answer_lines(evaluation, card.get("evaluation_float32")),
            *chance_lines(evaluation),
            "The measured sets come first: they are what a user meets. amcsd-dev are real mineral structures",
            "the model never saw (it saw synthetic crystals only), simulated without laboratory effects.",
            "They are not wholly independent of the training, though: the sampler's statistics",
            "(compositions, Wyckoff sites, volumes, cell shapes; for 48 space groups the group's own cells)",
            "were fitted on amcsd-dev. In an A/B split by mineral, minerals whose cells the sampler never",
            "drew from gained as much from the per-group cells as the others ({doc}`sampler`,",
            '"Cell shapes by space group"). No measured pattern was trained on (rruff-dev chose the recipe',
            "and calibrates).",
            "Always answering the most common group (P2₁/c) gives 10.9 % on rruff-dev (crystal system",
            "34.7 %).",
            "",
        ]
        if "rruff_breakdown" in evaluation:
            lines += [
                "## Where it fails on measured patterns",
                "",
                "rruff-dev by the true crystal system (same run):",
                "",
                *breakdown_lines(evaluation["rruff_breakdown"]),
                "",
            ]
        if "robustness" in evaluation:
            lines += [
                "## Robustness",
                "",
                "amcsd-dev with one structure per mineral, each laboratory effect of the `laboratory-cu`",
                "preset alone on top of the clean patterns, all of them together, the three laboratory",
                "conditions of the project's held-out test, the last of them again at 30-100 counts",
                "(quick scans, as a fifth of rruff-dev), and two conditions outside the preset:",
                "nanocrystalline powders (5-20 nm crystallites, pseudo-Voigt) and scans that start late",
                "and stop early (20-30° to 60-80°, clean). The width effects (instrument function,",
                "crystallite sizes, microstrain) are rendered with pseudo-Voigt peaks, the clean patterns",
                'with Gaussians; "clean, pseudo-Voigt peaks" (where the table has it) is the peak shape',
                "alone:",
                "",
                *robustness_table(evaluation["robustness"]),
                "",
            ]
        every = card.get("every_pattern")
        if every and "every_pattern" in every:
            lines += every_pattern_lines(every)
    calibration = card.get("calibration")
    if calibration:
        lines += ["## Calibration and abstention", "", *calibration_lines(calibration)]
    curve = card.get("learning_curve")
    if curve:
        members = (card.get("weight_average") or {}).get("members")
        soup_of = [m["name"] for m in members] if members else None
        lines += ["## Learning curve", "", *learning_curve_lines(curve, soup_of), ""]
    lines += [
        "## Limits",
        "",
        "- Trained on one wavelength grid; other wavelengths are converted through d-spacing, so peaks",
        f"  beyond {spec['two_theta_max']:g}° 2θ at {spec['wavelength']:g} Å are not seen.",
        "- Measurements of other tubes are read as well as those of the model's own where only Kα1 reaches",
        "  the detector or the Kα2 line lies about as close (Cr, Fe, Co for Cu); a Mo or Ag doublet is read",
        "  after its Kα2 line is found and stripped, which fails for broad peaks (crystallites below about",
        "  20 nm), where the lines merge (`scripts/check_other_tubes.py`).",
        "- Scans coarser than the model's grid read worse where counting noise shows (interpolated, it looks",
        "  like faint peaks), and variable-slit intensities (growing as sin θ) worse than fixed-slit ones",
        "  (`scripts/check_scan_settings.py`; figures in the transforms page).",
        "- Single-phase patterns only; a mixture is read as one phase.",
        "- Groups that differ only in absences the pattern cannot show, or in intensities of overlapping",
        "  peaks, are confused; look at the top 5 and the crystal system, not only the first answer.",
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
