"""What a training run reports: metrics.csv (and TensorBoard), and the scores on the validation set."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from ..models import Classifier

__all__ = ["Metrics", "validation_scores"]

# The validation loss takes the log of probabilities; this floor keeps a probability that rounds to 0 from
# making the loss infinite (far below any probability that matters to the mean).
_PROBABILITY_FLOOR = 1e-12


@torch.no_grad()
def validation_scores(
    classifier: Classifier, patterns: torch.Tensor, labels: torch.Tensor
) -> dict[str, float]:
    """Loss, top-1 and top-5 accuracy of ``classifier`` on (N, P) ``patterns`` (on its grid) with (N,)
    int64 labels 0..229 (space-group number − 1)."""
    probability = classifier.probabilities_on_grid(patterns)
    top5 = probability.topk(5, dim=-1).indices
    loss = F.nll_loss(probability.clamp_min(_PROBABILITY_FLOOR).log(), labels)
    return {
        "val_loss": float(loss),
        "val_top1": float((top5[:, 0] == labels).float().mean()),
        "val_top5": float((top5 == labels[:, None]).any(dim=-1).float().mean()),
    }


class Metrics:
    """metrics.csv (and TensorBoard when available), appended across resumed runs.

    ``resume_step``: the step the run (re)starts from. Rows of later steps were written after the checkpoint
    it resumes from, by the run that stopped; the resumed run writes them again, so they are dropped first
    and every step appears once.
    """

    COLUMNS = (
        "step", "samples", "elapsed_s", "lr", "loss", "train_top1", "samples_per_s",
        "val_loss", "val_top1", "val_top5",
    )  # fmt: skip

    def __init__(self, folder: Path, resume_step: int = 0) -> None:
        self.path = folder / "metrics.csv"
        new = not self.path.exists()
        if not new:
            self._drop_rows_after(resume_step)
        self.handle = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.writer = csv.DictWriter(self.handle, self.COLUMNS)
        if new:
            self.writer.writeheader()
        self.tensorboard: Any = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(folder / "tensorboard"))
        except (ImportError, ModuleNotFoundError):
            pass

    def _drop_rows_after(self, step: int) -> None:
        with open(self.path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        kept = [row for row in rows if row.get("step", "").isdigit() and int(row["step"]) <= step]
        if len(kept) == len(rows):
            return
        partial = self.path.with_name(self.path.name + ".partial")
        with open(partial, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, self.COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(kept)
        os.replace(partial, self.path)

    def write(self, row: dict[str, Any]) -> None:
        self.writer.writerow({k: row.get(k, "") for k in self.COLUMNS})
        self.handle.flush()
        if self.tensorboard is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, float):
                    self.tensorboard.add_scalar(k, v, row["step"])

    def close(self) -> None:
        self.handle.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
