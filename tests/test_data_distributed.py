"""xrdsynth.data under a real torch.distributed process group (two CPU processes, gloo)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import xrdsynth as xs
from xrdsynth.data import StructureDataset, SyntheticPowderDataset

CIFS = sorted((Path(__file__).parent / "data" / "cifs").glob("*.cif"))[:5]
WORLD_SIZE = 2


def _datasets() -> tuple[SyntheticPowderDataset, StructureDataset]:
    simulator = xs.PowderSimulator(two_theta=(10.0, 60.0, 300))
    synthetic = SyntheticPowderDataset(xs.SpaceGroupSampler(seed=0), simulator, batch_size=2, num_batches=5)
    structures = StructureDataset(CIFS, simulator, batch_size=2, epochs=1)
    return synthetic, structures


def _rank_main(rank: int, store: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD_SIZE)
    try:
        synthetic, structures = _datasets()
        result = {
            "indices": list(synthetic.indices()),
            "len": len(synthetic),
            "patterns": torch.cat([p for p, _ in synthetic]),
            "structure_len": len(structures),
            "structure_groups": torch.cat([labels["space_group"] for _, labels in structures]),
        }
        copy = pickle.dumps(synthetic)
        dist.barrier()
    finally:
        dist.destroy_process_group()
    # A copy pickled while the group existed keeps its rank (as a DataLoader worker started by spawn does).
    result["copy_indices"] = list(pickle.loads(copy).indices())
    torch.save(result, Path(out) / f"rank{rank}.pt")


@pytest.mark.slow
def test_ranks_from_the_process_group(tmp_path) -> None:
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    mp.spawn(_rank_main, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    results = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD_SIZE)]
    assert [r["indices"] for r in results] == [[0, 2, 4], [1, 3]]
    assert [r["copy_indices"] for r in results] == [[0, 2, 4], [1, 3]]
    assert [r["len"] for r in results] == [3, 2]
    synthetic, structures = _datasets()
    for r in results:
        expected = torch.cat([synthetic.batch(i)[0] for i in r["indices"]])
        assert torch.equal(r["patterns"], expected)
    assert [r["structure_len"] for r in results] == [2, 1]
    groups = torch.cat([r["structure_groups"] for r in results])
    assert sorted(groups.tolist()) == sorted(g - 1 for g in structures.space_groups.tolist())
