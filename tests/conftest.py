"""Shared fixtures: the fixture CIF directory and the devices to run torch code on."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

CIF_DIR = Path(__file__).parent / "data" / "cifs"
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
FIXTURE_CIFS = sorted(CIF_DIR.glob("*.cif"))

# Under pytest-xdist (`make test` runs one worker per core) each worker gets an equal share of the cores for
# torch's intra-op threads, so that workers do not oversubscribe the machine; tests that need a particular
# count set it themselves and restore it.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    torch.set_num_threads(max(1, _cores // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Every available device, so the same test body runs on CPU and, where present, on a GPU."""
    return request.param


def load_script(name: str) -> ModuleType:
    """The module of ``scripts/<name>.py``, loaded with scripts/ on the path for the time of the import (the
    scripts import their shared helpers, e.g. evaluate_classifier, as top-level modules)."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    return module


def write_example_amcsd(folder: Path) -> None:
    """A folder laid out as amcsd-dev (index.csv and cifs/) holding the bundled quartz, rutile and pyrite, for
    the scripts that take one."""
    import shutil

    import xrdsynth.examples

    (folder / "cifs").mkdir()
    lines = ["amcsd_id,file,mineral,space_group"]
    for k, (name, group) in enumerate([("quartz", 154), ("rutile", 136), ("pyrite", 205)], start=1):
        shutil.copy(xrdsynth.examples.cif_path(name), folder / "cifs" / f"{name}.cif")
        lines.append(f"000{k},cifs/{name}.cif,{name.title()},{group}")
    (folder / "index.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def pattern_outcome(path: Path) -> str:
    """ "pattern" or "refused" for ``read_pattern(path)``; anything else fails the calling test: a refusal
    must be a PatternFileError naming the file (no "internal reader error"), a pattern's 2θ within ±180°."""
    import numpy as np

    from xrdsynth.io import MeasuredPattern, PatternFileError, read_pattern

    message = ""
    try:
        result = read_pattern(path)
    except PatternFileError as error:
        message = str(error)
    if message:
        assert message.startswith(str(path)) and "internal reader error" not in message, message
        return "refused"
    assert isinstance(result, MeasuredPattern)
    assert np.all(np.abs(result.two_theta) <= 180)
    return "pattern"
