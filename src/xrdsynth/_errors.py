"""Exceptions shared across xrdsynth."""

from __future__ import annotations

__all__ = ["CIFError"]


class CIFError(ValueError):
    """A CIF file or string that cannot be read as a crystal structure.

    Subclasses :class:`ValueError`, so ``except ValueError`` also catches it. The message always starts with
    the source (a file name, or the ``source`` given for a string) and says what is wrong, e.g.
    ``"quartz.cif: data block 'q': missing _cell_length_c"``.
    """
