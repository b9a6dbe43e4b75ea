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
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from ._commands import (
    _cmd_classify,
    _cmd_convert,
    _cmd_generate,
    _cmd_info,
    _cmd_sample,
    _cmd_simulate,
    _cmd_train,
)
from ._parser import (
    COMMANDS,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    UsageError,
    _space_groups,  # noqa: F401 (tests reach the parser of --space-groups here)
    build_parser,
)

__all__ = ["COMMANDS", "build_parser", "main"]


def _commands() -> dict[str, Callable[[argparse.Namespace], int]]:
    """The function of each command, looked up when main() runs (so that a test can replace one)."""
    return {
        "simulate": _cmd_simulate,
        "sample": _cmd_sample,
        "generate": _cmd_generate,
        "train": _cmd_train,
        "classify": _cmd_classify,
        "convert": _cmd_convert,
        "info": _cmd_info,
    }


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
    from .._errors import CIFError
    from ..io import PatternFileError

    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list  # known before parsing, so that parse problems can be debugged too
    parser = build_parser(_commands())
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
