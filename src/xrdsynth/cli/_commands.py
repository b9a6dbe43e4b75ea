"""The ``xrdsynth`` sub-commands: one ``_cmd_<name>(args) -> exit status`` each, with their helpers."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import math
import os
import platform
import sys
import warnings
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..io import MeasuredPattern
    from ..models import Classifier, Prediction
    from ..simulate import Radiation

from ._parser import EXIT_OK, UsageError, _grid

# Dots per inch of the PNG files written by --plot.
_DPI = 150


# ------------------------------------------------------------------------------------------- helpers
def _say(message: str) -> None:
    """A status line for the user (stderr, so that stdout holds only results)."""
    print(message, file=sys.stderr)


def _ensure_parent(path: Path) -> None:
    if str(path) != "-":
        path.parent.mkdir(parents=True, exist_ok=True)


def _save_figure(axes: Any, path: Path) -> None:
    """Write the figure of ``axes`` as a PNG (or whatever the suffix says) and release it."""
    import matplotlib.pyplot as plt

    figure = axes.figure
    try:
        _ensure_parent(path)
        figure.savefig(path, dpi=_DPI)
    finally:
        plt.close(figure)


def _plot_module() -> Any:
    """xrdsynth.plot, or a clear error when matplotlib is missing (an optional dependency)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install 'xrdsynth[plot]'") from None
    from .. import plot

    return plot


def _angstrom(value: float) -> str:
    """A wavelength with the digits that matter: 1.540593, 1.5406 (``:g`` would round Cu Kα1 to 1.54059)."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _simulator_wavelength(radiation: Radiation) -> str | float:
    """What PowderSimulator takes for ``radiation``: the line name ("CuKa1", "CuKa"), or the number of Å."""
    return radiation.name if radiation.name[:1].isalpha() else radiation.wavelength


def _group_name(number: int) -> str:
    from ..symmetry import SpaceGroup

    group = SpaceGroup(number)
    return f"{group.number} {group.symbol} ({group.crystal_system})"


# ------------------------------------------------------------------------------------------- simulate
def _cmd_simulate(args: argparse.Namespace) -> int:
    import torch

    from .. import __version__
    from .._radiation import d_from_two_theta
    from ..io import write_xy
    from ..simulate import PowderSimulator
    from ..structure import Crystal

    grid = _grid(args.two_theta)
    radiation: Radiation = args.wavelength
    plot = _plot_module() if args.plot is not None else None  # before any work: matplotlib may be missing
    crystal = Crystal.from_cif(args.file, block=args.block)
    # A fixed size and seed and no random effects: the same file always gives the same pattern.
    simulator = PowderSimulator(
        two_theta=grid,
        wavelength=_simulator_wavelength(radiation),
        profile=args.profile,
        crystallite_size_nm=args.crystallite_size_nm,
        dtype=torch.float64,
        seed=0,
    )
    peaks = simulator.peaks(crystal)
    if len(peaks) == 0:
        # The largest d that can diffract inside the range is λ / (2 sin θmax).
        d_min = d_from_two_theta(grid[1], radiation.wavelength)
        lam = _angstrom(radiation.wavelength)
        raise ValueError(
            f"{args.file}: no reflection falls in {grid[0]:g}–{grid[1]:g}° 2θ at {lam} Å (a reflection there "
            f"needs d >= {d_min:.4g} Å); use a shorter wavelength or a wider --two-theta"
        )
    header = [
        f"xrdsynth {__version__}: simulated powder pattern",
        f"file: {args.file}",
        f"formula: {crystal.formula}",
        f"space group: {_group_name(crystal.space_group)}{_setting_note(crystal)}",
        _radiation_line(radiation),
        f"2theta grid: {grid[0]:g} to {grid[1]:g} degrees, {grid[2]} points",
        f"crystallite size: {args.crystallite_size_nm:g} nm (Scherrer), {args.profile} profile",
        "intensity: maximum 1",
        "columns: 2theta_deg intensity",
    ]
    if args.out is None and args.plot is None:
        _print_peaks(args.file, crystal, radiation, grid, peaks, args.top)
        return EXIT_OK

    intensity = simulator([crystal])[0].cpu().numpy()
    two_theta = simulator.two_theta.cpu().numpy()
    if args.out is not None:
        if str(args.out) == "-":
            write_xy(two_theta, intensity, sys.stdout, header)
        else:
            _ensure_parent(args.out)
            write_xy(two_theta, intensity, args.out, header)
            _say(f"wrote {args.out} ({grid[2]} points)")
    if args.plot is not None:
        title = f"{Path(args.file).name}: {crystal.formula}, {_group_name(crystal.space_group)}"
        axes = plot.pattern(two_theta, intensity, peaks, title=title, wavelength=radiation.wavelength)
        _save_figure(axes, args.plot)
        _say(f"wrote {args.plot}")
    return EXIT_OK


def _setting_note(crystal: Any) -> str:
    """ ", in the file's setting P b n m (hkl in the file's axes)" for a crystal in a non-default setting."""
    if crystal.setting is None:
        return ""
    return f", in the file's setting {crystal.setting} (hkl in the file's axes)"


def _radiation_line(radiation: Radiation) -> str:
    """The wavelength as :func:`xrdsynth.io.read_pattern` reads it back from a ``#`` header line."""
    if len(radiation.wavelengths) == 1:
        return f"wavelength = {radiation.wavelength:.6f} Å ({radiation.name})"
    ka1, ka2 = radiation.wavelengths[:2]
    return (
        f"wavelength = {ka1:.6f} Å, Kα2 = {ka2:.6f} Å, ratio = {radiation.weights[1]:g} "
        f"({radiation.name} doublet)"
    )


def _print_peaks(
    file: str, crystal: Any, radiation: Radiation, grid: tuple[float, float, int], peaks: Any, top: int
) -> None:
    """The table of the strongest peaks: every family merged into a peak, hkil as well for hexagonal axes,
    and which line made each peak for a Kα doublet."""
    import numpy as np

    order = np.argsort(-peaks.intensity, kind="stable")
    if top > 0:
        order = order[:top]
    group = _group_name(crystal.space_group)
    print(f"{file}: {crystal.formula}, space group {group}{_setting_note(crystal)}")
    print(
        f"{radiation.name} ({', '.join(_angstrom(w) for w in radiation.wavelengths)} Å), "
        f"{grid[0]:g}–{grid[1]:g}° 2θ: {len(peaks)} peaks; the {len(order)} strongest:"
    )
    columns = [("h k l", peaks.labels())]
    if peaks.hexagonal:
        columns.append(("h k i l", peaks.labels(bravais_miller=True)))
    widths = [max([len(title)] + [len(labels[k]) for k in order]) for title, labels in columns]
    doublet = len(radiation.wavelengths) > 1
    line_names = ["Kα1", "Kα2"]
    head = "  ".join(f"{title:<{w}}" for (title, _), w in zip(columns, widths, strict=True))
    print(f"  {'2θ (°)':>9} {'d (Å)':>9}  {head}{'mult':>6}{'I':>8}" + ("  line" if doublet else ""))
    for k in order:
        cells = "  ".join(f"{labels[k]:<{w}}" for (_, labels), w in zip(columns, widths, strict=True))
        line = f"  {line_names[int(peaks.line[k])]}" if doublet else ""
        print(
            f"  {peaks.two_theta[k]:>9.3f} {peaks.d[k]:>9.4f}  {cells}"
            f"{int(peaks.multiplicity[k]):>6}{peaks.intensity[k]:>8.1f}{line}"
        )


# --------------------------------------------------------------------------------------------- sample
def _cmd_sample(args: argparse.Namespace) -> int:
    from ..sampler import SpaceGroupSampler

    sampler = SpaceGroupSampler(space_groups=[args.space_group], seed=args.seed, max_atoms=args.max_atoms)
    crystals = sampler.sample(args.n, space_group=args.space_group).to_crystals()
    args.out.mkdir(parents=True, exist_ok=True)
    width = max(4, len(str(args.n - 1)))
    for i, crystal in enumerate(crystals):
        name = f"sg{args.space_group:03d}_{i:0{width}d}"
        path = args.out / f"{name}.cif"
        path.write_text(crystal.to_cif(name), encoding="utf-8")
        print(f"{path}  {crystal.formula}  ({crystal.num_atoms} atoms, V = {crystal.volume:.1f} Å³)")
    _say(f"wrote {len(crystals)} CIF files of space group {_group_name(args.space_group)} to {args.out}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------- generate
def _cmd_generate(args: argparse.Namespace) -> int:
    from ..data import SyntheticPowderDataset, write_shards
    from ..sampler import SpaceGroupSampler
    from ..simulate import PowderSimulator

    grid = _grid(args.two_theta)
    low, high = args.crystallite_size_nm
    if low > high:
        raise UsageError(f"--crystallite-size-nm needs LOW <= HIGH, got {low:g} {high:g}")
    num_batches = math.ceil(args.n / args.batch_size)
    sampler = SpaceGroupSampler(
        space_groups=args.space_groups, seed=args.seed, device=args.device, max_atoms=args.max_atoms
    )
    simulator = PowderSimulator(
        two_theta=grid,
        wavelength=_simulator_wavelength(args.wavelength),
        crystallite_size_nm=(low, high),
        device=args.device,
        seed=args.seed,
    )
    dataset = SyntheticPowderDataset(sampler, simulator, batch_size=args.batch_size, seed=args.seed)
    if num_batches * args.batch_size != args.n:
        _say(f"note: {args.n} patterns rounded up to {num_batches} batches of {args.batch_size}")
    manifest = write_shards(
        dataset,
        args.out,
        num_batches,
        batches_per_shard=args.batches_per_shard,
        dtype=args.dtype,
        num_workers=args.workers,
        progress=False if args.no_progress else "generate",
    )
    print(
        f"{args.out}: {manifest['num_patterns']} patterns of {manifest['num_points']} points in "
        f"{len(manifest['shards'])} shards; read them with xrdsynth.data.ShardDataset({str(args.out)!r})"
    )
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- train
def _cmd_train(args: argparse.Namespace) -> int:
    from ..train import config_from_args, train

    config = config_from_args(args)
    train(config, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:
        model = Path(config.out) / "model"
        _say(f"model written to {model}; use it with: xrdsynth classify FILE --model {model}")
    return EXIT_OK


# -------------------------------------------------------------------------------------------- convert
def _cmd_convert(args: argparse.Namespace) -> int:
    from .. import __version__
    from ..io import read_pattern, write_pattern

    pattern = read_pattern(args.input, format=args.format, scan=args.scan)
    header = [f"xrdsynth {__version__}: measured powder pattern converted by 'xrdsynth convert'"]
    if str(args.output) == "-":
        write_pattern(pattern, sys.stdout, header)
        return EXIT_OK
    _ensure_parent(args.output)
    write_pattern(pattern, args.output, header)
    radiation = "no wavelength stated" if pattern.wavelength is None else f"λ = {pattern.wavelength:g} Å"
    if pattern.wavelength2 is not None:
        radiation += f" / {pattern.wavelength2:g} Å"
    meta = pattern.metadata
    scans = f", range {meta['range']} of {meta['ranges']}" if "ranges" in meta else ""
    first, last = pattern.two_theta[0], pattern.two_theta[-1]
    _say(
        f"wrote {args.output}: {len(pattern)} points, 2θ {first:g}–{last:g}°, {radiation} "
        f"(read as {pattern.format}{scans})"
    )
    return EXIT_OK


# ------------------------------------------------------------------------------------------- classify
def _cmd_classify(args: argparse.Namespace) -> int:
    from ..io import read_all_patterns, read_pattern
    from ..models import DEFAULT_MODEL, available_models, load_pretrained

    plot = _plot_module() if args.plot is not None else None  # before any work: matplotlib may be missing
    # Read every file (and settle every wavelength) before the model is loaded, so that a bad file
    # fails at once. Each entry is (what to call it, the file, the pattern): a range of a file of several
    # is named with its number.
    entries: list[tuple[str, str, MeasuredPattern]] = []
    # --wavelength also converts an x axis of Q or d that a file gives without its wavelength.
    given = None if args.wavelength is None else args.wavelength.wavelength
    for path in args.files:
        if args.all_scans:
            found = read_all_patterns(path, wavelength=given)
            entries += [(_range_name(path, p) if len(found) > 1 else path, path, p) for p in found]
        else:
            pattern = read_pattern(path, scan=args.scan, wavelength=given)
            several = "ranges" in pattern.metadata
            if several and args.scan is None:
                # The first 2θ scan of a file of several: say so, or the others go unnoticed.
                warnings.warn(
                    f"{path} holds {pattern.metadata['ranges']} ranges; classifying range "
                    f"{pattern.metadata['range']}, its first 2θ scan (--scan N for another, --all-scans for "
                    "each)",
                    stacklevel=1,
                )
            entries.append((_range_name(path, pattern) if several else path, path, pattern))
    wavelengths = [_measured_wavelength(name, p, args.wavelength) for name, _, p in entries]
    if args.model is None and DEFAULT_MODEL not in available_models():
        raise ValueError(
            f"the default model {DEFAULT_MODEL!r} is not shipped with this installation; give --model FOLDER "
            "(e.g. RUN/model written by 'xrdsynth train')"
        )
    classifier = load_pretrained(args.model, device=args.device, precision=args.precision)
    model_name = _model_name(args.model, classifier)
    results = []
    for (name, _, pattern), (lam, origin) in zip(entries, wavelengths, strict=True):
        _covered_range(name, pattern, lam, classifier)  # refuses a pattern the model cannot see at all
        # The MeasuredPattern itself, so that what the file says about it (e.g. a neutron probe) is heard.
        prediction = classifier.predict(pattern, wavelength=lam, top=args.top)[0]
        results.append((name, pattern, lam, origin, prediction))

    if args.json:
        document = [
            {
                "file": path,
                **({"range": int(pattern.metadata["range"])} if "range" in pattern.metadata else {}),
                "model": model_name,
                "wavelength": lam,
                "wavelength_from": origin,
                **prediction.to_dict(),
            }
            for (_, path, pattern), (_, _, lam, origin, prediction) in zip(entries, results, strict=True)
        ]
        print(json.dumps(document, indent=2))
    else:
        spec = classifier.spec
        print(
            f"model: {model_name} ({classifier.architecture}, {spec.two_theta_min:g}–{spec.two_theta_max:g}° "
            f"2θ at {_angstrom(spec.wavelength)} Å, {spec.num_points} points)"
        )
        for path, pattern, lam, origin, prediction in results:
            print()
            _print_prediction(path, pattern, lam, origin, prediction, classifier)

    if plot is not None:
        files = [Path(path) for _, path, _ in entries]
        targets = _plot_paths(args.plot, files)
        titles = _short_names(files)
        for (_, _, _, _, prediction), target, title in zip(results, targets, titles, strict=True):
            axes = plot.prediction(prediction)
            axes.figure.suptitle(title)
            _save_figure(axes, target)
            _say(f"wrote {target}")
    return EXIT_OK


def _range_name(path: str, pattern: MeasuredPattern) -> str:
    """``path`` with the range's number (1-based, as ``metadata["range"]``) and, where the file names it,
    its sheet or column: "series.xlsx [range 3, Intensity at 200°C]"."""
    parts = [f"range {pattern.metadata.get('range', '1')}"]
    parts += [pattern.metadata[key] for key in ("sheet", "column") if key in pattern.metadata]
    return f"{path} [{', '.join(parts)}]"


def _measured_wavelength(path: str, pattern: MeasuredPattern, option: Radiation | None) -> tuple[float, str]:
    """(wavelength in Å, where it came from): the option wins over the file; neither is an error."""
    if option is not None:
        return option.wavelength, "--wavelength"
    if pattern.wavelength is not None:
        return float(pattern.wavelength), "file"
    # Guessing Cu Kα would silently misplace every peak of a Mo or Co measurement.
    raise UsageError(
        f"{path}: the file states no wavelength; give it with --wavelength (Å, or a line such as CuKa1)"
    )


def _model_name(option: str | None, classifier: Classifier) -> str:
    from ..models import DEFAULT_MODEL

    if option is None:
        return DEFAULT_MODEL
    name = classifier.card.get("name")
    return f"{option} ({name})" if isinstance(name, str) and name and name != option else str(option)


def _covered_range(
    path: str, pattern: MeasuredPattern, lam: float, classifier: Classifier
) -> tuple[float, float]:
    """The part of the model's 2θ grid that the measurement covers, once converted to the model's wavelength
    through d (degrees).

    Raises:
        ValueError: the measurement and the grid do not overlap (the model would see an empty pattern).
    """
    spec = classifier.spec
    low, high = spec.covered_range(float(pattern.two_theta[0]), float(pattern.two_theta[-1]), lam)
    if low >= high:
        raise ValueError(
            f"{path}: 2θ {pattern.two_theta[0]:g}–{pattern.two_theta[-1]:g}° at {_angstrom(lam)} Å does not "
            f"overlap the model's grid, {spec.two_theta_min:g}–{spec.two_theta_max:g}° at "
            f"{_angstrom(spec.wavelength)} Å"
        )
    return low, high


def _best_system(prediction: Prediction) -> tuple[str, float]:
    systems = prediction.crystal_system_probability
    best = max(systems, key=lambda s: systems[s])
    return best, float(systems[best])


def _print_prediction(
    path: str,
    pattern: MeasuredPattern,
    lam: float,
    origin: str,
    prediction: Prediction,
    classifier: Classifier,
) -> None:
    first, last = float(pattern.two_theta[0]), float(pattern.two_theta[-1])
    low, high = _covered_range(path, pattern, lam, classifier)
    print(
        f"{path}: {len(pattern.two_theta)} points, 2θ {first:g}–{last:g}° at {_angstrom(lam)} Å ({origin}); "
        f"covers {low:.1f}–{high:.1f}° of the model's grid"
    )
    print(f"  {'#':>2}  {'group':>5}  {'symbol':<12}{'crystal system':<16}{'probability':>11}")
    for rank, (number, symbol, system, p) in enumerate(
        zip(
            prediction.space_group,
            prediction.symbol,
            prediction.crystal_system,
            prediction.probability,
            strict=True,
        ),
        start=1,
    ):
        row = f"  {rank:>2}  {number:>5}  {symbol:<12}{system:<16}{p:>11.1%}"
        partner = prediction.enantiomorph[rank - 1] if prediction.enantiomorph else None
        if partner is not None:
            # Powder patterns cannot tell enantiomorphs apart: name the pair and its summed probability.
            row += f"  or enantiomorph {partner}: pair {prediction.pair_probability[rank - 1]:.1%}"
        print(row)
    best, p = _best_system(prediction)
    print(f"  most probable crystal system: {best} ({p:.1%})")
    if prediction.abstained:
        print(f"  unsure: confidence {prediction.confidence:.1%} is below the model's threshold")


def _short_names(files: list[Path]) -> list[str]:
    """Distinct short names of the input files for titles and figure names: the file name, with its folder
    where names repeat (``CdS/pattern.csv`` and ``PbSO4/pattern.csv``)."""
    names = [f.name for f in files]
    if len(set(names)) < len(names):
        names = [f"{f.parent.name}/{f.name}" if f.parent.name else f.name for f in files]
    return names


def _plot_paths(plot: Path, files: list[Path]) -> list[Path]:
    """One figure per input: ``plot`` itself for one file, ``<plot stem>-<short name><suffix>`` for several,
    e.g. ``out-CdS-pattern.png`` (a number is added where short names still repeat)."""
    if len(files) == 1:
        return [plot]
    seen: dict[str, int] = {}
    paths = []
    for name in _short_names(files):
        stem = str(PurePosixPath(name).with_suffix("")).replace("/", "-")
        count = seen.get(stem, 0)
        seen[stem] = count + 1
        unique = stem if count == 0 else f"{stem}-{count}"
        paths.append(plot.with_name(f"{plot.stem}-{unique}{plot.suffix or '.png'}"))
    return paths


# ----------------------------------------------------------------------------------------------- info
def _version_of(distribution: str, module: str | None = None) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        return str(getattr(importlib.import_module(module or distribution), "__version__", "installed"))
    except ImportError:
        return "not installed"


def _cmd_info(args: argparse.Namespace) -> int:
    import torch

    from .. import __version__
    from ..models import DEFAULT_MODEL, available_models, load_pretrained

    print(f"{'xrdsynth':<10} {__version__} ({Path(__file__).resolve().parent})")
    print(f"{'python':<10} {platform.python_version()} ({sys.executable})")
    for name in ("torch", "numpy", "scipy", "gemmi", "spglib", "matplotlib"):
        print(f"{name:<10} {_version_of(name)}")
    print()
    print(f"torch CPU threads: {torch.get_num_threads()} (inter-op {torch.get_num_interop_threads()})")
    if torch.cuda.is_available():
        print(f"CUDA {torch.version.cuda}: {torch.cuda.device_count()} device(s)")
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            print(f"  cuda:{i} {props.name}, {props.total_memory / 2**30:.1f} GiB")
    else:
        print("CUDA: not available")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        print("MPS (Apple GPU): available")
    print()
    models = available_models()
    state = "shipped" if DEFAULT_MODEL in models else "not shipped in this installation"
    print(f"default model: {DEFAULT_MODEL} ({state})")
    if not models:
        print("shipped models: none (train one with 'xrdsynth train', use it with --model FOLDER)")
    else:
        print("shipped models:")
    for name in models:
        try:
            classifier = load_pretrained(name)
        except ValueError as error:  # a damaged installation is reported, not fatal to `info`
            print(f"  {name}: cannot be loaded: {error}")
            continue
        spec = classifier.spec
        print(
            f"  {name}: {classifier.architecture}, {spec.two_theta_min:g}–{spec.two_theta_max:g}° 2θ, "
            f"{spec.num_points} points at {_angstrom(spec.wavelength)} Å"
        )
        for key, value in _headline_figures(classifier.card):
            print(f"    {key}: {value}")
    return EXIT_OK


def _headline_figures(card: dict[str, Any]) -> list[tuple[str, str]]:
    """Entries of a model card worth a line: training size, and every accuracy-like number (keys with
    "acc", "top1" or "top5", at any depth: the evaluation stores them per test set), in the card's order."""
    figures: list[tuple[str, str]] = []
    for key in ("steps", "samples_seen", "hardware", "wall_time_s"):
        if key in card:
            figures.append((key, str(card[key])))

    def accuracy_like(key: str) -> bool:
        key = key.lower()
        return any(word in key for word in ("acc", "top1", "top5", "top-1", "top-5", "crystal_system"))

    def walk(prefix: str, mapping: dict[str, Any], depth: int) -> None:
        for key, value in mapping.items():
            name = f"{prefix}{key}"
            if isinstance(value, (int, float)) and not isinstance(value, bool) and accuracy_like(key):
                figures.append((name, f"{value:g}"))
            elif isinstance(value, dict) and depth < 3 and key != "recipe":
                walk(f"{name}.", value, depth + 1)

    walk("", card, 0)
    return figures
