"""Torch7's ``image.scale(src, width, height, 'bicubic')``, reproduced operation for operation.

fb.resnet.torch resized every validation image with this function, and neither PIL's bicubic nor
``torch.nn.functional.interpolate`` reproduces it (differences reach 0.3 to 1.4 in normalised units).
Reading torch/image ``generic/image.c`` (``scaleBicubic`` and ``scaleCubic_rowcol``) shows why:

* Coordinate mapping: output pixel ``d`` samples the source at ``d * (src-1)/(dst-1)``: the corners
  are aligned and the last output pixel is a plain copy of the last source pixel. PIL and
  ``interpolate(align_corners=False)`` sample at half-pixel centres ``(d + 0.5) * src/dst - 0.5``.
* Kernel: Catmull-Rom (cubic convolution with a = -0.5), evaluated as a polynomial in the fraction
  (``p1 + 0.5*x*(a1 + x*(a2 + x*a3))``); ``interpolate`` uses a = -0.75.
* No antialiasing: when shrinking it still point-samples four neighbours, while PIL widens its
  kernel by the scale factor. Downscaled images therefore differ the most.
* Borders: a missing neighbour is linearly extrapolated (``p0 = 2*p1 - p2``, ``p3 = 2*p2 - p1``)
  instead of clamped (``interpolate``) or dropped and renormalised (PIL).
* Separable, rows first: the width is resampled into a float32 intermediate, then the height.
* Float images are neither rounded nor clamped (only byte images go through ``+0.5`` and [0, 255]),
  so results may overshoot [0, 1] exactly as they did in Torch7.

The arithmetic follows the C code's precision too: positions and the polynomial's coefficients in
float32, the final ``0.5 * x * (...)`` product and sum in double (``0.5`` is a double literal), the
result stored as float32. With that, the output equals Torch7's bit for bit in our measurements.
Everything is vectorised over whole rows/columns: four gathers and a few elementwise ops per pass.
"""
from __future__ import annotations

import torch

__all__ = ["scale_bicubic"]


def _source_positions(src_len: int, dst_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer source index and fraction for output pixels ``0 .. dst_len-2``, in Torch7's float32."""
    src_minus_1 = torch.tensor(float(src_len - 1), dtype=torch.float32)
    if dst_len == 1:
        step = src_minus_1
    else:
        step = src_minus_1 / torch.tensor(float(dst_len - 1), dtype=torch.float32)
    position = torch.arange(dst_len - 1, dtype=torch.float32) * step
    index = position.to(torch.int64)  # C's (long) cast: truncation, positions are >= 0
    # Guard against reading past the end; Torch7 would read out of bounds here, which the float32
    # step keeps from happening for any size we have met.
    index = index.clamp(max=src_len - 2)
    fraction = position - index.to(torch.float32)
    return index, fraction


def _resample_rows(src: torch.Tensor, dst_len: int) -> torch.Tensor:
    """``scaleCubic_rowcol`` along dim -2 of a ``... x n x m`` tensor: all ``m`` lines at once.

    Works on rows (dim -2) because gathering whole contiguous rows is fast; the caller transposes
    for the other direction. In-place steps keep Torch7's operands and order, so the same roundings.
    """
    src_len = src.shape[-2]
    if dst_len == src_len:
        return src.clone()
    if src_len == 1:
        # Torch7 copies the single pixel to all but the last output (which it leaves uninitialised);
        # we copy it everywhere.
        return src.expand(*src.shape[:-2], dst_len, src.shape[-1]).clone()

    index, fraction = _source_positions(src_len, dst_len)
    x = fraction.view(-1, 1)
    p1 = src.index_select(-2, index)
    p2 = src.index_select(-2, index + 1)
    p0 = src.index_select(-2, (index - 1).clamp(min=0))
    p3 = src.index_select(-2, (index + 2).clamp(max=src_len - 1))
    # A missing neighbour is extrapolated; only the first and last few outputs lack one.
    no_left = torch.nonzero(index == 0).flatten()
    if no_left.numel():
        p0[..., no_left, :] = 2 * p1[..., no_left, :] - p2[..., no_left, :]
    no_right = torch.nonzero(index + 2 >= src_len).flatten()
    if no_right.numel():
        p3[..., no_right, :] = 2 * p2[..., no_right, :] - p1[..., no_right, :]

    # Main_cubicInterpolate, same operands and order, float32:
    #   a1 = p2 - p0;  a2 = 2*p0 - 5*p1 + 4*p2 - p3;  a3 = 3*(p1 - p2) + p3 - p0
    #   inner = a1 + x*(a2 + x*a3)
    a1 = p2 - p0
    a2 = 2 * p0
    a2 -= 5 * p1
    a2 += 4 * p2
    a2 -= p3
    inner = p1 - p2
    inner *= 3
    inner += p3
    inner -= p0          # a3
    inner *= x
    inner += a2
    inner *= x
    inner += a1
    # ... and then p1 + 0.5*x*inner in double (0.5 is a double literal), stored as float32.
    value = inner.double()
    value *= 0.5 * x.double()
    value += p1

    out = torch.empty(*src.shape[:-2], dst_len, src.shape[-1], dtype=torch.float32)
    out[..., :-1, :] = value           # rounds to float32
    out[..., -1, :] = src[..., -1, :]  # the last output copies the last source pixel
    return out


def scale_bicubic(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Resize a ``C x H x W`` (or ``H x W``) float image to ``height x width`` as Torch7 did.

    ``width``/``height`` must already be integers (Torch7 truncates fractional sizes when it
    allocates the destination; :func:`t7convert.preprocess.transforms.scale_shorter_side` does that).
    """
    if image.dim() not in (2, 3):
        raise ValueError(f"image.scale takes a 2 or 3 dimensional image, got shape {tuple(image.shape)}")
    if width < 1 or height < 1:
        raise ValueError(f"destination size must be at least 1x1, got {width}x{height}")
    planes = image.to(torch.float32)
    planes = planes if planes.dim() == 3 else planes.unsqueeze(0)
    out = torch.empty(planes.shape[0], int(height), int(width), dtype=torch.float32)
    # One channel at a time, as Torch7 did: the working set then stays in cache (several times
    # faster on large images than processing the three channels together).
    for k, plane in enumerate(planes):
        # Torch7 scales rows (the width) first. Gathering whole rows is much faster than gathering
        # columns, so the width pass runs on the transposed plane; the arithmetic is elementwise,
        # so the values are the same.
        rows_done = _resample_rows(plane.t().contiguous(), int(width)).t().contiguous()
        out[k] = _resample_rows(rows_done, int(height))
    return out if image.dim() == 3 else out[0]
