"""Exceptions shared across xrdsynth, and warnings that point at the user's line."""

from __future__ import annotations

import os
import sys
import warnings

import torch

__all__ = ["CIFError", "warn_at_caller"]

# Frames in these folders are not the user's: xrdsynth itself, and torch (nn.Module's call machinery).
_INTERNAL_FOLDERS = (
    os.path.dirname(os.path.abspath(__file__)) + os.sep,
    os.path.dirname(os.path.abspath(torch.__file__)) + os.sep,
)


def _internal(filename: str) -> bool:
    return os.path.abspath(filename).startswith(_INTERNAL_FOLDERS)


def warn_at_caller(message: str, category: type[Warning] = RuntimeWarning) -> None:
    """``warnings.warn`` attributed to the first frame outside xrdsynth and torch: the user's line that
    called into the library, however deep inside it (and behind ``module(...)``) the warning arises."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and _internal(frame.f_code.co_filename):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level + 1)


class CIFError(ValueError):
    """A CIF file or string that cannot be read as a crystal structure.

    Subclasses :class:`ValueError`, so ``except ValueError`` also catches it. The message always starts with
    the source (a file name, or the ``source`` given for a string) and says what is wrong, e.g.
    ``"quartz.cif: data block 'q': missing _cell_length_c"``.
    """
