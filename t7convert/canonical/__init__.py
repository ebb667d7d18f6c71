"""Canonical architectures: torchvision-layout ResNet/ResNeXt, apart from the generic graph translation."""
from .recognize import Canonical, NotCanonical, recognize
from .resnet import ResNet, ResNetSpec
from .from_state_dict import spec_from_state_dict

__all__ = ["ResNet", "ResNetSpec", "recognize", "Canonical", "NotCanonical", "spec_from_state_dict"]
