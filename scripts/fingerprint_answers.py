"""Stage-by-stage fingerprints of a classifier's answers on rruff-dev, to find where two machines part.

    python scripts/fingerprint_answers.py --rruff ../shared/data/rruff-dev --out here.json
        [--model NAME_OR_FOLDER] [--precision auto] [--against there.json]

The same weights read rruff-dev differently on two CPUs (docs/training.md, session 41: at least 13 first
answers of 449 changed), more than rounding in the network explains. For every pattern this records what each
stage of ``predict_proba`` made of it: the pattern resampled to the model's grid (``resample_pattern``,
numpy/scipy), the network's input (``preprocess``: background removal, Kβ strip, maximum, √; torch float32)
with and without the Kβ strip, and the three largest log-probabilities of the uncalibrated network and their
space groups, computed as ``predict_proba`` computes them (``probabilities_on_grid``, its batches).
``--against`` compares with a file written elsewhere: per stage, how many patterns differ beyond rounding
(relative 1e-4 in any summary) and which, so that the first stage that differs names the cause; it also says
whether the weights or the rruff-dev file themselves differ (sha256).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from xrdsynth.models import load_pretrained, preprocess, resample_pattern
from xrdsynth.simulate import resolve_wavelength
from xrdsynth.train import describe_hardware

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate_classifier import rruff_patterns

#: Stages in the order predict_proba runs them; each maps to the summaries compared.
STAGES = {
    "resampled": ("resampled_sum", "resampled_max"),
    "kbeta_strip": ("strip_l1",),
    "network_input": ("input_sum", "input_l2"),
    "network": ("top_log_probabilities",),
    "answer": ("top_groups",),
}


def summaries(
    grid: np.ndarray, stripped: torch.Tensor, unstripped: torch.Tensor, probability: torch.Tensor
) -> list:
    """One record per pattern: float64 summaries of each stage (sums are order-free enough to compare
    across machines to ~1e-6, unlike byte hashes)."""
    # A stable sort keeps tied probabilities (bfloat16 makes exact ties) in group order, so that the first
    # is the answer predict's argmax gives; topk orders ties arbitrarily.
    values, indices = torch.sort(probability.double().log(), dim=1, descending=True, stable=True)
    records = []
    for i in range(grid.shape[0]):
        x = stripped[i].double()
        records.append(
            {
                "resampled_sum": float(grid[i].sum()),
                "resampled_max": float(grid[i].max()),
                "strip_l1": float((x - unstripped[i].double()).abs().sum()),
                "input_sum": float(x.sum()),
                "input_l2": float(x.norm()),
                "top_log_probabilities": [float(v) for v in values[i, :3]],
                "top_groups": [int(k) + 1 for k in indices[i, :3]],
            }
        )
    return records


def parameters_digest(model: torch.nn.Module) -> str:
    """sha256 of the network's parameters and buffers in state-dict order (equal weights on any machine)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def differs(a: object, b: object, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """Whether two summaries differ beyond rounding (lists: any element; ints: exactly)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) != len(b) or any(differs(x, y, rtol, atol) for x, y in zip(a, b, strict=True))
    if isinstance(a, int) and isinstance(b, int):
        return a != b
    return not bool(np.isclose(float(a), float(b), rtol=rtol, atol=atol))


def compare(here: list[dict], there: list[dict]) -> dict[str, list[int]]:
    """Stage -> indices of the patterns whose summaries of that stage differ. For the answer stage only the
    first group counts (the top-1 answer)."""
    if len(here) != len(there):
        raise ValueError(f"the fingerprints hold {len(here)} and {len(there)} patterns")
    out: dict[str, list[int]] = {}
    for stage, keys in STAGES.items():
        rows = []
        for i, (a, b) in enumerate(zip(here, there, strict=True)):
            if stage == "answer":
                if a["top_groups"][0] != b["top_groups"][0]:
                    rows.append(i)
            elif any(differs(a[k], b[k]) for k in keys):
                rows.append(i)
        out[stage] = rows
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rruff", type=Path, required=True, help="rruff-dev folder (rruff-dev.npz)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write the fingerprints to")
    parser.add_argument("--model", default=None, help="classifier (default: the shipped one)")
    parser.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto")
    parser.add_argument("--against", type=Path, default=None, help="fingerprints written on another machine")
    args = parser.parse_args(argv)

    classifier = load_pretrained(args.model, precision=args.precision).eval()
    two_theta, intensity, labels = rruff_patterns(args.rruff)
    grid = resample_pattern(two_theta, intensity, resolve_wavelength("CuKa1").wavelength, classifier.spec)
    patterns = torch.as_tensor(grid, dtype=torch.float32)
    unstripped_spec = dataclasses.replace(classifier.spec, kbeta_strip=False)
    with torch.no_grad():
        stripped = preprocess(patterns, classifier.spec)
        unstripped = preprocess(patterns, unstripped_spec)
    probability = classifier.probabilities_on_grid(patterns, calibrated=False)
    records = summaries(grid, stripped, unstripped, probability)
    answers = np.array([r["top_groups"][0] for r in records])
    result = {
        "model": args.model or "default",
        "parameters_sha256": parameters_digest(classifier.model),
        "rruff_dev_sha256": hashlib.sha256((args.rruff / "rruff-dev.npz").read_bytes()).hexdigest(),
        "precision": str(classifier.inference_dtype).removeprefix("torch."),
        "machine": f"{describe_hardware('cpu')}; torch {torch.__version__}, "
        f"numpy {np.__version__}, cpu capability {torch.backends.cpu.get_cpu_capability()}",
        "top1": float((answers == labels).mean()),
        "patterns": records,
    }
    args.out.write_text(json.dumps(result) + "\n", encoding="utf-8")
    print(f"rruff-dev top-1 {result['top1']:.1%} ({result['precision']}); fingerprints in {args.out}")
    if args.against is not None:
        other = json.loads(args.against.read_text(encoding="utf-8"))
        where = f"{other.get('machine')}, {other.get('precision')}"
        print(f"against {args.against} ({where}): top-1 {other['top1']:.1%}")
        for key in ("parameters_sha256", "rruff_dev_sha256"):
            if other.get(key) != result[key]:
                print(f"  {key} differs: {result[key][:16]}… here, {str(other.get(key))[:16]}… there")
        for stage, rows in compare(records, other["patterns"]).items():
            print(f"  {stage:<14} differs in {len(rows):3d} patterns" + (f": {rows[:12]}" if rows else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
