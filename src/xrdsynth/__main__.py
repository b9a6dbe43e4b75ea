"""``python -m xrdsynth``: the ``xrdsynth`` command line (see :mod:`xrdsynth.cli`)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
