"""Training data: streams of simulated powder patterns with their labels, and shards of them on disk.

``SyntheticPowderDataset`` streams batches of patterns of freshly sampled crystals; ``StructureDataset``
simulates a fixed collection of structures (Crystals or CIF files) with new random parameters every epoch;
``write_shards`` stores batches of either on disk as memory-mappable ``.npy`` files with a checksummed
manifest, and ``ShardDataset`` reads them back. Every batch is reproducible from (seed, index), and the
iterable datasets split their batches among torch.distributed ranks and DataLoader workers so that all of
them together yield the single-process sequence, each batch once.
"""

from ._common import LABELS
from ._shards import ShardDataset, write_shards
from ._structures import StructureDataset
from ._synthetic import SyntheticPowderDataset

__all__ = ["LABELS", "ShardDataset", "StructureDataset", "SyntheticPowderDataset", "write_shards"]
