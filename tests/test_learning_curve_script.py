"""scripts/learning_curve.py --shipped-history: every committed version of a shipped model, read from git."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from conftest import load_script
from xrdsynth.models import Classifier, InputSpec, load_pretrained, save_pretrained

BUNDLE = Path("src") / "xrdsynth" / "models" / "pretrained" / "tiny-cu"


def git(repo: Path, *arguments: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *arguments], cwd=repo, check=True,
        capture_output=True,
    )  # fmt: skip


def new_repository(folder: Path) -> Path:
    """An empty git repository under ``folder``, and beside it the empty folder ``out`` for the versions."""
    repo = folder / "repo"
    repo.mkdir()
    (folder / "out").mkdir()
    git(repo, "init", "-q")
    return repo


def commit_unrelated(repo: Path) -> None:
    """A commit that leaves every model alone."""
    (repo / "unrelated.txt").write_text("no model here\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "unrelated")


def commit_version(repo: Path, seed: int) -> Classifier:
    """A small classifier saved where a shipped bundle lives, committed; returns it."""
    torch.manual_seed(seed)
    spec = InputSpec(10.0, 70.0, 300, wavelength=1.540593, sqrt_scale=True)
    classifier = Classifier.from_architecture("resnet10", spec, width=8, card={"name": f"seed-{seed}"}).eval()
    if (repo / BUNDLE).exists():
        shutil.rmtree(repo / BUNDLE)
    save_pretrained(classifier, repo / BUNDLE)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"version {seed}")
    return classifier


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
def test_every_committed_version_comes_back_oldest_first_with_its_own_weights(tmp_path: Path) -> None:
    learning_curve = load_script("learning_curve")
    repo = new_repository(tmp_path)
    committed = [commit_version(repo, seed) for seed in (1, 2)]
    commit_unrelated(repo)
    versions = learning_curve.shipped_versions("tiny-cu", tmp_path / "out", root=repo)
    assert len(versions) == 2
    x = torch.rand(3, 300)
    for (label, folder), expected in zip(versions, committed, strict=True):
        assert folder.is_dir() and len(label.split()) == 2  # date and short hash
        read = load_pretrained(folder)
        assert read.card["name"] == expected.card["name"]
        with torch.no_grad():
            torch.testing.assert_close(read.model(x), expected.model(x))


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")
def test_a_model_without_history_and_a_folder_without_git_are_refused(tmp_path: Path) -> None:
    learning_curve = load_script("learning_curve")
    repo = new_repository(tmp_path)
    commit_unrelated(repo)
    with pytest.raises(SystemExit, match="no committed weights of 'tiny-cu'"):
        learning_curve.shipped_versions("tiny-cu", tmp_path / "out", root=repo)
    with pytest.raises(SystemExit, match="cannot read the git history"):
        learning_curve.shipped_versions("tiny-cu", tmp_path / "out", root=tmp_path / "out")
