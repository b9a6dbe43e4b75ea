"""xrdsynth.data: the synthetic stream, structure collections and on-disk shards.

Tiny settings throughout (batches of 2-4 patterns on 500-point grids): the properties tested do not depend on
the size.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import xrdsynth as xs
from xrdsynth.data import LABELS, ShardDataset, StructureDataset, SyntheticPowderDataset, write_shards
from xrdsynth.data._common import STREAM_SYNTHETIC, STREAM_SYNTHETIC_POOL, batch_generator
from xrdsynth.symmetry import CRYSTAL_SYSTEMS, crystal_system

CIF_DIR = Path(__file__).parent / "data" / "cifs"
# Fm-3m, Pnnm, R-3m, P2_1/c, P6_3/mmc; the last one's CIF states I4_1/a (88), spglib finds I4_1/amd (141).
FIXTURES = {
    "amcsd_0000005.cif": 225,
    "amcsd_0000008.cif": 58,
    "amcsd_0000018.cif": 166,
    "amcsd_0000020.cif": 14,
    "amcsd_0000065.cif": 194,
    "amcsd_0017506.cif": 88,
}
SPGLIB_GROUP = {"amcsd_0017506.cif": 141}


@pytest.fixture(scope="module")
def sampler() -> xs.SpaceGroupSampler:
    return xs.SpaceGroupSampler(seed=0)


@pytest.fixture(scope="module")
def simulator() -> xs.PowderSimulator:
    return xs.PowderSimulator(two_theta=(10.0, 60.0, 500))


def synthetic(
    sampler: xs.SpaceGroupSampler, simulator: xs.PowderSimulator, **kwargs
) -> SyntheticPowderDataset:
    kwargs = {"batch_size": 3, "num_batches": 6, **kwargs}
    return SyntheticPowderDataset(sampler, simulator, **kwargs)


def cif_paths() -> list[Path]:
    return [CIF_DIR / name for name in FIXTURES]


def assert_batches_equal(a: list, b: list) -> None:
    assert len(a) == len(b)
    for (pa, la), (pb, lb) in zip(a, b, strict=True):
        assert torch.equal(pa, pb)
        assert la.keys() == lb.keys()
        for name in la:
            assert torch.equal(la[name], lb[name])


# ------------------------------------------------------------------------------------ SyntheticPowderDataset
def test_synthetic_shapes_dtypes_and_ranges(sampler, simulator) -> None:
    ds = synthetic(sampler, simulator, batch_size=4, num_batches=2)
    batches = list(ds)
    assert len(batches) == len(ds) == 2
    for patterns, labels in batches:
        assert patterns.shape == (4, 500)
        assert patterns.dtype == simulator.dtype
        assert torch.allclose(patterns.amax(dim=1), torch.ones(4))
        assert tuple(labels) == LABELS
        assert labels["space_group"].dtype == torch.int64 and labels["space_group"].shape == (4,)
        assert labels["space_group"].min() >= 0 and labels["space_group"].max() <= 229
        assert labels["crystal_system"].dtype == torch.int64 and labels["crystal_system"].shape == (4,)
        assert labels["crystal_system"].min() >= 0 and labels["crystal_system"].max() < len(CRYSTAL_SYSTEMS)
        assert labels["lattice_parameters"].shape == (4, 6)
        assert labels["lattice_parameters"].dtype == simulator.dtype
        assert all(v.device == patterns.device for v in labels.values())


def test_synthetic_labels_describe_the_crystals(sampler, simulator) -> None:
    ds = synthetic(sampler, simulator, batch_size=6)
    for index in (0, 4):
        crystals = ds.crystal_batch(index)
        _, labels = ds.batch(index)
        groups = crystals.space_group.tolist()
        assert labels["space_group"].tolist() == [g - 1 for g in groups]
        assert [CRYSTAL_SYSTEMS[k] for k in labels["crystal_system"].tolist()] == [
            crystal_system(g) for g in groups
        ]
        expected = np.array([c.cell_parameters for c in crystals.to_crystals()])
        np.testing.assert_allclose(labels["lattice_parameters"].numpy(), expected, rtol=1e-5, atol=1e-4)


def test_synthetic_on_every_device(device, tmp_path) -> None:
    sampler = xs.SpaceGroupSampler(seed=0, device=device)
    simulator = xs.PowderSimulator(two_theta=(10.0, 60.0, 500), device=device)
    ds = SyntheticPowderDataset(sampler, simulator, batch_size=3, num_batches=2)
    patterns, labels = ds.batch(1)
    assert patterns.device == simulator.device
    assert all(v.device == simulator.device for v in labels.values())
    groups = ds.crystal_batch(1).space_group
    assert groups.device == sampler.device
    assert labels["space_group"].tolist() == (groups - 1).tolist()
    on_cpu = SyntheticPowderDataset(sampler, simulator, batch_size=3, num_batches=2, device="cpu")
    cpu_patterns, cpu_labels = on_cpu.batch(1)
    assert cpu_patterns.device == cpu_labels["space_group"].device == torch.device("cpu")
    assert torch.equal(cpu_patterns, patterns.cpu())
    write_shards(ds, tmp_path, 2, progress=False)
    assert torch.equal(ShardDataset(tmp_path).get_batch(range(3, 6))[0], patterns.cpu())
    structures = StructureDataset(cif_paths()[:2], simulator, batch_size=2, epochs=1)
    (patterns, labels), *_ = list(structures)
    assert patterns.device == labels["space_group"].device == simulator.device


def test_synthetic_label_subset_and_output_device(sampler, simulator) -> None:
    ds = synthetic(sampler, simulator, labels=("crystal_system",), device="cpu")
    patterns, labels = ds.batch(1)
    assert list(labels) == ["crystal_system"]
    assert patterns.device == labels["crystal_system"].device == torch.device("cpu")


def test_synthetic_reproducible_and_distinct(sampler, simulator) -> None:
    first = list(synthetic(sampler, simulator, seed=5))
    again = list(synthetic(xs.SpaceGroupSampler(seed=123), simulator, seed=5))  # the sampler's seed is unused
    assert_batches_equal(first, again)
    other = list(synthetic(sampler, simulator, seed=6))
    assert not any(torch.equal(a[0], b[0]) for a, b in zip(first, other, strict=True))
    patterns = torch.cat([p for p, _ in first])
    assert len(torch.unique(patterns, dim=0)) == len(patterns), "two patterns of one stream coincide"


def test_synthetic_leaves_the_sampler_and_simulator_streams_alone(sampler, simulator) -> None:
    sampler_state = sampler.generator.get_state()
    simulator_state = simulator.generator().get_state()
    list(synthetic(sampler, simulator, num_batches=2))
    assert torch.equal(sampler.generator.get_state(), sampler_state)
    assert torch.equal(simulator.generator().get_state(), simulator_state)


def test_synthetic_dataloader_workers_yield_the_single_process_sequence(sampler, simulator) -> None:
    ds = synthetic(sampler, simulator, num_batches=5)
    single = list(DataLoader(ds, batch_size=None, num_workers=0))
    parallel = list(DataLoader(ds, batch_size=None, num_workers=2))
    # Same set, and even the same order: worker w takes indices w, w+2, ... and the loader alternates.
    assert_batches_equal(parallel, single)


def test_synthetic_ranks_are_disjoint_and_complete(sampler, simulator) -> None:
    full = synthetic(sampler, simulator, num_batches=7)
    assert list(full.indices()) == list(range(7))
    parts = [synthetic(sampler, simulator, num_batches=7, rank=r, world_size=3) for r in range(3)]
    indices = [list(p.indices()) for p in parts]
    assert sorted(i for part in indices for i in part) == list(range(7))
    assert [len(p) for p in parts] == [len(i) for i in indices] == [3, 2, 2]
    # Disjoint crystals, not only indices: rank 0 and rank 1 of two.
    rank0, rank1 = (
        torch.cat([p for p, _ in synthetic(sampler, simulator, num_batches=4, rank=r, world_size=2)])
        for r in (0, 1)
    )
    assert not (rank0.unsqueeze(1) == rank1.unsqueeze(0)).all(-1).any()
    by_index = {i: full.batch(i) for i in range(7)}
    assert_batches_equal(list(parts[1]), [by_index[i] for i in indices[1]])


def test_synthetic_start_batch_resumes_the_tail(sampler, simulator) -> None:
    full = list(synthetic(sampler, simulator, num_batches=5))
    tail = synthetic(sampler, simulator, num_batches=5, start_batch=3)
    assert len(tail) == 2
    assert_batches_equal(list(tail), full[3:])
    ranked = synthetic(sampler, simulator, num_batches=5, start_batch=3, rank=1, world_size=2)
    assert list(ranked.indices()) == [3]


def test_synthetic_endless_stream(sampler, simulator) -> None:
    ds = synthetic(sampler, simulator, num_batches=None)
    with pytest.raises(TypeError):
        len(ds)
    stream = iter(ds)
    assert_batches_equal([next(stream) for _ in range(3)], list(synthetic(sampler, simulator, num_batches=3)))


def test_synthetic_pickles(sampler, simulator) -> None:
    ds = synthetic(sampler, simulator)
    copy = pickle.loads(pickle.dumps(ds))
    assert_batches_equal([copy.batch(2)], [ds.batch(2)])
    assert repr(copy) == repr(ds)


def test_synthetic_crystal_reuse_renders_each_crystal_several_times(sampler) -> None:
    """crystal_reuse=3, batch 7: crystals 0 0 0 1 1 1 2, the first three of the batch's own sampler draw,
    each simulated with its own instrument draws (here crystallite sizes)."""
    sim = xs.PowderSimulator(two_theta=(10.0, 60.0, 500), crystallite_size_nm=(10.0, 200.0))
    plain = synthetic(sampler, sim, batch_size=7)
    reused = synthetic(sampler, sim, batch_size=7, crystal_reuse=3)
    crystals = reused.crystal_batch(2)
    assert len(crystals) == 7
    own = sampler.sample(3, generator=batch_generator(sampler.device, 0, STREAM_SYNTHETIC, 2, 0))
    for row, source in enumerate([0, 0, 0, 1, 1, 1, 2]):
        assert torch.equal(crystals.lattice[row], own.lattice[source])
        assert torch.equal(crystals.frac_coords[row], own.frac_coords[source])
        assert torch.equal(crystals.numbers[row], own.numbers[source])
    patterns, labels = reused.batch(2)
    assert labels["space_group"].tolist() == [g - 1 for g in crystals.space_group.tolist()]
    for a, b in ((0, 1), (1, 2), (3, 4)):
        assert not torch.allclose(patterns[a], patterns[b])  # the same crystal with other sizes
    # crystal_reuse=1 is the stream as it always was.
    assert_batches_equal([plain.batch(1)], [synthetic(sampler, sim, batch_size=7, crystal_reuse=1).batch(1)])
    assert "crystal_reuse=3" in repr(reused)


def test_synthetic_crystal_pool_splits_one_sampler_call_among_its_batches(sampler) -> None:
    """crystal_pool=3, 2 crystals per batch: batches 3..5 hold rows 0-1, 2-3, 4-5 of one call of the
    sampler seeded from (seed, pool 1); a batch made alone (as after a resume, or by another worker) is
    the batch made in sequence; the pools are fresh crystals (no two batches share one)."""
    sim = xs.PowderSimulator(two_theta=(10.0, 60.0, 500))
    pooled = synthetic(sampler, sim, batch_size=4, num_batches=9, crystal_reuse=2, crystal_pool=3)
    own = sampler.sample(6, generator=batch_generator(sampler.device, 0, STREAM_SYNTHETIC_POOL, 1))
    for slot, index in enumerate((3, 4, 5)):
        crystals = pooled.crystal_batch(index)
        for row, source in enumerate([0, 0, 1, 1]):
            assert torch.equal(crystals.frac_coords[row], own.frac_coords[2 * slot + source])
            assert torch.equal(crystals.lattice[row], own.lattice[2 * slot + source])
    in_sequence = list(pooled)
    alone = synthetic(sampler, sim, batch_size=4, num_batches=9, crystal_reuse=2, crystal_pool=3)
    assert_batches_equal([in_sequence[4]], [alone.batch(4)])
    lattices = torch.cat([pooled.crystal_batch(i).lattice[::2] for i in range(9)])
    assert len({tuple(row.flatten().tolist()) for row in lattices}) == 18
    assert "crystal_pool=3" in repr(pooled)
    # pickled (DataLoader workers) without the pool it holds
    assert pickle.loads(pickle.dumps(pooled))._pool is None


def test_synthetic_repr(sampler, simulator) -> None:
    text = repr(synthetic(sampler, simulator, start_batch=2, rank=0, world_size=2))
    for part in ("SyntheticPowderDataset(", "batch_size=3", "num_batches=6", "seed=0", "start_batch=2",
                 "world_size=2", "SpaceGroupSampler(", "PowderSimulator("):  # fmt: skip
        assert part in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"num_batches": 0}, "num_batches"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"labels": ("space_group", "bravais")}, "unknown label"),
        ({"labels": "space_group"}, "sequence"),
        ({"labels": ("space_group", "space_group")}, "repeated"),
        ({"start_batch": 7}, "start_batch"),
        ({"rank": 0}, "both rank and world_size"),
        ({"rank": 2, "world_size": 2}, "rank"),
        ({"crystal_reuse": 0}, "crystal_reuse"),
        ({"crystal_reuse": True}, "crystal_reuse"),
        ({"crystal_reuse": 4}, "more than batch_size"),
        ({"crystal_pool": 0}, "crystal_pool"),
    ],
)
def test_synthetic_bad_arguments(sampler, simulator, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        synthetic(sampler, simulator, **kwargs)


def test_synthetic_bad_components(sampler, simulator) -> None:
    with pytest.raises(ValueError, match="same device"):
        SyntheticPowderDataset(xs.SpaceGroupSampler(device="meta"), simulator)
    with pytest.raises(ValueError, match="sampler must be"):
        SyntheticPowderDataset(simulator, simulator)
    with pytest.raises(ValueError, match="simulator must be"):
        SyntheticPowderDataset(sampler, sampler)
    with pytest.raises(IndexError):
        synthetic(sampler, simulator).batch(6)


# ------------------------------------------------------------------------------------------ StructureDataset
def structures(simulator: xs.PowderSimulator, source=None, **kwargs) -> StructureDataset:
    kwargs = {"batch_size": 2, "epochs": 1, **kwargs}
    return StructureDataset(cif_paths() if source is None else source, simulator, **kwargs)


def test_structures_labels_from_cif(simulator) -> None:
    ds = structures(simulator, shuffle=False)
    assert len(ds) == ds.batches_per_epoch == 3
    batches = list(ds)
    groups = torch.cat([labels["space_group"] for _, labels in batches]) + 1
    assert groups.tolist() == list(FIXTURES.values())
    systems = torch.cat([labels["crystal_system"] for _, labels in batches])
    assert [CRYSTAL_SYSTEMS[k] for k in systems] == [crystal_system(g) for g in FIXTURES.values()]
    parameters = torch.cat([labels["lattice_parameters"] for _, labels in batches]).numpy()
    expected = [xs.Crystal.from_cif(p).cell_parameters for p in cif_paths()]
    np.testing.assert_allclose(parameters, expected, rtol=1e-5)
    patterns = torch.cat([p for p, _ in batches])
    assert patterns.shape == (len(FIXTURES), 500)
    assert torch.allclose(patterns.amax(dim=1), torch.ones(len(FIXTURES)))


def test_structures_labels_from_spglib(simulator) -> None:
    ds = structures(simulator, shuffle=False, labels_from="spglib", batch_size=6)
    (_, labels), *_ = list(ds)
    expected = [SPGLIB_GROUP.get(name, group) for name, group in FIXTURES.items()]
    assert (labels["space_group"] + 1).tolist() == expected
    assert ds.space_groups.tolist() == expected


def test_structures_directory_and_crystals(simulator, tmp_path) -> None:
    for path in cif_paths()[:3]:
        shutil.copy(path, tmp_path)
    from_dir = structures(simulator, tmp_path, shuffle=False)
    crystals = [xs.Crystal.from_cif(p) for p in cif_paths()[:3]]
    from_crystals = structures(simulator, crystals, shuffle=False)
    assert len(from_dir.crystals) == 3
    assert_batches_equal(list(from_dir), list(from_crystals))


def test_structures_new_parameters_every_epoch(simulator) -> None:
    ds = structures(simulator, shuffle=False, epochs=2, batch_size=3)
    (a0, l0), (a1, _), (b0, m0), (b1, _) = list(ds)
    assert torch.equal(l0["space_group"], m0["space_group"])  # same structures in the same batch...
    assert not torch.equal(a0, b0) and not torch.equal(a1, b1)  # ...with other crystallite sizes
    assert_batches_equal(list(ds), list(structures(simulator, shuffle=False, epochs=2, batch_size=3)))


def test_structures_shuffle_visits_each_structure_once_per_epoch(simulator) -> None:
    ds = structures(simulator, epochs=3)
    orders = [ds.order(e) for e in range(3)]
    assert all(sorted(o.tolist()) == list(range(len(FIXTURES))) for o in orders)
    assert len({tuple(o) for o in orders}) > 1
    groups = [labels["space_group"] for _, labels in ds]
    first_epoch = torch.cat(groups[:3]) + 1
    assert first_epoch.tolist() == [list(FIXTURES.values())[k] for k in orders[0]]


def test_structures_set_epoch_and_start_epoch(simulator) -> None:
    two = list(structures(simulator, epochs=2))
    resumed = structures(simulator, epochs=1)
    resumed.set_epoch(1)
    assert_batches_equal(list(resumed), two[3:])
    assert_batches_equal(list(structures(simulator, epochs=1, start_epoch=1)), two[3:])


def test_structures_partition_among_ranks_and_workers(simulator) -> None:
    full = list(structures(simulator, epochs=2))
    parts = [list(structures(simulator, epochs=2, rank=r, world_size=2)) for r in (0, 1)]
    # Rank 0 takes batch 0 and 2 of each epoch, rank 1 batch 1.
    assert_batches_equal(parts[0], [full[0], full[2], full[3], full[5]])
    assert_batches_equal(parts[1], [full[1], full[4]])
    assert [len(structures(simulator, rank=r, world_size=2)) for r in (0, 1)] == [2, 1]
    loader = DataLoader(structures(simulator, epochs=1), batch_size=None, num_workers=2)
    assert_batches_equal(list(loader), full[:3])


def test_structures_unreadable_files(simulator, tmp_path) -> None:
    bad = tmp_path / "broken.cif"
    bad.write_text("data_broken\n_cell_length_a 5\n")
    sources = [*cif_paths()[:2], bad, tmp_path / "missing.cif"]
    with pytest.raises(xs.CIFError, match=r"broken\.cif"):
        _ = structures(simulator, sources).crystals
    ds = structures(simulator, sources, skip_unreadable=True, shuffle=False)
    with pytest.warns(RuntimeWarning, match="2 of 4 structures") as record:
        assert len(ds.crystals) == 2
    assert len(record) == 1
    assert [name for name, _ in ds.skipped] == [str(bad), str(tmp_path / "missing.cif")]
    assert "CIFError" in ds.skipped[0][1] and "FileNotFoundError" in ds.skipped[1][1]
    assert len(list(ds)) == 1


def test_structures_pickles_with_its_structures(simulator) -> None:
    ds = structures(simulator)
    _ = ds.crystals  # read before pickling, as a DataLoader's main process would
    copy = pickle.loads(pickle.dumps(ds))
    assert copy._loaded is not None
    assert_batches_equal([copy.batch(0, 1)], [ds.batch(0, 1)])
    assert repr(copy) == repr(ds)
    assert "StructureDataset(<6 structures>" in repr(ds)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"labels_from": "pymatgen"}, "labels_from"),
        ({"symprec": 0.0}, "symprec"),
        ({"epochs": 0}, "epochs"),
        ({"labels": ("hkl",)}, "unknown label"),
        ({"world_size": 2}, "both rank"),
    ],
)
def test_structures_bad_arguments(simulator, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        structures(simulator, **kwargs)


def test_structures_bad_sources(simulator, tmp_path) -> None:
    with pytest.raises(ValueError, match="empty"):
        structures(simulator, [])
    with pytest.raises(ValueError, match="not a Crystal"):
        structures(simulator, [1])
    with pytest.raises(ValueError, match=r"no \*\.cif"):
        _ = structures(simulator, tmp_path).crystals
    with pytest.raises(ValueError, match="neither a directory nor a file"):
        _ = structures(simulator, tmp_path / "nothing").crystals


# ------------------------------------------------------------------------------------------------- shards
def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def shard_hashes(folder: Path) -> list[dict[str, str]]:
    return [{k: v["sha256"] for k, v in s["files"].items()} for s in manifest_of(folder)["shards"]]


def test_shards_round_trip(sampler, simulator, tmp_path) -> None:
    ds = synthetic(sampler, simulator, num_batches=None)
    manifest = write_shards(ds, tmp_path, 5, batches_per_shard=2, progress=False)
    assert manifest == manifest_of(tmp_path)
    assert [s["num_batches"] for s in manifest["shards"]] == [2, 2, 1]
    assert (tmp_path / "shard-00002.patterns.npy").is_file()
    assert not list(tmp_path.glob("*.tmp"))
    reader = ShardDataset(tmp_path, verify=True)
    assert len(reader) == 15 and reader.label_names == LABELS
    assert torch.equal(reader.two_theta, simulator.two_theta.double())
    expected = [ds.batch(i) for i in range(5)]
    patterns, labels = reader.get_batch(range(15))
    assert torch.equal(patterns, torch.cat([p for p, _ in expected]))
    for name in LABELS:
        assert torch.equal(labels[name], torch.cat([lab[name] for _, lab in expected]))
    pattern, item_labels = reader[7]
    assert torch.equal(pattern, patterns[7])
    assert all(torch.equal(item_labels[n], labels[n][7]) for n in LABELS)
    assert torch.equal(reader[-1][0], patterns[-1])
    with pytest.raises(IndexError):
        reader[15]
    loaded = next(iter(DataLoader(reader, batch_size=4, shuffle=False)))
    assert torch.equal(loaded[0], patterns[:4])
    assert torch.equal(loaded[1]["space_group"], labels["space_group"][:4])
    shuffled = list(reader.batches(4, shuffle=True, seed=1))
    assert [len(p) for p, _ in shuffled] == [4, 4, 4, 3]
    assert sorted(torch.cat([lab["space_group"] for _, lab in shuffled]).tolist()) == sorted(
        labels["space_group"].tolist()
    )
    assert len(list(reader.batches(4, drop_last=True))) == 3
    copy = pickle.loads(pickle.dumps(reader))
    assert torch.equal(copy[3][0], reader[3][0])


def test_shards_float16_and_structure_source(simulator, tmp_path) -> None:
    ds = structures(simulator, shuffle=False, epochs=None)
    write_shards(ds, tmp_path, 4, batches_per_shard=3, dtype="float16", progress=False)
    reader = ShardDataset(tmp_path)
    assert reader.manifest["patterns_dtype"] == "float16"
    assert len(reader) == 8  # epoch 0 (6 structures) and the first batch of epoch 1
    patterns, labels = reader.get_batch(range(8))
    assert patterns.dtype == torch.float32
    expected = torch.cat([ds.batch(0, j)[0] for j in range(3)] + [ds.batch(1, 0)[0]])
    torch.testing.assert_close(patterns, expected, atol=1e-3, rtol=0)
    assert (labels["space_group"][:6] + 1).tolist() == list(FIXTURES.values())


def test_shards_resume_extends_with_the_same_batches(sampler, simulator, tmp_path) -> None:
    ds = synthetic(sampler, simulator, num_batches=None)
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    write_shards(ds, fresh, 8, batches_per_shard=2, progress=False)
    write_shards(ds, resumed, 4, batches_per_shard=2, progress=False)
    first = resumed / "shard-00000.patterns.npy"
    stamp = first.stat().st_mtime_ns, first.stat().st_ino
    made = []
    counting = synthetic(sampler, simulator, num_batches=None)
    counting.batch = lambda i: made.append(i) or ds.batch(i)  # type: ignore[method-assign]
    write_shards(counting, resumed, 8, batches_per_shard=2, progress=False)
    assert made == [4, 5, 6, 7], "only the missing shards are made"
    assert (first.stat().st_mtime_ns, first.stat().st_ino) == stamp
    assert shard_hashes(resumed) == shard_hashes(fresh)
    # Running again once complete does nothing.
    made.clear()
    write_shards(counting, resumed, 8, batches_per_shard=2, progress=False)
    assert made == []


def test_shards_resume_after_an_interruption(sampler, simulator, tmp_path) -> None:
    ds = synthetic(sampler, simulator, num_batches=None)
    fresh, killed = tmp_path / "fresh", tmp_path / "killed"
    write_shards(ds, fresh, 5, batches_per_shard=2, progress=False)

    failing = synthetic(sampler, simulator, num_batches=None)

    def batch(i: int):
        if i == 3:
            raise KeyboardInterrupt
        return ds.batch(i)

    failing.batch = batch  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        write_shards(failing, killed, 5, batches_per_shard=2, progress=False)
    assert manifest_of(killed)["num_batches"] == 2
    # What a run killed while writing leaves: a half-written temporary file and a shard the manifest
    # does not list yet.
    (killed / "shard-00001.patterns.npy.tmp").write_bytes(b"\x93NUMPY half")
    shutil.copy(fresh / "shard-00002.space_group.npy", killed / "shard-00001.space_group.npy")
    write_shards(ds, killed, 5, batches_per_shard=2, progress=False)
    assert not list(killed.glob("*.tmp"))
    assert sorted(os.listdir(killed)) == sorted(os.listdir(fresh))
    assert shard_hashes(killed) == shard_hashes(fresh)
    ShardDataset(killed, verify=True)


def test_shards_short_last_shard_is_completed_when_extending(sampler, simulator, tmp_path) -> None:
    ds = synthetic(sampler, simulator, num_batches=None)
    write_shards(ds, tmp_path / "a", 3, batches_per_shard=2, progress=False)
    write_shards(ds, tmp_path / "a", 4, batches_per_shard=2, progress=False)
    write_shards(ds, tmp_path / "b", 4, batches_per_shard=2, progress=False)
    assert shard_hashes(tmp_path / "a") == shard_hashes(tmp_path / "b")
    with pytest.raises(ValueError, match="already holds 4 batches"):
        write_shards(ds, tmp_path / "a", 3, batches_per_shard=2, progress=False)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": 1}, "seed"),
        ({"batch_size": 2}, "batch_size"),
        ({"batches_per_shard": 3}, "batches_per_shard"),
        ({"dtype": "float16"}, "dtype"),
        ({"settings": {"run": "b"}}, "user"),
    ],
)
def test_shards_other_settings_raise(sampler, simulator, tmp_path, change, message) -> None:
    def write(seed=0, batch_size=3, **kwargs):
        ds = synthetic(sampler, simulator, num_batches=None, seed=seed, batch_size=batch_size)
        kwargs = {"batches_per_shard": 2, "settings": {"run": "a"}, "progress": False, **kwargs}
        write_shards(ds, tmp_path, 2, **kwargs)

    write()
    with pytest.raises(ValueError, match=f"other settings(.|\n)*{message}"):
        write(**change)


def test_shards_other_simulator_raises(sampler, simulator, tmp_path) -> None:
    write_shards(synthetic(sampler, simulator), tmp_path, 2, progress=False)
    other = xs.PowderSimulator(two_theta=(10.0, 60.0, 400))
    with pytest.raises(ValueError, match="two_theta"):
        write_shards(synthetic(sampler, other), tmp_path, 2, progress=False)


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        # More than 8 groups or explicit weights used to look alike in the sampler's repr.
        ({"space_groups": range(1, 21)}, {"space_groups": range(21, 41)}, "sampler.space_groups"),
        (
            {"space_groups": range(1, 21), "space_group_weights": [1.0] * 20},
            {"space_groups": range(1, 21), "space_group_weights": [1.0] * 19 + [2.0]},
            "sampler.space_group_weights",
        ),
        ({"max_attempts": 10}, {"max_attempts": 5}, "sampler.max_attempts"),
    ],
)
def test_shards_identify_the_sampler_by_all_its_settings(simulator, tmp_path, first, second, message) -> None:
    write_shards(synthetic(xs.SpaceGroupSampler(**first), simulator), tmp_path, 1, progress=False)
    with pytest.raises(ValueError, match=f"other settings(.|\n)*{message}(.sha256)?: existing"):
        write_shards(synthetic(xs.SpaceGroupSampler(**second), simulator), tmp_path, 2, progress=False)


@pytest.mark.parametrize(
    "change", [{"background_order": 4}, {"goniometer_radius_mm": 200.0}, {"wavelength": "CuKa"}]
)
def test_shards_identify_the_simulator_by_all_its_settings(sampler, tmp_path, change) -> None:
    grid = {"two_theta": (10.0, 60.0, 500)}
    write_shards(synthetic(sampler, xs.PowderSimulator(**grid)), tmp_path, 1, progress=False)
    other = xs.PowderSimulator(**grid, **change)
    with pytest.raises(ValueError, match=f"simulator.{next(iter(change))}(.lines)?: existing"):
        write_shards(synthetic(sampler, other), tmp_path, 2, progress=False)


def test_shard_settings_record_every_constructor_argument() -> None:
    from xrdsynth.data._settings import _NOT_STORED, _sampler_settings, _simulator_settings
    from xrdsynth.train import TrainConfig, build_data

    weights = [float(g) for g in range(1, 231)]
    sampler = _sampler_settings(xs.SpaceGroupSampler(space_group_weights=weights))
    simulator = _simulator_settings(xs.PowderSimulator(background=(0.0, 0.1), zero_shift=0.02))
    for settings in (sampler, simulator):
        assert _NOT_STORED not in json.dumps(settings)
    assert sampler["space_groups"] == list(range(1, 231))
    assert sampler["space_group_weights"]["shape"] == [230]  # long float lists by sha256
    assert simulator["background"] == [0.0, 0.1] and simulator["zero_shift"] == [0.02, 0.02]
    # A module holding several simulators (the training mixture) records each of them.
    _, mixture = build_data(TrainConfig(two_theta=(10.0, 60.0, 300), clean_fraction=0.5), torch.device("cpu"))
    inner = _simulator_settings(mixture)["simulators"]
    assert [s["profile"] for s in inner] == ["gaussian", "pseudo_voigt"]


def test_shards_report_corruption_by_shard(sampler, simulator, tmp_path) -> None:
    write_shards(synthetic(sampler, simulator), tmp_path, 4, batches_per_shard=2, progress=False)
    target = tmp_path / "shard-00001.patterns.npy"
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF  # one byte of a pattern, not of the header: the file still opens
    target.write_bytes(bytes(data))
    reader = ShardDataset(tmp_path)
    with pytest.raises(ValueError, match=r"shard-00001 is corrupted: shard-00001\.patterns\.npy"):
        reader.verify()
    with pytest.raises(ValueError, match="shard-00001"):
        ShardDataset(tmp_path, verify=True)


def test_shards_report_missing_and_truncated_files(sampler, simulator, tmp_path) -> None:
    write_shards(synthetic(sampler, simulator), tmp_path, 4, batches_per_shard=2, progress=False)
    labels = tmp_path / "shard-00000.space_group.npy"
    content = labels.read_bytes()
    labels.write_bytes(content[:-8])
    with pytest.raises(ValueError, match=r"shard-00000: .*space_group\.npy.*truncated"):
        ShardDataset(tmp_path)
    labels.write_bytes(content)
    (tmp_path / "shard-00001.patterns.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"shard-00001: .*shard-00001\.patterns\.npy.* missing"):
        ShardDataset(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"shard-00001\.patterns\.npy"):
        write_shards(synthetic(sampler, simulator), tmp_path, 6, batches_per_shard=2, progress=False)
    with pytest.raises(FileNotFoundError, match=r"manifest\.json"):
        ShardDataset(tmp_path / "nowhere")


def test_shards_from_a_plain_iterable(sampler, simulator, tmp_path) -> None:
    ds = synthetic(sampler, simulator, num_batches=4)
    loader = DataLoader(ds, batch_size=None)
    write_shards(loader, tmp_path / "a", 3, batches_per_shard=2, settings={"seed": 0}, progress=False)
    write_shards(loader, tmp_path / "a", 4, batches_per_shard=2, settings={"seed": 0}, progress=False)
    write_shards(ds, tmp_path / "b", 4, batches_per_shard=2, progress=False)
    assert shard_hashes(tmp_path / "a") == shard_hashes(tmp_path / "b")
    reader = ShardDataset(tmp_path / "a")
    assert reader.two_theta is None and manifest_of(tmp_path / "a")["settings"]["user"] == {"seed": 0}
    with pytest.raises(ValueError, match="ended after 4 batches"):
        write_shards(loader, tmp_path / "c", 5, progress=False)


def test_shards_parallel_workers_write_the_same(sampler, simulator, tmp_path) -> None:
    ds = synthetic(sampler, simulator, num_batches=None)
    write_shards(ds, tmp_path / "a", 5, batches_per_shard=2, num_workers=2, progress=False)
    write_shards(ds, tmp_path / "b", 5, batches_per_shard=2, progress=False)
    assert shard_hashes(tmp_path / "a") == shard_hashes(tmp_path / "b")


class _Doubled(torch.nn.Module):
    """A simulator-like module without a grid attribute: two patterns side by side."""

    def __init__(self, simulator: xs.PowderSimulator) -> None:
        super().__init__()
        self.simulator = simulator

    @property
    def device(self) -> torch.device:
        return self.simulator.device

    def forward(self, batch: xs.CrystalBatch, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.cat([self.simulator(batch, generator=generator)] * 2, dim=1)


def test_simulator_like_modules(sampler, simulator, tmp_path) -> None:
    ds = synthetic(sampler, _Doubled(simulator), num_batches=2)
    patterns, _ = ds.batch(0)
    assert patterns.shape == (3, 1000)
    write_shards(ds, tmp_path, 2, progress=False)
    reader = ShardDataset(tmp_path)
    assert reader.two_theta is None and reader.get_batch([0])[0].shape == (1, 1000)
    assert len(list(StructureDataset(cif_paths()[:2], _Doubled(simulator), epochs=1))) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_batches": 0}, "num_batches"),
        ({"batches_per_shard": 0}, "batches_per_shard"),
        ({"dtype": "int8"}, "dtype"),
        ({"settings": {"f": object()}}, "JSON"),
        ({"num_batches": 7}, "more than the source"),
    ],
)
def test_write_shards_bad_arguments(sampler, simulator, tmp_path, kwargs, message) -> None:
    kwargs = {"num_batches": 2, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=message):
        write_shards(synthetic(sampler, simulator), tmp_path, **kwargs)


def test_sha256_in_manifest_is_the_file_hash(sampler, simulator, tmp_path) -> None:
    write_shards(synthetic(sampler, simulator), tmp_path, 1, progress=False)
    entry = manifest_of(tmp_path)["shards"][0]["files"]["patterns"]
    data = (tmp_path / entry["name"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
    assert np.load(tmp_path / entry["name"]).shape == (3, 500)
