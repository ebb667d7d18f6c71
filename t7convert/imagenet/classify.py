"""Top-5 classes of single images, as fb.resnet.torch's ``pretrained/classify.lua`` reports them.

classify.lua runs ``Scale(256)``, ``ColorNormalize``, ``CenterCrop(224)`` on ``image.load(f, 3,
'float')``, appends a ``SoftMax`` to the model, and prints for each file::

    Classes for\tcat.jpg
    0.77302575111389\tEgyptian cat
    ...
    (blank line)

(Lua's ``print`` separates arguments with a tab and writes numbers with ``%.14g``; the file is
named as it was given on the command line.) :func:`format_like_classify_lua` reproduces that text.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence, Union

import torch

from t7convert.common.errors import T7ConvertError, printable
from t7convert.imagenet.datasets import IMAGE_EXTENSIONS, IMAGENET_CLASSES, imagenet_class_names
from t7convert.imagenet.evaluate import resolve_device, scores_of
from t7convert.imagenet.preprocess import load_image, val_transform

__all__ = ["Prediction", "Classification", "classify", "iter_classify", "format_like_classify_lua", "class_names_for"]

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Prediction:
    index: int          # 0-based output index (classify.lua's label index minus one)
    probability: float  # softmax output, float32 as the model computed it
    name: str


@dataclass(frozen=True)
class Classification:
    image: str          # as given
    predictions: list[Prediction]


def class_names_for(num_outputs: int) -> list[str]:
    """ImageNet names for a 1000-way model, ``class N`` otherwise (classify.lua knows only ImageNet)."""
    if num_outputs == IMAGENET_CLASSES:
        return imagenet_class_names()
    return [f"class {i}" for i in range(num_outputs)]


def classify(model: torch.nn.Module, images: Sequence[PathLike], *, top: int = 5,
             device: Optional[str] = None, interpolation: str = "torch7",
             class_names: Optional[Sequence[str]] = None) -> list[Classification]:
    """The ``top`` most probable classes of each image, best first (see :func:`iter_classify`)."""
    return list(iter_classify(model, images, top=top, device=device, interpolation=interpolation,
                              class_names=class_names))


def images_in(paths: Sequence[PathLike]) -> tuple[str, ...]:
    """The images to classify: each file as given, each folder's images (by extension, sorted, not
    recursive). A folder without any is an input error."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(os.path.join(p, n) for n in os.listdir(p)
                           if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS and not n.startswith(".")
                           and os.path.isfile(os.path.join(p, n)))
            if not found:
                raise T7ConvertError(f"{p}: a folder without images (.jpg, .jpeg, .png, .ppm, .bmp)")
            out.extend(found)
        else:
            out.append(str(p))
    return tuple(out)


def iter_classify(model: torch.nn.Module, images: Sequence[PathLike], *, top: int = 5,
                  device: Optional[str] = None, interpolation: str = "torch7",
                  class_names: Optional[Sequence[str]] = None,
                  on_unreadable: Optional[Callable[[str, T7ConvertError], None]] = None) -> Iterator[Classification]:
    """Each image's ``top`` most probable classes as soon as it is classified, as classify.lua prints.

    An image that cannot be read raises :class:`t7convert.T7ConvertError` naming the file, after the
    images before it were given; with ``on_unreadable``, it is told instead and the others go on (the
    command lists the broken ones and exits 2 at the end).
    """
    if top < 1:
        raise T7ConvertError(f"top must be at least 1, got {top}")
    dev = resolve_device(device)
    transform = transform_for(model, interpolation=interpolation)
    model = model.to(dev).eval()
    with torch.inference_mode():
        for image in images:
            try:
                batch = transform(load_image(image)).unsqueeze(0).to(dev)
            except T7ConvertError as e:
                if on_unreadable is None:
                    raise
                on_unreadable(str(image), e)
                continue
            probabilities = torch.softmax(scores_of(model(batch)).float(), dim=1)[0].cpu()
            names = list(class_names) if class_names is not None else class_names_for(probabilities.numel())
            if len(names) != probabilities.numel():
                raise T7ConvertError(f"{len(names)} class names for a model with {probabilities.numel()} outputs")
            values, indices = probabilities.topk(min(top, probabilities.numel()))
            yield Classification(str(image), [
                Prediction(int(i), float(p), names[int(i)]) for p, i in zip(values, indices)])


def transform_for(model: torch.nn.Module, *, ten_crop: bool = False, interpolation: str = "torch7"):
    """fb.resnet.torch's validation transform at the size of the images ``model`` takes (its
    ``data_config["input"]``: 3x224x224 for ImageNet trunks, 3x32x32 for CIFAR, resize scaled as 256
    is to 224 unless the config says), normalised as its config says; a model that takes no 3-channel
    square images is refused in one line naming what it takes. A module without a data config (not
    from t7convert) gets the ImageNet transform."""
    config = getattr(model, "data_config", None) or {}
    spec = config.get("input")
    if spec is None:
        return val_transform(ten_crop=ten_crop, interpolation=interpolation)
    if (spec.is_table or spec.is_index or len(spec.shape) != 3 or spec.shape[0] != 3
            or spec.shape[1] != spec.shape[2] or spec.batched is False):
        raise T7ConvertError(f"this model takes {spec.describe()}, not 3-channel images")
    size = int(spec.shape[1])
    resize = int(config.get("resize", round(size * 256 / 224)))
    return val_transform(ten_crop=ten_crop, interpolation=interpolation, resize=resize, crop=size,
                         mean=config.get("mean"), std=config.get("std"))


def format_like_classify_lua(results: Sequence[Classification]) -> str:
    """The text classify.lua prints for these results."""
    lines = []
    for result in results:
        lines.append(f"Classes for\t{printable(result.image)}")
        lines.extend(f"{p.probability:.14g}\t{p.name}" for p in result.predictions)
        lines.append("")
    return "\n".join(lines) + ("\n" if lines else "")
