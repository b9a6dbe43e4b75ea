"""The command line of training: ``python -m xrdsynth.train`` and ``xrdsynth train`` take these options."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from collections.abc import Sequence

from ..sampler import NAMED_STATISTICS
from ..transforms import PRESETS
from ._config import CONSISTENCY_ANCHORS, PRECISIONS, SPACE_GROUP_WEIGHTS, TrainConfig
from ._loop import train

__all__ = ["build_parser", "config_from_args", "main"]

# -------------------------------------------------------------------------------------------- command line
# Help of the options that map to TrainConfig fields (argparse adds the default).
_OPTION_HELP = {
    "steps": "optimiser steps in total, per process; a resumed run must keep it",
    "batch_size": "new patterns per step and process",
    "warmup_steps": "steps of linear learning-rate warm-up before the cosine decay",
    "seed": "seed of the model initialisation and of the data stream",
    "threads": "torch CPU threads, 0 for torch's default (on a CPU of few cores: 1, with --workers 1 or 2)",
    "max_atoms": "largest number of atoms in a sampled unit cell",
    "checkpoint_every": "steps between checkpoints and model exports",
    "eval_every": "steps between validations on the fixed synthetic validation set",
    "eval_patterns": "patterns in that validation set",
    "log_every": "steps between rows of metrics.csv",
    "lr": "peak learning rate (AdamW)",
    "weight_decay": "AdamW weight decay",
    "label_smoothing": "label smoothing of the cross-entropy",
    "crystal_system_loss": "weight of the negative log-likelihood of the crystal system (the summed "
    "probability of its space groups) added to the loss (0: none)",
    "clean_fraction": "fraction of batches made with the 'clean' preset instead of --preset",
    "clean_doublet": "probability that a clean pattern carries the laboratory preset's Cu Kα doublet "
    "(0: never)",
    "clean_noise": "probability that a clean pattern carries the laboratory preset's smooth background, and "
    "independently its Poisson noise (0: never)",
    "clean_pseudo_voigt": "share of the clean batches rendered with the laboratory preset's pseudo-Voigt "
    "peaks instead of Gaussians (0: Gaussians only)",
    "widths_fraction": "fraction of batches made with the laboratory preset's peak widths alone "
    "(pseudo-Voigt instrument function, sizes, strain; Kα1, no background or noise)",
    "free_atoms": "probability that a batch's crystals have their atoms placed freely (uniform coordinates, "
    "no minimum distances; 0: never)",
    "baseline_threshold": "levels below this fraction of the strongest peak reach the network as zero "
    "(0: every level)",
    "background_window_deg": "width in degrees of the background removal before the network, 0 for none",
    "smoothing_fwhm_deg": "FWHM in degrees of the Gaussian smoothing after it, 0 for none",
    "snapshot_every": "steps between models kept in snapshots/ (a multiple of --checkpoint-every), 0: none",
    "workers": "DataLoader processes that make the data while the model trains (results do not change; "
    "with --threads 1, 1.5x the default's rate on 2 cores)",
    "tempering": "exponent of the 'tempered' space-group weights",
    "crystal_reuse": "patterns made from each sampled crystal of a batch, each with its own instrument draws",
    "crystal_pool": "batches whose crystals are sampled in one call (32 or more on a GPU, where the sampler "
    "is bound by kernel launches; 1 on a CPU)",
    "consistency": "weight of the Jensen-Shannon consistency among the patterns of one crystal (0: none; "
    "needs --crystal-reuse >= 2)",
    "log_d_points": "the network reads this many points equally spaced in ln d (0: the 2θ grid itself)",
    "kalpha2_strip_ratio": "the Kα2 line is stripped at this Kα2/Kα1 ratio before the network (0: kept)",
    "rerender_size_nm": "the network reads the peaks drawn again with the Scherrer width of this size in nm, "
    "Kα2 stripped (0: the pattern itself)",
}


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The arguments of ``python -m xrdsynth.train`` / ``xrdsynth train`` (one per TrainConfig field)."""
    parser = parser or argparse.ArgumentParser(
        prog="xrdsynth train", description="Train a space-group classifier on synthetic crystals."
    )
    defaults = TrainConfig()
    default = " (default: %(default)s)"
    parser.add_argument(
        "--out",
        default=defaults.out,
        metavar="DIR",
        help="run folder; a folder with a run is resumed, with the same settings only" + default,
    )
    parser.add_argument(
        "--architecture",
        default=defaults.architecture,
        help="network, see xrdsynth.models.ARCHITECTURES" + default,
    )
    parser.add_argument(
        "--architecture-kwargs",
        type=json.loads,
        default=defaults.architecture_kwargs,
        metavar="JSON",
        help='keyword arguments of the architecture as JSON (default: \'{"width": 16, "stem_stride": 8}\')',
    )
    parser.add_argument(
        "--two-theta",
        nargs=3,
        type=float,
        default=defaults.two_theta,
        metavar=("START", "STOP", "N"),
        help="the model's 2θ grid in degrees: first, last, number of points (default: "
        f"{defaults.two_theta[0]:g} {defaults.two_theta[1]:g} {defaults.two_theta[2]})",
    )
    parser.add_argument(
        "--wavelength",
        default=defaults.wavelength,
        metavar="W",
        help="simulated wavelength, Å or a line (CuKa1, MoKa1, ...)" + default,
    )
    parser.add_argument(
        "--sqrt-scale",
        action=argparse.BooleanOptionalAction,
        default=defaults.sqrt_scale,
        help="the network reads the square root of the normalised pattern" + default,
    )
    parser.add_argument(
        "--kbeta-strip",
        action=argparse.BooleanOptionalAction,
        default=defaults.kbeta_strip,
        help="a Kβ residue found in a pattern is removed before the network (measured patterns too)"
        + default,
    )
    parser.add_argument(
        "--consistency-anchor",
        choices=CONSISTENCY_ANCHORS,
        default=defaults.consistency_anchor,
        help="what --consistency pulls the predictions of a crystal's patterns toward: their mean "
        "(Jensen-Shannon), or the clean pattern's (with --clean-views)" + default,
    )
    parser.add_argument(
        "--clean-views",
        action=argparse.BooleanOptionalAction,
        default=defaults.clean_views,
        help="the first pattern of each crystal clean, the others with --preset (needs --crystal-reuse >= 2 "
        "and --clean-fraction 0)" + default,
    )
    for name in ("steps", "batch_size", "warmup_steps", "seed", "threads", "max_atoms", "checkpoint_every",
                 "snapshot_every", "eval_every", "eval_patterns", "log_every", "workers",
                 "crystal_reuse", "crystal_pool", "log_d_points"):  # fmt: skip
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=getattr(defaults, name),
            metavar="N",
            help=_OPTION_HELP[name] + default,
        )
    for name in ("lr", "weight_decay", "label_smoothing", "clean_fraction", "clean_doublet", "clean_noise",
                 "clean_pseudo_voigt",
                 "widths_fraction", "free_atoms", "tempering",
                 "background_window_deg", "smoothing_fwhm_deg", "rerender_size_nm",
                 "kalpha2_strip_ratio", "consistency", "baseline_threshold",
                 "crystal_system_loss"):  # fmt: skip
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=float,
            default=getattr(defaults, name),
            metavar="X",
            help=_OPTION_HELP[name] + default,
        )
    parser.add_argument("--device", default=defaults.device, help="cpu, cuda, cuda:N or auto" + default)
    parser.add_argument(
        "--space-group-weights",
        choices=SPACE_GROUP_WEIGHTS,
        default=defaults.space_group_weights,
        help="how often each space group is drawn: equally, as in the sampler statistics, or tempered"
        + default,
    )
    parser.add_argument(
        "--space-group-counts",
        type=_read_counts,
        default=defaults.space_group_counts,
        metavar="FILE",
        help="JSON file of counts per space group that --space-group-weights statistics or tempered follow "
        "instead of the sampler statistics' (scripts/count_space_groups.py writes one)",
    )
    parser.add_argument(
        "--statistics",
        default=defaults.statistics,
        metavar="NAME_OR_FILE",
        help=f"sampler statistics: a name ({', '.join(NAMED_STATISTICS)}) or a statistics JSON file"
        + default,
    )
    parser.add_argument(
        "--preset",
        choices=PRESETS,
        default=defaults.preset,
        help="recipe of the training patterns (see xrdsynth.transforms)" + default,
    )
    parser.add_argument(
        "--preset-overrides",
        type=json.loads,
        default=defaults.preset_overrides,
        metavar="JSON",
        help="arguments of some of the preset's effects, by class name, e.g. "
        '\'{"PreferredOrientation": {"r": [0.35, 1.8], "p": 0.8}}\'' + default,
    )
    parser.add_argument(
        "--clean-effects",
        type=json.loads,
        default=defaults.clean_effects,
        metavar="JSON",
        help="more laboratory effects on a share of the clean patterns, by class name: probability, e.g. "
        '\'{"ScanRange": 0.15, "KBetaResidue": 0.15}\'' + default,
    )
    parser.add_argument(
        "--init-from",
        default=None,
        metavar="MODEL",
        help="model folder or shipped name whose weights start the run (same architecture and grid)",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the simulator's rendering")
    parser.add_argument(
        "--step-average", action="store_true",
        help="render each grid point as the mean of the profile over its step, as measured scans are "
        "averaged onto the classifier's grid (peaks narrower than the step keep their area)",
    )  # fmt: skip
    parser.add_argument(
        "--precision", choices=list(PRECISIONS), default=defaults.precision,
        help="the network's arithmetic: float32, or bfloat16 mixed precision (faster on CPUs with "
        "AVX512-BF16 or AMX and on recent GPUs; weights and loss stay float32)",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _read_counts(path: str) -> tuple[float, ...]:
    """The counts of a space-group counts file: ``{"space_group_counts": {"1": n1, ..., "230": n230}}``
    (groups left out count 0)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        counts = data["space_group_counts"]
        numbers = {int(g): float(n) for g, n in counts.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise argparse.ArgumentTypeError(
            f'{path}: not a space-group counts file ({{"space_group_counts": {{"1": n, ...}}}}): {error}'
        ) from None
    if not set(numbers) <= set(range(1, 231)):
        raise argparse.ArgumentTypeError(f"{path}: space groups must be 1..230")
    return tuple(numbers.get(g, 0.0) for g in range(1, 231))


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of parsed :func:`build_parser` arguments."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    wavelength = values["wavelength"]
    with contextlib.suppress(ValueError):  # a number of Å, else a line name
        values["wavelength"] = float(wavelength)
    return TrainConfig(**values)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m xrdsynth.train [options]``: parse the options and train; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        train(config, progress=not args.no_progress)
    except ValueError as error:
        # Bad settings and refused resumes are the user's to fix: one message, no traceback.
        print(f"xrdsynth.train: error: {error}", file=sys.stderr)
        return 1
    return 0
