"""Training space-group classifiers on synthetic crystals generated on the fly.

Every step draws a new batch of random crystals (:class:`~xrdsynth.SpaceGroupSampler`), simulates their
patterns (:class:`~xrdsynth.PowderSimulator`) on the training device and takes one optimiser step, so no
pattern is ever seen twice. One process, or many with ``torchrun``::

    python -m xrdsynth.train --out runs/small --steps 2000 --batch-size 64
    torchrun --nproc_per_node=4 -m xrdsynth.train --out runs/big --device cuda --steps 100000

Under ``torchrun`` each rank builds its own sampler and simulator on its own device and generates its own
share of the stream (batches are partitioned by rank, see :class:`xrdsynth.data.SyntheticPowderDataset`);
gradients are averaged by :class:`~torch.nn.parallel.DistributedDataParallel` (NCCL on GPUs, gloo on CPUs).

The run folder receives ``config.json``, ``metrics.csv`` (and TensorBoard events when ``tensorboard`` is
installed), ``checkpoint.pt`` (model, optimiser, schedule, step; written atomically every
``checkpoint_every`` steps) and ``model/`` (the :class:`~xrdsynth.models.Classifier` written by
:func:`~xrdsynth.models.save_pretrained`, with its card). Running again with the same folder resumes from the
checkpoint, continuing the data stream where it stopped; a folder whose settings, number of processes or
statistics (their content, :func:`statistics_fingerprint`) differ is refused.
"""

# The implementation lives in private modules, one concept each: _config (TrainConfig), _data (sampler,
# simulator mixture, validation set), _loop (train), _checkpoint (atomic saves, resume checks), _metrics
# (metrics.csv, validation scores), _card and _hardware (the model card, the device in words), _cli (the
# command line; __main__ runs it).

from ._checkpoint import statistics_fingerprint
from ._cli import build_parser, config_from_args, main
from ._config import PRECISIONS, TrainConfig
from ._data import ViewMixture, build_data
from ._hardware import describe_hardware
from ._loop import crystal_system_loss, train, views_divergence

__all__ = [
    "PRECISIONS",
    "TrainConfig",
    "ViewMixture",
    "build_data",
    "build_parser",
    "config_from_args",
    "crystal_system_loss",
    "describe_hardware",
    "main",
    "statistics_fingerprint",
    "train",
    "views_divergence",
]
