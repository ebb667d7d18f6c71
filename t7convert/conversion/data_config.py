"""The data a converted model expects, stored in its description the way timm's ``pretrained_cfg`` is:
input size, and for fb.resnet.torch's models the normalisation and resize they were trained with.

A loaded module carries it as ``module.data_config``, so a user knows what to feed a converted file
without the Torch7 training code at hand.
"""
from __future__ import annotations

from typing import Any

#: fb.resnet.torch's ImageNet normalisation (datasets/imagenet.lua meanstd) and resize (image.scale,
#: bicubic, shorter side 256, centre crop 224): what `t7convert evaluate` reproduces.
FB_RESNET_IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                      "interpolation": "torch7-bicubic", "resize": 256, "crop": 224}
#: fb.resnet.torch's CIFAR-10 normalisation (datasets/cifar10.lua meanstd, on 0..255 pixels).
FB_RESNET_CIFAR = {"mean": [125.3 / 255, 123.0 / 255, 113.9 / 255], "std": [63.0 / 255, 62.1 / 255, 66.7 / 255]}


def canonical_data_config(stem: str, num_classes: int) -> dict[str, Any]:
    """An fb.resnet.torch ResNet's data: 3x224x224 ImageNet or 3x32x32 CIFAR input, its normalisation."""
    if stem == "imagenet":
        return {"input_size": [3, 224, 224], "num_classes": num_classes, **FB_RESNET_IMAGENET}
    return {"input_size": [3, 32, 32], "num_classes": num_classes, **FB_RESNET_CIFAR}


def generic_data_config(input_size: Any, output_shape: tuple[int, ...] | None,
                        batch: int = 1) -> dict[str, Any]:
    """What is known of a generic model's data: the per-sample input size it was verified on and, when
    it outputs one vector per sample, the vector's length (its classes, for a classifier). A batch of
    one may come out as a plain vector: nn.View without setNumInputDims drops Torch7's batch of 1."""
    config: dict[str, Any] = {}
    if isinstance(input_size, tuple) and all(isinstance(s, int) for s in input_size):
        config["input_size"] = [int(s) for s in input_size]
    elif isinstance(input_size, (list, dict)):  # a Lua table input: the spec it was verified on
        config["input_table"] = _plain(input_size)
    if output_shape is not None:
        if len(output_shape) == 2 and output_shape[0] == batch:
            config["num_classes"] = int(output_shape[1])
        elif len(output_shape) == 1 and batch == 1:
            config["num_classes"] = int(output_shape[0])
    return config


def _plain(spec: Any) -> Any:
    """A table input spec as JSON-plain data (tuples become lists), as descriptions hold it."""
    if isinstance(spec, (list, tuple)):
        return [_plain(s) for s in spec]
    if isinstance(spec, dict):
        return {str(k): _plain(v) for k, v in spec.items()}
    return spec
