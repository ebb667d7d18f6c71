"""Canonical architectures: torchvision-layout ResNet/ResNeXt, apart from the generic graph translation.

Recognition and the architecture description are torch-free; the module itself is in
:mod:`t7convert.canonical.resnet` and the derivation from a state_dict in :mod:`.from_state_dict`.
"""
from .recognize import Canonical, NotCanonical, recognize
from .spec import ResNetSpec

__all__ = ["ResNetSpec", "recognize", "Canonical", "NotCanonical"]
