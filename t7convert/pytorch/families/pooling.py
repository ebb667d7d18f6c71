"""Max and average pooling with Torch7's output sizes: THNN drops a last window that starts in the padding
only when there is padding; cudnn.torch never does.

THNN's max starts from ``-THInf``, which for float is ``-FLT_MAX`` (TH's THGenerateFloatType.h), and
keeps a value only when it is ``>``: a window past the input (ceil mode without padding) or holding
only -inf gives ``-FLT_MAX``, so nn's max poolings are clamped there (``torch.finfo`` of the dtype).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.pytorch.families import builds_module


def _pool_size(size, k: int, d: int, p: int, ceil: bool, adjust: bool):
    """Torch7's output length, in integer arithmetic without a branch on ``size`` (a traced program holds
    for every size): ceil or floor of ``(size - k + 2p) / d``, plus one; with ``adjust``, the last window
    starts below ``size + p``."""
    span = size - k + 2 * p
    out = ((span + d - 1) // d if ceil else span // d) + 1  # (no negative numerator: ONNX divides toward 0)
    if adjust and ceil:
        out = torch.sym_min(out, (size + p - 1) // d + 1)
    return out


class Pool2d(nn.Module):
    """Max or average pooling with Torch7's output size.

    nn's THNN kernels drop a last window that would start in the padding only when there is padding;
    cudnn.torch never drops it; PyTorch always does. Where they differ, max pads the input on the
    bottom/right with -inf so that PyTorch computes Torch7's windows, and nn's average divides each
    window's sum by THNN's own count (:meth:`_thnn_average`).
    """

    def __init__(self, kind: str, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
                 ceil_mode: bool, count_include_pad: bool = True, divide: bool = True,
                 adjust_last_window: str = "if_padded") -> None:
        super().__init__()
        self.kind, self.kernel, self.stride, self.padding = kind, tuple(kernel), tuple(stride), tuple(padding)
        self.ceil_mode, self.count_include_pad, self.divide = ceil_mode, count_include_pad, divide
        self.adjust_last_window = adjust_last_window

    def _torch7_out(self, h: int, w: int) -> tuple[int, int]:
        padded = self.padding[0] > 0 or self.padding[1] > 0
        adjust = self.adjust_last_window == "always" or (self.adjust_last_window == "if_padded" and padded)
        return (_pool_size(h, self.kernel[0], self.stride[0], self.padding[0], self.ceil_mode, adjust),
                _pool_size(w, self.kernel[1], self.stride[1], self.padding[1], self.ceil_mode, adjust))

    def forward(self, x):
        y = self._pool(x)
        if self.kind == "max" and self.adjust_last_window == "if_padded":  # THNN: no value below -THInf
            y = y.clamp_min(-torch.finfo(y.dtype).max)
        return y

    def _pool(self, x):
        h, w = x.shape[-2:]
        if not self.ceil_mode:  # floor mode: every rule gives PyTorch's windows
            return self._plain(x, F.max_pool2d if self.kind == "max" else None)
        want = self._torch7_out(h, w)
        have = (_pool_size(h, self.kernel[0], self.stride[0], self.padding[0], True, True),
                _pool_size(w, self.kernel[1], self.stride[1], self.padding[1], True, True))
        if isinstance(h, int) and isinstance(w, int) and want == have:  # eager: PyTorch's own windows agree
            return self._plain(x, F.max_pool2d if self.kind == "max" else None)
        if self.kind != "max":
            if self.adjust_last_window != "if_padded":  # cudnn's divisor there is undocumented
                if want != have:
                    raise T7ConvertError(f"cudnn average pooling of a {h}x{w} input has a window outside the "
                                         "padded input, whose divisor cudnn does not document")
                return self._plain(x, None)
            return self._thnn_average(x, want)  # THNN's own divisors: right for every size
        # max: -inf rows and columns below and right so that floor mode visits Torch7's windows, whatever
        # the size (none are added where Torch7's and PyTorch's windows agree)
        (kh, kw), (dh, dw), (ph, pw) = self.kernel, self.stride, self.padding
        extra_h = torch.sym_max((want[0] - 1) * dh + kh - (h + 2 * ph), 0)
        extra_w = torch.sym_max((want[1] - 1) * dw + kw - (w + 2 * pw), 0)
        x = F.pad(x, (0, extra_w, 0, extra_h), value=-math.inf)
        y = F.max_pool2d(x, self.kernel, self.stride, self.padding, ceil_mode=False)
        return y[..., : want[0], : want[1]]

    def _plain(self, x, pool):
        if pool is not None:
            return pool(x, self.kernel, self.stride, self.padding, ceil_mode=self.ceil_mode)
        y = F.avg_pool2d(x, self.kernel, self.stride, self.padding, ceil_mode=self.ceil_mode,
                         count_include_pad=self.count_include_pad)
        return y if self.divide else y * (self.kernel[0] * self.kernel[1])

    def _thnn_average(self, x, want: tuple[int, int]):
        """SpatialAveragePooling.c where a window lies past the input (ceil mode without padding): the sum
        of what is inside the image over THNN's int divisor, ``(hend - hstart) * (wend - wstart)`` with
        ``hend = min(hstart + kH, H + padH)`` (then clipped to the image unless count_include_pad), which
        is 0 or negative there: NaN or -0 as THNN's float division gives."""
        (kh, kw), (dh, dw), (ph, pw) = self.kernel, self.stride, self.padding
        h, w = x.shape[-2:]
        extra_h = torch.sym_max((want[0] - 1) * dh + kh - (h + 2 * ph), 0)
        extra_w = torch.sym_max((want[1] - 1) * dw + kw - (w + 2 * pw), 0)
        padded = F.pad(x, (pw, pw + extra_w, ph, ph + extra_h))
        # window sums as mean times area (ONNX's AveragePool has no divisor_override: the exporter drops it)
        sums = F.avg_pool2d(padded, self.kernel, self.stride, 0)[..., : want[0], : want[1]] * (kh * kw)

        def counts(n: int, k: int, d: int, p: int, out: int):
            start = torch.arange(out, device=x.device) * d - p
            end = torch.clamp(start + k, max=n + p)
            if self.count_include_pad:
                return end - start
            return torch.clamp(end, max=n) - torch.clamp(start, min=0)

        divisor = counts(h, kh, dh, ph, want[0])[:, None] * counts(w, kw, dw, pw, want[1])[None, :]
        y = sums / divisor.to(sums.dtype)
        return y if self.divide else y * (kh * kw)

    def extra_repr(self) -> str:
        return (f"{self.kind}, kernel={self.kernel}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}")


builds_module("Pool2d", Pool2d)
