"""Torch7's ``image.scale`` bicubic and fb.resnet.torch's crops on a batch, on any torch device.

:mod:`t7convert.imagenet.preprocess.bicubic` reproduces ``scaleCubic_rowcol`` operation for
operation, one image at a time on the CPU: exact, but 3 to 4 ms per photo, too slow to feed a GPU.
The same resampling is linear in the pixels, so each pass is a matrix product: output pixel ``d``
of a line is ``sum_k w_k(x) * src[i + k - 1]`` with Torch7's source position ``d * (src-1)/(dst-1)``
split into ``i`` and ``x`` in float32 (the shared :func:`bicubic._source_positions`), the
Catmull-Rom weights of ``Main_cubicInterpolate`` expanded from its polynomial, the border's linear
extrapolation (``p0 = 2*p1 - p2``, ``p3 = 2*p2 - p1``) folded into the weights of ``p1``/``p2``, and
the last output a copy of the last source pixel. A ``dst x src`` matrix per direction, built once
per input size (cached), applies it to a whole batch of same-sized images with two batched matmuls,
width first as Torch7 did.

The values differ from the operation-for-operation version only by float32 rounding of the sums
(measured below 2e-6 in normalised units on the shared fixtures). The matmuls must therefore run in
true float32: TF32 (CUDA's default for convolutions and an option for matmuls) is switched off
around them.

Cropping commutes with resizing (every output pixel is its own row of the matrix), so a centre crop
keeps only the 224 rows of each matrix it needs: the resize then computes only the pixels the model
sees.
"""
from __future__ import annotations

import contextlib
import functools
import math
from typing import Iterator, Sequence

import torch

from t7convert.imagenet.preprocess.bicubic import _source_positions
from t7convert.imagenet.preprocess.transforms import IMAGENET_MEAN, IMAGENET_STD, scaled_size

__all__ = ["interpolation_matrix", "scale_bicubic_batch", "center_crop_batch", "ten_crop_batch",
           "color_normalize_batch", "val_transform_batch"]


@functools.lru_cache(maxsize=256)
def _matrix_cpu(src_len: int, dst_len: int, start: int | None = None, stop: int | None = None) -> torch.Tensor:
    """Rows ``start:stop`` of the ``dst_len x src_len`` float64 weights of ``scaleCubic_rowcol`` (torch/image
    ``generic/image.c``). Only those rows are made: a crop of 224 out of a 5,120,000-pixel-long resize
    (a 20000x1 image scaled to a shorter side of 256) is 224 rows, never the 819 GB of all of them."""
    first, last, _ = slice(start, stop).indices(dst_len)
    last = max(first, last)
    if dst_len == src_len:  # Torch7 copies the line
        matrix = torch.zeros(last - first, src_len, dtype=torch.float64)
        matrix[torch.arange(last - first), torch.arange(first, last)] = 1.0
        return matrix
    if src_len == 1:
        return torch.ones(last - first, 1, dtype=torch.float64)  # the single pixel everywhere
    matrix = torch.zeros(last - first, src_len, dtype=torch.float64)
    index, fraction = _source_positions(src_len, dst_len)  # outputs 0 .. dst_len-2, float32 positions
    index, fraction = index[first:min(last, dst_len - 1)], fraction[first:min(last, dst_len - 1)]
    x = fraction.double()
    # p1 + 0.5*x*(a1 + x*(a2 + x*a3)) with a1 = p2-p0, a2 = 2p0-5p1+4p2-p3, a3 = 3(p1-p2)+p3-p0,
    # collected per neighbour:
    weights = [0.5 * (-x + 2 * x ** 2 - x ** 3),
               1 + 0.5 * (-5 * x ** 2 + 3 * x ** 3),
               0.5 * (x + 4 * x ** 2 - 3 * x ** 3),
               0.5 * (-x ** 2 + x ** 3)]
    no_left = index == 0                 # p0 = 2*p1 - p2
    weights[1] = weights[1] + torch.where(no_left, 2 * weights[0], 0)
    weights[2] = weights[2] - torch.where(no_left, weights[0], 0)
    weights[0] = torch.where(no_left, 0, weights[0])
    no_right = index + 2 >= src_len      # p3 = 2*p2 - p1
    weights[2] = weights[2] + torch.where(no_right, 2 * weights[3], 0)
    weights[1] = weights[1] - torch.where(no_right, weights[3], 0)
    weights[3] = torch.where(no_right, 0, weights[3])
    rows = torch.arange(index.numel())
    for k, weight in enumerate(weights):
        columns = (index + k - 1).clamp(0, src_len - 1)  # clamped columns carry weight 0
        matrix.index_put_((rows, columns), weight, accumulate=True)
    if first <= dst_len - 1 < last:
        matrix[-1, -1] = 1.0  # the last output copies the last source pixel
    return matrix


def interpolation_matrix(src_len: int, dst_len: int, rows: slice = slice(None),
                         device: torch.device | str = "cpu") -> torch.Tensor:
    """The float32 ``dst x src`` matrix of one direction of Torch7's bicubic (``rows`` of it), on ``device``."""
    return _device_matrix(src_len, dst_len, rows.start, rows.stop, str(device))


@functools.lru_cache(maxsize=1024)
def _device_matrix(src_len: int, dst_len: int, start: int | None, stop: int | None, device: str) -> torch.Tensor:
    return _matrix_cpu(src_len, dst_len, start, stop).to(torch.float32).to(device).contiguous()


@contextlib.contextmanager
def _true_float32(device: torch.device) -> Iterator[None]:
    """TF32 off for the resize matmuls: it keeps 10 mantissa bits, far from Torch7's float32."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


def _resize(images: torch.Tensor, width: int, height: int, rows: slice, columns: slice) -> torch.Tensor:
    """``N x C x H x W`` float32 to the ``rows x columns`` window of the ``height x width`` bicubic image."""
    src_h, src_w = images.shape[-2:]
    to_columns = interpolation_matrix(src_w, width, columns, images.device).t()
    to_rows = interpolation_matrix(src_h, height, rows, images.device)
    with _true_float32(images.device):
        return to_rows @ (images @ to_columns)  # width first, as Torch7's scaleBicubic


def scale_bicubic_batch(images: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """``image.scale(img, width, height, 'bicubic')`` for every image of an ``N x C x H x W`` batch."""
    if images.dim() != 4:
        raise ValueError(f"expected an N x C x H x W batch, got shape {tuple(images.shape)}")
    if width < 1 or height < 1:
        raise ValueError(f"destination size must be at least 1x1, got {width}x{height}")
    return _resize(images.to(torch.float32), int(width), int(height), slice(None), slice(None))


def _centre_offset(side: int, size: int) -> int:
    if side < size:
        raise ValueError(f"a {size}x{size} crop does not fit a side of {side} pixels")
    return math.ceil((side - size) / 2)  # CenterCrop: the odd pixel of margin goes first


def center_crop_batch(images: torch.Tensor, size: int = 224) -> torch.Tensor:
    """``CenterCrop(size)`` of every image of a ``... x H x W`` batch."""
    height, width = images.shape[-2:]
    y, x = _centre_offset(height, size), _centre_offset(width, size)
    return images[..., y:y + size, x:x + size]


def ten_crop_batch(images: torch.Tensor, size: int = 224) -> torch.Tensor:
    """``TenCrop(size)``: ``N x 10 x C x size x size`` in fb.resnet.torch's order (centre, top-left,
    top-right, bottom-left, bottom-right, then the same five of the horizontally flipped image)."""
    height, width = images.shape[-2:]
    _centre_offset(height, size), _centre_offset(width, size)  # both sides must hold a crop
    crops = []
    for img in (images, torch.flip(images, dims=[-1])):
        crops.append(center_crop_batch(img, size))
        for y, x in ((0, 0), (0, width - size), (height - size, 0), (height - size, width - size)):
            crops.append(img[..., y:y + size, x:x + size])
    return torch.stack(crops, dim=1)


def _ten_crops_scaled(images: torch.Tensor, width: int, height: int, size: int) -> torch.Tensor:
    """``ten_crop_batch`` of the images scaled to ``width x height``, each crop resized on its own from
    the matrix rows it needs: a 16384-pixel-long scaled side is never made whole. A crop of the flipped
    image at ``x`` is the flipped crop of the image at ``width - size - x``."""
    cy, cx = _centre_offset(height, size), _centre_offset(width, size)
    done: dict[tuple[int, int], torch.Tensor] = {}

    def crop(y: int, x: int) -> torch.Tensor:
        if (y, x) not in done:
            done[(y, x)] = _resize(images, width, height, slice(y, y + size), slice(x, x + size))
        return done[(y, x)]

    places = [(cy, cx), (0, 0), (0, width - size), (height - size, 0), (height - size, width - size)]
    crops = [crop(y, x) for y, x in places]
    crops += [torch.flip(crop(y, width - size - x), dims=[-1]) for y, x in places]
    return torch.stack(crops, dim=1)


def color_normalize_batch(images: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                          std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """``ColorNormalize``: ``(x + (-mean)) / std`` per channel (the third-last dimension), in float32."""
    mean_t = torch.tensor(mean, dtype=torch.float32, device=images.device).view(-1, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32, device=images.device).view(-1, 1, 1)
    return (images + (-mean_t)) / std_t  # a true division, as Torch7's div


def val_transform_batch(images: torch.Tensor, ten_crop: bool = False, scale_size: int = 256,
                        crop_size: int = 224) -> torch.Tensor:
    """fb.resnet.torch's validation transform of same-sized ``N x 3 x H x W`` float images.

    ``N x 3 x 224 x 224`` normalised crops (``N x 10 x 3 x 224 x 224`` with ``ten_crop``), equal to
    :class:`t7convert.imagenet.preprocess.ValTransform` image by image up to float32 rounding.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected an N x 3 x H x W batch, got shape {tuple(images.shape)}")
    images = images.to(torch.float32)
    height, width = images.shape[-2:]
    target = scaled_size(width, height, scale_size)
    out_w, out_h = (width, height) if target is None else target
    if ten_crop:
        crops = ten_crop_batch(images, crop_size) if target is None else \
            _ten_crops_scaled(images, out_w, out_h, crop_size)
        return color_normalize_batch(crops).contiguous()
    y, x = _centre_offset(out_h, crop_size), _centre_offset(out_w, crop_size)
    rows, columns = slice(y, y + crop_size), slice(x, x + crop_size)
    if target is None:
        cropped = images[..., rows, columns]
    else:
        cropped = _resize(images, out_w, out_h, rows, columns)  # only the rows and columns kept
    return color_normalize_batch(cropped).contiguous()
