"""Crystal structures: one crystal in numpy (:class:`Crystal`), a batch in torch (:class:`CrystalBatch`).

A crystal is its lattice plus every atom of the unit cell (the symmetry already applied), each atom with an
element, an occupancy, an isotropic displacement parameter B and a formal charge. Partially occupied and
mixed sites are several atoms at one position, each with its own occupancy. The space-group number travels
with the crystal as its label.
"""

from ._batch import CrystalBatch
from ._crystal import MAX_OCCUPANCY, Crystal

__all__ = ["MAX_OCCUPANCY", "Crystal", "CrystalBatch"]
