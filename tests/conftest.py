"""Shared fixtures: the fixture CIF directory and the devices to run torch code on."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

CIF_DIR = Path(__file__).parent / "data" / "cifs"
FIXTURE_CIFS = sorted(CIF_DIR.glob("*.cif"))

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Every available device, so the same test body runs on CPU and, where present, on a GPU."""
    return request.param
