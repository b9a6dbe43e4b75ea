"""Space-group classifiers: network architectures, the Classifier wrapper and shipped pretrained weights.

>>> import xrdsynth as xs
>>> clf = xs.models.load_pretrained()                       # the default classifier, from inside the package
>>> p = clf.predict_proba(two_theta, intensity, wavelength="CuKa1")   # (N, 230); column k = group k + 1
>>> print(clf.predict(two_theta, intensity, wavelength=1.5406, top=5)[0])

Architectures are built by name (:data:`ARCHITECTURES`, :func:`build_model`): the 1D ResNets of Schopmans
et al. (2023), the CNN of Park et al. (2017) and a 1D ConvNeXt. A :class:`Classifier` bundles a network with
its :class:`InputSpec` (grid, wavelength, scaling) and model card; :func:`save_pretrained` and
:func:`load_pretrained` write and read it as ``weights.pt`` + ``card.json``.
"""

from ._architectures import ARCHITECTURES, ConvNeXt1d, Park2017, ResNet1d, build_model
from ._classifier import Classifier, InputSpec, Prediction, preprocess, resample_pattern
from ._pretrained import DEFAULT_MODEL, available_models, load_pretrained, save_pretrained

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_MODEL",
    "Classifier",
    "ConvNeXt1d",
    "InputSpec",
    "Park2017",
    "Prediction",
    "ResNet1d",
    "available_models",
    "build_model",
    "load_pretrained",
    "preprocess",
    "resample_pattern",
    "save_pretrained",
]
