"""The ``xrdsynth`` argument parser: argument types and the sub-commands' options."""

from __future__ import annotations

import argparse
import contextlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from .._base import DEFAULT_TWO_THETA

if TYPE_CHECKING:
    from ..simulate import Radiation

__all__ = [
    "COMMANDS",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "UsageError",
    "build_parser",
]

PROG = "xrdsynth"
COMMANDS = ("simulate", "sample", "generate", "train", "classify", "convert", "info")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


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
    from ..symmetry import SpaceGroup

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
    from ..simulate import resolve_wavelength

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


# ---------------------------------------------------------------------------------------------- parser
def build_parser(
    commands: Mapping[str, Callable[[argparse.Namespace], int]] | None = None,
) -> argparse.ArgumentParser:
    """The ``xrdsynth`` argument parser with its seven commands.

    Args:
        commands: the function each command runs (``args.run``); default the command-line's own.
    """
    if commands is None:
        from . import _commands as own

        commands = {name: getattr(own, f"_cmd_{name}") for name in COMMANDS}
    run = commands
    from .. import __version__

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

    grid_help = "2θ grid in degrees: first, last, number of points (default: {} {} {})".format(
        *(f"{v:g}" for v in DEFAULT_TWO_THETA)
    )

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
        "--two-theta", nargs=3, type=float, default=DEFAULT_TWO_THETA, metavar=("START", "STOP", "N"),
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
    simulate.set_defaults(run=run["simulate"])

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
    sample.set_defaults(run=run["sample"])

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
        "--two-theta", nargs=3, type=float, default=DEFAULT_TWO_THETA, metavar=("START", "STOP", "N"),
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
    generate.set_defaults(run=run["generate"])

    train = add(
        "train",
        "train a space-group classifier on synthetic crystals",
        "Train a space-group classifier on patterns of random crystals simulated on the fly (the options\n"
        "of xrdsynth.train). Running again with the same --out and the same settings resumes from its\n"
        "checkpoint (only --device, --threads, --workers, --compile, --precision, --checkpoint-every,\n"
        "--snapshot-every, --eval-every, --log-every may change; other settings are refused). The model is\n"
        "written to OUT/model; classify with 'xrdsynth classify FILE --model OUT/model'. Several GPUs:\n"
        "torchrun --nproc_per_node=4 -m xrdsynth train --device cuda ...",
    )
    from ..train import build_parser as build_train_parser

    build_train_parser(train)
    train.set_defaults(run=run["train"])

    classify = add(
        "classify",
        "classify measured powder patterns by space group",
        "Predict the space group of measured powder patterns (any file 'xrdsynth convert' reads)\n"
        "with a pretrained classifier: the most probable space groups with their symbols, crystal systems\n"
        "and probabilities, and the most probable crystal system.\n\n"
        "The wavelength comes from --wavelength, else from the file; a file that states none needs\n"
        "--wavelength (it is never guessed), which also converts an x axis of Q or d the file gives\n"
        "without one.",
    )
    classify.add_argument("files", nargs="+", metavar="FILE", help="measured pattern file(s)")
    ranges = classify.add_mutually_exclusive_group()
    ranges.add_argument(
        "--scan", type=_int_at_least(0), default=None, metavar="N",
        help="which range of a multi-range file, 0 for the first (default: the first 2θ scan)",
    )  # fmt: skip
    ranges.add_argument(
        "--all-scans", action="store_true",
        help="classify every 2θ range of each file (scans, banks, sheets, intensity columns)",
    )  # fmt: skip
    classify.add_argument(
        "--model", default=None, metavar="NAME|FOLDER",
        help="a shipped model (see 'xrdsynth info') or a folder written by save_pretrained / 'xrdsynth "
        "train' (default: the default model)",
    )  # fmt: skip
    classify.add_argument(
        "--wavelength", type=_wavelength, default=None, metavar="W",
        help="of the measurement, Å or a line name (CuKa1, MoKa1, ...); overrides the file's (and converts "
        "a Q or d axis of a file that states none)",
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
    classify.add_argument(
        "--precision", choices=("auto", "float32", "bfloat16"), default="auto",
        help="the network's arithmetic (default: auto, bfloat16 where the device computes it natively)",
    )  # fmt: skip
    classify.set_defaults(run=run["classify"])

    convert = add(
        "convert",
        "convert a measured pattern file to two-column text",
        "Read a measured powder pattern from any file xrdsynth.io.read_pattern reads (.xrdml, Bruker .raw\n"
        "v1-v4 and .brml, Rigaku .rasx/.ras/.asc/.RAW, GSAS, UXD, .cpi, .udf, Jade .mdi, powder CIF, text,\n"
        ".xlsx, also gzip/bzip2/xz compressed) and write it\n"
        "as two columns (2θ in degrees, intensity; a third with σ when the file has one) under a '#'\n"
        "header of its "
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
        "cpi, udf, cif, rigaku_raw, stoe_raw, philips_rd, xlsx",
    )  # fmt: skip
    convert.set_defaults(run=run["convert"])

    info = add(
        "info",
        "versions, devices and shipped models",
        "Print the versions of xrdsynth and its dependencies, the torch devices (CUDA GPUs, CPU threads)\n"
        "and the classifiers shipped with this installation with the headline figures of their cards.",
    )
    info.set_defaults(run=run["info"])
    return parser
