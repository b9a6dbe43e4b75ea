"""Space-group classifiers: network architectures, the Classifier wrapper and shipped pretrained weights.

>>> import xrdsynth as xs
>>> clf = xs.models.load_pretrained()                       # the default classifier, from inside the package
>>> p = clf.predict_proba(two_theta, intensity, wavelength="CuKa1")   # (N, 230); column k = group k + 1
>>> print(clf.predict(two_theta, intensity, wavelength=1.5406, top=5)[0])

Architectures are built by name (:data:`ARCHITECTURES`, :func:`build_model`): the 1D ResNets of Schopmans
et al. (2023), the CNN of Park et al. (2017) and a 1D ConvNeXt. Each name is a frozen version: once weights
depend on it, a change to its layers gets a new name (``resnet10-v2``), so every saved model keeps loading
strictly. A :class:`Classifier` bundles a network with its :class:`InputSpec` (grid, wavelength, scaling)
and model card; :func:`save_pretrained` writes it as ``weights.pt`` + ``card.json``. A
:class:`PretrainedBundle` is the frozen record of such a folder (weights path and sha256, architecture,
input spec, calibration, card) whose ``get_model()`` loads it with ``weights_only=True``;
:func:`pretrained_bundles` lists the shipped ones and :func:`load_pretrained` loads one by name or folder.
:func:`average_classifiers` averages the weights of snapshots of one run (stochastic weight averaging).

>>> bundle = xs.models.pretrained_bundles()[xs.models.DEFAULT_MODEL]
>>> clf = bundle.get_model()                                # the same as load_pretrained()
"""

from ._architectures import ARCHITECTURES, ConvNeXt1d, Park2017, ResNet1d, build_model
from ._averaging import average_classifiers
from ._classifier import Classifier, InputSpec, Prediction, preprocess
from ._pretrained import (
    DEFAULT_MODEL,
    PretrainedBundle,
    available_models,
    load_pretrained,
    pretrained_bundles,
    save_pretrained,
)
from ._resample import resample_pattern

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_MODEL",
    "Classifier",
    "ConvNeXt1d",
    "InputSpec",
    "Park2017",
    "Prediction",
    "PretrainedBundle",
    "ResNet1d",
    "available_models",
    "average_classifiers",
    "build_model",
    "load_pretrained",
    "preprocess",
    "pretrained_bundles",
    "resample_pattern",
    "save_pretrained",
]
