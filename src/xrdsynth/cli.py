"""The ``xrdsynth`` command line: simulate, sample, generate, train, classify, convert, info.

Installed as the console script ``xrdsynth`` and runnable as ``python -m xrdsynth``::

    xrdsynth simulate quartz.cif                         # the strongest reflections
    xrdsynth simulate quartz.cif --out quartz.xy --plot quartz.png
    xrdsynth sample --space-group 62 -n 10 --out cifs/
    xrdsynth generate -n 100000 --out shards/            # resumable: run it again to continue
    xrdsynth train --out runs/small --steps 2000
    xrdsynth classify scan.xy --wavelength CuKa1 [--json] [--plot scan.png]
    xrdsynth convert scan.raw scan.xy                    # any readable pattern file to two-column text
    xrdsynth info

Every command has ``--help``. Problems with the input (a missing or unreadable file, a bad value) end the
command with one line on stderr that starts with ``xrdsynth: error:`` and exit status 2 (the command line
itself is wrong) or 1 (the input could not be used); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import json
import math
import os
import platform
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from .io import MeasuredPattern
    from .models import Classifier, Prediction
    from .simulate import Radiation

__all__ = ["main"]

PROG = "xrdsynth"
COMMANDS = ("simulate", "sample", "generate", "train", "classify", "convert", "info")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# Dots per inch of the PNG files written by --plot.
_DPI = 150


class UsageError(Exception):
    """The command line itself is wrong (exit status 2); the message says what to change."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one ``xrdsynth: error:`` line (raised, so main() prints it)."""

    def error(self, message: str) -> NoReturn:
        """Raise :class:`UsageError` naming the command, instead of printing the usage and exiting."""
        command = self.prog.removeprefix(PROG).strip()
        where = f"{command}: " if command else ""
        hint = f"see '{self.prog} --help'"
        raise UsageError(f"{where}{message} ({hint})")


# ------------------------------------------------------------------------------------- argument types
def _space_group(text: str) -> int:
    """An international space-group number 1..230 or a Hermann–Mauguin symbol ("Pnma", "P2_1/c", "P21/c")."""
    from .symmetry import SpaceGroup

    try:
        return SpaceGroup(text.strip()).number
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


_RANGE = re.compile(r"(\d+)-(\d+)")


def _space_groups(text: str) -> list[int]:
    """A list of space groups: ``"62"``, ``"62,186"``, ``"1-230"``, ``"1-15,62"``, ``"Pnma,P2_1/c"``."""
    groups: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        bounds = _RANGE.fullmatch(part.replace(" ", ""))
        if bounds is not None:
            first, last = _space_group(bounds[1]), _space_group(bounds[2])
            if first > last:
                raise argparse.ArgumentTypeError(f"empty range {part!r}: write it from low to high")
            groups.extend(range(first, last + 1))
        else:
            groups.append(_space_group(part))
    if not groups:
        raise argparse.ArgumentTypeError("no space group given")
    return sorted(set(groups))


def _wavelength(text: str) -> Radiation:
    """A wavelength in Å or a line name ("CuKa1", "MoKa1", "CuKa" for the Kα doublet)."""
    from .simulate import resolve_wavelength

    value: str | float = text
    with contextlib.suppress(ValueError):  # a number of Å, else a line name
        value = float(text)
    try:
        return resolve_wavelength(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def _grid(values: Sequence[float]) -> tuple[float, float, int]:
    """``--two-theta START STOP N`` checked: 0 < START < STOP < 180 and N a whole number >= 2."""
    start, stop, num = values
    if not 0.0 < start < stop < 180.0:
        raise UsageError(f"--two-theta needs 0 < START < STOP < 180 degrees, got {start:g} {stop:g}")
    if not float(num).is_integer() or num < 2:
        raise UsageError(f"--two-theta needs a whole number of points N >= 2, got {num:g}")
    return float(start), float(stop), int(num)


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
    from . import plot

    return plot


def _angstrom(value: float) -> str:
    """A wavelength with the digits that matter: 1.540593, 1.5406 (``:g`` would round Cu Kα1 to 1.54059)."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _simulator_wavelength(radiation: Radiation) -> str | float:
    """What PowderSimulator takes for ``radiation``: the line name ("CuKa1", "CuKa"), or the number of Å."""
    return radiation.name if radiation.name[:1].isalpha() else radiation.wavelength


def _group_name(number: int) -> str:
    from .symmetry import SpaceGroup

    group = SpaceGroup(number)
    return f"{group.number} {group.symbol} ({group.crystal_system})"


# ------------------------------------------------------------------------------------------- simulate
def _cmd_simulate(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from . import __version__
    from .simulate import PowderSimulator
    from .structure import Crystal

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
        d_min = radiation.wavelength / (2.0 * math.sin(math.radians(grid[1]) / 2.0))
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
        lines = [f"# {line}" for line in header]
        body = np.column_stack([two_theta, intensity])
        text = "\n".join(lines) + "\n" + "".join(f"{x:.6f} {y:.8g}\n" for x, y in body)
        if str(args.out) == "-":
            sys.stdout.write(text)
        else:
            _ensure_parent(args.out)
            args.out.write_text(text, encoding="utf-8")
            _say(f"wrote {args.out} ({grid[2]} points)")
    if args.plot is not None:
        title = f"{Path(args.file).name}: {crystal.formula}, {_group_name(crystal.space_group)}"
        axes = plot.pattern(two_theta, intensity, peaks, title=title, wavelength=radiation.wavelength)
        _save_figure(axes, args.plot)
        _say(f"wrote {args.plot}")
    return EXIT_OK


def _setting_note(crystal: Any) -> str:
    """", in the file's setting P b n m (hkl in the file's axes)" for a crystal in a non-default setting."""
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
    from .sampler import SpaceGroupSampler

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
    from .data import SyntheticPowderDataset, write_shards
    from .sampler import SpaceGroupSampler
    from .simulate import PowderSimulator

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
    from .train import config_from_args, train

    config = config_from_args(args)
    train(config, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:
        model = Path(config.out) / "model"
        _say(f"model written to {model}; use it with: xrdsynth classify FILE --model {model}")
    return EXIT_OK


# -------------------------------------------------------------------------------------------- convert
def _cmd_convert(args: argparse.Namespace) -> int:
    from . import __version__
    from .io import read_pattern, write_pattern

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
    from .io import read_pattern
    from .models import DEFAULT_MODEL, available_models, load_pretrained

    plot = _plot_module() if args.plot is not None else None  # before any work: matplotlib may be missing
    # Read every file (and settle every wavelength) before the model is loaded, so that a bad file
    # fails at once.
    patterns = [read_pattern(path) for path in args.files]
    wavelengths = [
        _measured_wavelength(path, p, args.wavelength) for path, p in zip(args.files, patterns, strict=True)
    ]
    if args.model is None and DEFAULT_MODEL not in available_models():
        raise ValueError(
            f"the default model {DEFAULT_MODEL!r} is not shipped with this installation; give --model FOLDER "
            "(e.g. RUN/model written by 'xrdsynth train')"
        )
    classifier = load_pretrained(args.model, device=args.device)
    model_name = _model_name(args.model, classifier)
    results = []
    for path, pattern, (lam, origin) in zip(args.files, patterns, wavelengths, strict=True):
        _covered_range(path, pattern, lam, classifier)  # refuses a pattern the model cannot see at all
        prediction = classifier.predict(pattern.two_theta, pattern.intensity, wavelength=lam, top=args.top)[0]
        results.append((path, pattern, lam, origin, prediction))

    if args.json:
        document = [
            {
                "file": path,
                "model": model_name,
                "wavelength": lam,
                "wavelength_from": origin,
                **prediction.to_dict(),
            }
            for path, _, lam, origin, prediction in results
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
        files = [Path(p) for p in args.files]
        targets = _plot_paths(args.plot, files)
        titles = _short_names(files)
        for (_, _, _, _, prediction), target, title in zip(results, targets, titles, strict=True):
            axes = plot.prediction(prediction)
            axes.figure.suptitle(title)
            _save_figure(axes, target)
            _say(f"wrote {target}")
    return EXIT_OK


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
    from .models import DEFAULT_MODEL

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
    ends = []
    for two_theta in (float(pattern.two_theta[0]), float(pattern.two_theta[-1])):
        sine = spec.wavelength / lam * math.sin(math.radians(two_theta) / 2.0)
        ends.append(180.0 if sine >= 1.0 else 2.0 * math.degrees(math.asin(sine)))
    low, high = max(ends[0], spec.two_theta_min), min(ends[1], spec.two_theta_max)
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

    from . import __version__
    from .models import DEFAULT_MODEL, available_models, load_pretrained

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


# ---------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The ``xrdsynth`` argument parser with its seven commands."""
    from . import __version__

    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG,
        description=(
            "Synthetic crystals for all 230 space groups, powder X-ray diffraction patterns, training data "
            "and space-group classifiers."
        ),
        epilog="Run 'xrdsynth COMMAND --help' for the options of a command.",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    # The same flag after the command; SUPPRESS keeps the subparser from resetting a --debug given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=summary, description=description, parents=[common], formatter_class=formatter
        )

    grid_help = "2θ grid in degrees: first, last, number of points (default: 5 90 8501)"

    simulate = add(
        "simulate",
        "simulate the powder pattern of a CIF",
        "Simulate the powder X-ray diffraction pattern of a structure in a CIF file (the first one, or\n"
        "--block).\n\n"
        "Without --out or --plot, print the strongest reflections (2θ, d, hkl, multiplicity, intensity with\n"
        "the strongest = 100). --out writes the profile as two columns (2θ, intensity with maximum 1) under\n"
        "a '#' header of the settings, which 'xrdsynth classify' and xrdsynth.io.read_pattern read back\n"
        "with the wavelength; --plot draws it with the peak positions and hkl labels. The crystallite size\n"
        "is fixed, so the result is deterministic.",
    )
    simulate.add_argument("file", metavar="FILE.cif", help="CIF file (.cif or .cif.gz)")
    simulate.add_argument(
        "--block", metavar="NAME",
        help="data block to read (default: the first with atoms; a warning names the others)",
    )  # fmt: skip
    simulate.add_argument(
        "--wavelength", type=_wavelength, default=_wavelength("CuKa1"), metavar="W",
        help="Å or a line name: CuKa1 (default), MoKa1, CoKa1, ...; CuKa for the Kα1+Kα2 doublet",
    )  # fmt: skip
    simulate.add_argument(
        "--two-theta", nargs=3, type=float, default=(5.0, 90.0, 8501), metavar=("START", "STOP", "N"),
        help=grid_help,
    )  # fmt: skip
    simulate.add_argument(
        "--crystallite-size-nm", type=_positive_float, default=50.0, metavar="NM",
        help="Scherrer crystallite size in nm (default: %(default)s)",
    )  # fmt: skip
    simulate.add_argument(
        "--profile", choices=("gaussian", "lorentzian", "pseudo_voigt"), default="gaussian",
        help="peak profile (default: %(default)s)",
    )  # fmt: skip
    simulate.add_argument("--out", type=Path, metavar="PATTERN.xy", help="write the pattern ('-': stdout)")
    simulate.add_argument("--plot", type=Path, metavar="PATTERN.png", help="draw the pattern into a PNG")
    simulate.add_argument(
        "--top", type=_int_at_least(0), default=15, metavar="N",
        help="reflections in the printed table (0: all; default: %(default)s)",
    )  # fmt: skip
    simulate.set_defaults(run=_cmd_simulate)

    sample = add(
        "sample",
        "write random crystals of one space group as CIF files",
        "Draw random crystals of one space group (xrdsynth.SpaceGroupSampler with the default statistics)\n"
        "and write each as a CIF file named sgNNN_IIII.cif. The files list every atom of the cell (the\n"
        "identity as the only operation) and record the space group as _space_group_IT_number.",
    )
    sample.add_argument(
        "--space-group", type=_space_group, required=True, metavar="G",
        help="space group: number 1..230 or Hermann–Mauguin symbol (Pnma, P2_1/c, 'P 1 21/c 1')",
    )  # fmt: skip
    sample.add_argument("-n", type=_int_at_least(1), default=1, help="number of crystals (default: 1)")
    sample.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the CIF files")
    sample.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (default: 0)")
    sample.add_argument(
        "--max-atoms", type=_int_at_least(1), default=100, metavar="N",
        help="largest number of atoms in the unit cell (default: %(default)s)",
    )  # fmt: skip
    sample.set_defaults(run=_cmd_sample)

    generate = add(
        "generate",
        "write synthetic training patterns to disk (resumable)",
        "Simulate the patterns of random crystals with their labels and write them to DIR as shards of\n"
        ".npy files with a checksummed manifest.json (xrdsynth.data.write_shards); read them with\n"
        "xrdsynth.data.ShardDataset(DIR).\n\n"
        "Resumable: every shard is written atomically, so an interrupted run leaves complete shards, and\n"
        "running the same command again continues after them; a larger -n extends the folder. Other\n"
        "settings for an existing folder are refused. Every batch depends only on (seed, batch index).",
    )
    generate.add_argument(
        "-n", type=_int_at_least(1), required=True,
        help="number of patterns (rounded up to whole batches)",
    )  # fmt: skip
    generate.add_argument("--out", type=Path, required=True, metavar="DIR", help="shard folder")
    generate.add_argument(
        "--space-groups", type=_space_groups, default=None, metavar="LIST",
        help="space groups to draw from, e.g. 1-230 (default), 62,186, 1-15,62 or Pnma,P2_1/c",
    )  # fmt: skip
    generate.add_argument("--seed", type=_int_at_least(0), default=0, help="random seed (default: 0)")
    generate.add_argument(
        "--batch-size", type=_int_at_least(1), default=256, metavar="B",
        help="patterns per batch (default: %(default)s)",
    )  # fmt: skip
    generate.add_argument(
        "--batches-per-shard", type=_int_at_least(1), default=16, metavar="K",
        help="batches per shard file (default: %(default)s)",
    )  # fmt: skip
    generate.add_argument(
        "--two-theta", nargs=3, type=float, default=(5.0, 90.0, 8501), metavar=("START", "STOP", "N"),
        help=grid_help,
    )  # fmt: skip
    generate.add_argument(
        "--wavelength", type=_wavelength, default=_wavelength("CuKa1"), metavar="W",
        help="Å or a line name (default: CuKa1; CuKa for the doublet)",
    )  # fmt: skip
    generate.add_argument(
        "--crystallite-size-nm", nargs=2, type=_positive_float, default=(20.0, 100.0),
        metavar=("LOW", "HIGH"), help="Scherrer size range drawn per pattern, nm (default: 20 100)",
    )  # fmt: skip
    generate.add_argument(
        "--max-atoms", type=_int_at_least(1), default=100, metavar="N",
        help="largest number of atoms in the unit cell (default: %(default)s)",
    )  # fmt: skip
    generate.add_argument(
        "--dtype", choices=("float32", "float16"), default="float32", help="stored pattern precision"
    )
    generate.add_argument(
        "--workers", type=_int_at_least(0), default=0, help="DataLoader worker processes (default: 0)"
    )
    generate.add_argument("--device", default="cpu", help="where to simulate: cpu (default), cuda, cuda:N")
    generate.add_argument("--no-progress", action="store_true", help="no progress bar")
    generate.set_defaults(run=_cmd_generate)

    train = add(
        "train",
        "train a space-group classifier on synthetic crystals",
        "Train a space-group classifier on patterns of random crystals simulated on the fly (the options\n"
        "of xrdsynth.train). Running again with the same --out and the same settings resumes from its\n"
        "checkpoint (only --device, --threads, --compile, --checkpoint-every, --eval-every, --log-every\n"
        "may change; other settings are refused). The model is written to OUT/model; classify with\n"
        "'xrdsynth classify FILE --model OUT/model'. Several GPUs:\n"
        "torchrun --nproc_per_node=4 -m xrdsynth train --device cuda ...",
    )
    from .train import build_parser as build_train_parser

    build_train_parser(train)
    train.set_defaults(run=_cmd_train)

    classify = add(
        "classify",
        "classify measured powder patterns by space group",
        "Predict the space group of measured powder patterns (any file 'xrdsynth convert' reads)\n"
        "with a pretrained classifier: the most probable space groups with their symbols, crystal systems\n"
        "and probabilities, and the most probable crystal system.\n\n"
        "The wavelength comes from --wavelength, else from the file; a file that states none needs\n"
        "--wavelength (it is never guessed).",
    )
    classify.add_argument("files", nargs="+", metavar="FILE", help="measured pattern file(s)")
    classify.add_argument(
        "--model", default=None, metavar="NAME|FOLDER",
        help="a shipped model (see 'xrdsynth info') or a folder written by save_pretrained / 'xrdsynth "
        "train' (default: the default model)",
    )  # fmt: skip
    classify.add_argument(
        "--wavelength", type=_wavelength, default=None, metavar="W",
        help="of the measurement, Å or a line name (CuKa1, MoKa1, ...); overrides the file's",
    )  # fmt: skip
    classify.add_argument(
        "--top", type=_int_at_least(1), default=5, metavar="K", help="space groups to list (default: 5)"
    )
    classify.add_argument(
        "--json", action="store_true", help="print one JSON document (a list, one per file)"
    )
    classify.add_argument(
        "--plot", type=Path, metavar="OUT.png",
        help="bar chart of the prediction (several files: OUT-<file stem>.png each)",
    )  # fmt: skip
    classify.add_argument("--device", default="cpu", help="where to run the model (default: cpu)")
    classify.set_defaults(run=_cmd_classify)

    convert = add(
        "convert",
        "convert a measured pattern file to two-column text",
        "Read a measured powder pattern from any file xrdsynth.io.read_pattern reads (.xrdml, Bruker .raw\n"
        "v1-v4 and .brml, Rigaku .rasx/.ras/.asc, GSAS, UXD, .cpi, .udf, text) and write it as two columns\n"
        "(2θ in degrees, intensity; a third with σ when the file has one) under a '#' header of its\n"
        "settings (wavelength, sample, scan type, counting time, ...), which read_pattern reads back\n"
        "unchanged.\n\n"
        "A file of several ranges gives its first 2θ scan, or the one --scan names; they are never stitched.",
    )
    convert.add_argument("input", metavar="IN", help="measured pattern file")
    convert.add_argument("output", type=Path, metavar="OUT", help="text file to write ('-': stdout)")
    convert.add_argument(
        "--scan", type=_int_at_least(0), default=None, metavar="N",
        help="which range of a multi-range file, 0 for the first (default: the first 2θ scan)",
    )  # fmt: skip
    convert.add_argument(
        "--format", default=None, metavar="NAME",
        help="force a reader: xy, xye, csv, rruff, steps, xrdml, raw, brml, rasx, ras, asc, gsas, uxd, "
        "cpi, udf",
    )  # fmt: skip
    convert.set_defaults(run=_cmd_convert)

    info = add(
        "info",
        "versions, devices and shipped models",
        "Print the versions of xrdsynth and its dependencies, the torch devices (CUDA GPUs, CPU threads)\n"
        "and the classifiers shipped with this installation with the headline figures of their cards.",
    )
    info.set_defaults(run=_cmd_info)
    return parser


# ------------------------------------------------------------------------------------------------ main
def _one_line(error: BaseException) -> str:
    """The message of an error on one line (multi-line messages are joined with '; ')."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        text = f"{error.filename}: {error.strerror}"
    else:
        text = str(error) or type(error).__name__
    message = ""
    for line in (line.strip() for line in text.splitlines()):
        if line:
            message += (" " if message.endswith(":") else "; ") * bool(message) + line
    return message


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Warnings during a command as one ``xrdsynth: warning:`` line on stderr (no source location)."""
    print(f"{PROG}: warning: {_one_line(Warning(str(message)))}", file=sys.stderr)


def _fail(message: str, command: str | None = None) -> None:
    where = f"{command}: " if command else ""
    print(f"{PROG}: error: {where}{message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``xrdsynth`` command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    0 on success, 1 when the input could not be used (a missing, empty or unreadable file, an unknown
    model, ...), 2 for a wrong command line, 130 when interrupted. Errors are one line on stderr starting
    with ``xrdsynth: error:``; with ``--debug`` the exception propagates with its traceback.
    """
    from ._errors import CIFError
    from .io import PatternFileError

    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list  # known before parsing, so that parse problems can be debugged too
    parser = build_parser()
    command: str | None = None
    try:
        try:
            args = parser.parse_args(args_list)
        except SystemExit as exit_:  # --help and --version exit through argparse
            return exit_.code if isinstance(exit_.code, int) else EXIT_OK
        if args.command is None:
            raise UsageError(f"choose a command: {', '.join(COMMANDS)} (see '{PROG} --help')")
        # From here on messages name the command, as those of argparse do.
        command = args.command
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return int(args.run(args))
    except UsageError as error:
        if debug:
            raise
        _fail(_one_line(error), command)
        return EXIT_USAGE
    except BrokenPipeError:
        return _broken_pipe()
    except (CIFError, PatternFileError, ValueError, OSError) as error:
        if debug:
            raise
        _fail(_one_line(error), command)
        return EXIT_FAILED
    except KeyboardInterrupt:
        if debug:
            raise
        resume = "; run the same command again to resume" if command in ("generate", "train") else ""
        print(f"{PROG}: interrupted{resume}", file=sys.stderr)
        return EXIT_INTERRUPTED


def _broken_pipe() -> int:
    """The reader of stdout went away (``xrdsynth ... | head``): stop quietly."""
    try:
        # Python flushes stdout at exit and would report the broken pipe again; point it at devnull.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
