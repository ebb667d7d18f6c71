"""fb.resnet.torch's validation transform: ``Scale(256)``, ``ColorNormalize``, ``CenterCrop``/``TenCrop(224)``.

Each step mirrors ``datasets/transforms.lua`` (fb.resnet.torch), including the details that decide
which pixels end up in the crop: how the longer side's length is computed and truncated, the
``ceil`` in the centre offsets, and the order of the ten crops. ``interpolation="pil"`` swaps
Torch7's bicubic for Pillow's, for measuring how much the resize alone changes a model's accuracy.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from t7convert.imagenet.preprocess.bicubic import scale_bicubic

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "INTERPOLATIONS", "scaled_size", "scale_shorter_side",
           "color_normalize", "center_crop", "ten_crop", "ValTransform", "val_transform"]

# datasets/imagenet.lua: "Computed from random subset of ImageNet training images"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("torch7", "pil")


def scaled_size(width: int, height: int, size: int) -> tuple[int, int] | None:
    """(width, height) that ``Scale(size)`` resizes to, or None when it returns the image unchanged.

    The shorter side becomes ``size``; the longer is ``longer/shorter*size`` computed in double
    precision in Lua's order and truncated when Torch7 allocates the destination tensor.
    """
    if (width <= height and width == size) or (height <= width and height == size):
        return None
    if width < height:
        return size, max(int(height / width * size), 1)
    return max(int(width / height * size), 1), size


def _scale_with_pil(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Pillow's bicubic on each float channel (mode "F"): what a straightforward port would use."""
    channels = []
    for channel in image.numpy():
        resized = Image.fromarray(np.ascontiguousarray(channel, dtype=np.float32), mode="F").resize(
            (width, height), Image.Resampling.BICUBIC)
        channels.append(np.asarray(resized, dtype=np.float32))
    return torch.from_numpy(np.stack(channels))


def scale_shorter_side(image: torch.Tensor, size: int = 256, interpolation: str = "torch7") -> torch.Tensor:
    """``Scale(size)``: resize a ``3 x H x W`` image so that its shorter side is ``size``."""
    _check_interpolation(interpolation)
    target = scaled_size(image.shape[-1], image.shape[-2], size)
    if target is None:
        return image
    width, height = target
    if interpolation == "pil":
        return _scale_with_pil(image, width, height)
    return scale_bicubic(image, width, height)


def color_normalize(image: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                    std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """``ColorNormalize``: per channel ``(x + (-mean)) / std`` in float32, as ``add``/``div`` did."""
    mean_t = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)  # broadcasts over C x H x W
    std_t = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)    # and over N x C x H x W
    # A tensor divisor keeps this a true division (Torch7's), never a multiplication by 1/std.
    return (image + (-mean_t)) / std_t


def _crop(image: torch.Tensor, x1: int, y1: int, size: int) -> torch.Tensor:
    """``image.crop(img, x1, y1, x1 + size, y1 + size)``: 0-based, end exclusive."""
    height, width = image.shape[-2:]
    if x1 < 0 or y1 < 0 or x1 + size > width or y1 + size > height:
        raise ValueError(f"a {size}x{size} crop at ({x1}, {y1}) does not fit a {width}x{height} image")
    return image[..., y1:y1 + size, x1:x1 + size]


def center_crop(image: torch.Tensor, size: int = 224) -> torch.Tensor:
    """``CenterCrop(size)``: offsets ``ceil((side - size) / 2)``, so odd margins put the extra pixel first."""
    height, width = image.shape[-2:]
    return _crop(image, math.ceil((width - size) / 2), math.ceil((height - size) / 2), size)


def ten_crop(image: torch.Tensor, size: int = 224) -> torch.Tensor:
    """``TenCrop(size)`` as a ``10 x C x size x size`` batch.

    Order: centre, top-left, top-right, bottom-left, bottom-right, then the same five of the
    horizontally flipped image. fb.resnet.torch sums the model's outputs over the ten.
    """
    height, width = image.shape[-2:]
    crops = []
    for img in (image, torch.flip(image, dims=[-1])):
        crops.append(center_crop(img, size))
        crops.append(_crop(img, 0, 0, size))
        crops.append(_crop(img, width - size, 0, size))
        crops.append(_crop(img, 0, height - size, size))
        crops.append(_crop(img, width - size, height - size, size))
    return torch.stack(crops)


def _check_interpolation(interpolation: str) -> None:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, not {interpolation!r}")


class ValTransform:
    """The validation transform as a picklable callable (DataLoader workers receive a copy).

    Crops before normalising: both are per pixel, so the values are identical to Torch7's
    normalise-then-crop, and ten-crop or centre-crop normalises fewer pixels.
    """

    def __init__(self, ten_crop: bool = False, interpolation: str = "torch7", scale_size: int = 256,
                 crop_size: int = 224, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> None:
        _check_interpolation(interpolation)
        self.ten_crop = ten_crop
        self.interpolation = interpolation
        self.scale_size = scale_size
        self.crop_size = crop_size
        self.mean = tuple(mean) if mean is not None else IMAGENET_MEAN
        self.std = tuple(std) if std is not None else IMAGENET_STD

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a 3 x H x W image, got shape {tuple(image.shape)}")
        scaled = scale_shorter_side(image, self.scale_size, self.interpolation)
        cropped = ten_crop(scaled, self.crop_size) if self.ten_crop else center_crop(scaled, self.crop_size)
        return color_normalize(cropped, self.mean, self.std).contiguous()

    def __repr__(self) -> str:
        crop = f"TenCrop({self.crop_size})" if self.ten_crop else f"CenterCrop({self.crop_size})"
        return (f"ValTransform(Scale({self.scale_size}, {self.interpolation}), ColorNormalize, {crop})")


def val_transform(ten_crop: bool = False, interpolation: str = "torch7", *, resize: int = 256, crop: int = 224,
                  mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> ValTransform:
    """fb.resnet.torch's validation transform: image from :func:`load_image` to ``3x224x224``
    (``10x3x224x224`` with ``ten_crop``), normalised; ``resize``/``crop``/``mean``/``std`` scale it to
    another model's data config (a CIFAR model's 3x32x32)."""
    return ValTransform(ten_crop=ten_crop, interpolation=interpolation, scale_size=resize, crop_size=crop,
                        mean=mean, std=std)
