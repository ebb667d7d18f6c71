"""The data a converted model expects, stored in its description the way timm's ``pretrained_cfg`` is:
input size, and for fb.resnet.torch's models the normalisation and resize they were trained with.

A loaded module carries it as ``module.data_config``, so a user knows what to feed a converted file
without the Torch7 training code at hand.
"""
from __future__ import annotations

from typing import Any

from t7convert.conversion.input_spec import InputSpec, InputSpecError, from_hint

#: fb.resnet.torch's ImageNet normalisation (datasets/imagenet.lua meanstd) and resize (image.scale,
#: bicubic, shorter side 256, centre crop 224): what `t7convert evaluate` reproduces.
FB_RESNET_IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                      "interpolation": "torch7-bicubic", "resize": 256, "crop": 224}
#: fb.resnet.torch's CIFAR-10 normalisation (datasets/cifar10.lua meanstd, on 0..255 pixels).
FB_RESNET_CIFAR = {"mean": [125.3 / 255, 123.0 / 255, 113.9 / 255], "std": [63.0 / 255, 62.1 / 255, 66.7 / 255]}


def canonical_data_config(stem: str, num_classes: int) -> dict[str, Any]:
    """An fb.resnet.torch ResNet's data: 3x224x224 ImageNet or 3x32x32 CIFAR input, its normalisation."""
    if stem == "imagenet":
        return {"input_size": [3, 224, 224], "input": InputSpec.tensor(3, 224, 224).to_json(),
                "num_classes": num_classes, **FB_RESNET_IMAGENET}
    return {"input_size": [3, 32, 32], "input": InputSpec.tensor(3, 32, 32).to_json(), "num_classes": num_classes,
            **FB_RESNET_CIFAR}


def generic_data_config(spec: InputSpec, output_shape: tuple[int, ...] | None,
                        batch: int = 1) -> dict[str, Any]:
    """What is known of a generic model's data: the input it was verified on (``input``: an
    :class:`InputSpec`'s JSON; ``input_size`` too for a batch of float tensors, as older files had it)
    and, when it outputs one vector per sample, the vector's length (its classes, for a classifier). A
    batch of one may come out as a plain vector: nn.View without setNumInputDims drops Torch7's batch of 1."""
    config: dict[str, Any] = {"input": spec.to_json()}
    if not spec.is_table and not spec.is_index and spec.batched and spec.dtype == "float32":
        config["input_size"] = [int(s) for s in spec.shape]
    if output_shape is not None:
        if len(output_shape) == 2 and output_shape[0] == batch and spec.batched:
            config["num_classes"] = int(output_shape[1])
        elif len(output_shape) == 1 and batch == 1:
            config["num_classes"] = int(output_shape[0])
    return config


def input_of_config(config: dict[str, Any]) -> InputSpec | None:
    """The input a stored data config describes: ``input`` (this version), else what files of earlier
    versions stored (``input_size``: a batched sample's shape; ``input_table``: a table hint); None
    when it says nothing or cannot be read."""
    try:
        if isinstance(config.get("input"), dict):
            return InputSpec.from_json(config["input"])
        size = config.get("input_size")
        if isinstance(size, list) and size and all(type(s) is int and s > 0 for s in size):
            return InputSpec(tuple(size), True)
        table = config.get("input_table")
        if isinstance(table, list):
            return from_hint(_hint(table))
    except (InputSpecError, TypeError, ValueError):
        return None
    return None


def _hint(value: Any) -> Any:
    """A stored table hint (JSON: lists for tuples) back in the families' hint form."""
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return tuple(value)
    if isinstance(value, list):
        return [_hint(v) for v in value]
    return value
