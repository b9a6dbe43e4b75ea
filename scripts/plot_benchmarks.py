"""Bar chart of the headline benchmark figures (benchmarks/results.json) for the documentation.

    python scripts/plot_benchmarks.py [--out docs/_static/benchmarks.png]
"""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "_static" / "benchmarks.png")
    args = parser.parse_args()
    data = json.loads(args.results.read_text(encoding="utf-8"))
    rows = data["comparisons"]
    fig, ax = plt.subplots(figsize=(9.0, 1.2 + 1.1 * len(rows)))
    labels, reference, ours = [], [], []
    for row in rows:
        labels.append(textwrap.fill(row["task"], 26))
        reference.append(row["reference_rate"])
        ours.append(row["xrdsynth_rate"])
    y = range(len(rows))
    ax.barh([i + 0.2 for i in y], reference, height=0.38, color="#999999", label="reference")
    ax.barh([i - 0.2 for i in y], ours, height=0.38, color="#1f77b4", label="xrdsynth")
    for i, row in enumerate(rows):
        ax.text(row["reference_rate"] * 1.1, i + 0.2, f"{row['reference']}: {row['reference_rate']:,.0f}/s",
                va="center", fontsize=8)  # fmt: skip
        ratio = row["xrdsynth_rate"] / row["reference_rate"]
        ax.text(row["xrdsynth_rate"] * 1.1, i - 0.2, f"{row['xrdsynth']}: {row['xrdsynth_rate']:,.0f}/s "
                f"({ratio:.0f}x)", va="center", fontsize=8)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlim(10, max(ours) * 300)
    ax.set_yticks(list(y), labels, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("items per second (log scale)")
    ax.set_title(data["hardware"], fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
