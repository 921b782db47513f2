"""The methods, and a name -> class registry used by recipes and the CLI.

Adding a method: one file here, one entry in `METHODS`, one recipe, one test
file (the shared tests in `tests/models/test_registry.py` then cover it)."""

from keras_contrastive.models.barlow_twins import BarlowTwins
from keras_contrastive.models.byol import BYOL
from keras_contrastive.models.clip import CLIP
from keras_contrastive.models.contrastive_model import ContrastiveModel
from keras_contrastive.models.dino import DINO
from keras_contrastive.models.moco import MoCo
from keras_contrastive.models.momentum_model import MomentumContrastiveModel
from keras_contrastive.models.siglip import SigLIP
from keras_contrastive.models.simclr import SimCLR
from keras_contrastive.models.simcse import SimCSE
from keras_contrastive.models.supcon import SupCon
from keras_contrastive.models.supervised import Supervised
from keras_contrastive.models.swav import SwAV
from keras_contrastive.models.vicreg import VICReg

METHODS = {
    "simclr": SimCLR,
    "moco": MoCo,
    "byol": BYOL,
    "simcse": SimCSE,
    "swav": SwAV,
    "clip": CLIP,
    "siglip": SigLIP,
    "vicreg": VICReg,
    "barlow_twins": BarlowTwins,
    "dino": DINO,
    "supcon": SupCon,
    "supervised": Supervised,
}


def get_method(name):
    """The method class registered as `name` (case-insensitive)."""
    key = str(name).lower()
    if key not in METHODS:
        raise ValueError(f"Unknown method {name!r}. Registered methods: {', '.join(sorted(METHODS))}.")
    return METHODS[key]


__all__ = [
    "BarlowTwins",
    "BYOL",
    "CLIP",
    "ContrastiveModel",
    "DINO",
    "MoCo",
    "MomentumContrastiveModel",
    "SigLIP",
    "SimCLR",
    "SimCSE",
    "SupCon",
    "Supervised",
    "SwAV",
    "VICReg",
    "METHODS",
    "get_method",
]
