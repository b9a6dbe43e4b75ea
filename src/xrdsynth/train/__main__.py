"""``python -m xrdsynth.train [options]`` (also under ``torchrun ... -m xrdsynth.train``)."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
