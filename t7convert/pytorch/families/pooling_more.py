"""THNN's other poolings as torch modules: dilated and volumetric max pooling (with the windows THNN
really visits), max unpooling, fractional max pooling on the file's fixed samples, adaptive pooling
with THNN's float32 bin edges, temporal max and dynamic k-max pooling, feature LP pooling.

Max pooling is computed separably: for each axis a table of the input positions each output window
visits (an out-of-range position points at one appended -inf slot), then ``index_select`` and a max
per axis; the max over a product of per-axis sets is the iterated max. This reproduces THNN's output
sizes (ceil mode included), windows that lie wholly in the padding (-inf) and its window rules, which
PyTorch's pooling kernels do not all share. THNN's maxima start from ``-THInf`` (``-FLT_MAX`` for
float) and only a value ``>`` it wins, so no max pooling here gives less than ``-finfo.max`` (an
empty window, or one of -inf only); SpatialAdaptiveMaxPooling starts from ``-FLT_MAX`` in any type.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.fields import MAX_LOOP
from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds, builds_module


def _floor_at_thinf(y: torch.Tensor) -> torch.Tensor:
    """THNN's ``maxval = -THInf`` start: nothing below ``-finfo(dtype).max``."""
    return y.clamp_min(-torch.finfo(y.dtype).max)


def thnn_out(size, k: int, d: int, p: int, dil: int, ceil: bool, padded: bool):
    """THNN's output length: ``floor_or_ceil((size - (dil*(k-1)+1) + 2p) / d) + 1``, one fewer when
    there is padding and the last window would start at or beyond ``size + p`` (the last start
    ``(out-1)*d`` is kept below ``size + p``). Integer arithmetic without a branch on ``size``, so that
    a traced program (torch.export) holds for every size."""
    span = size - (dil * (k - 1) + 1) + 2 * p
    out = ((span + d - 1) // d if ceil else span // d) + 1  # (no negative numerator: ONNX divides toward 0)
    if padded:
        out = torch.sym_min(out, (size + p - 1) // d + 1)
    return out


def tap_table(size, k: int, d: int, p: int, dil: int, out, rule: str, device=None) -> torch.Tensor:
    """(out, k) input positions window ``o`` visits along one axis; ``size`` marks no position.

    ``rule`` "spatial" (SpatialDilatedMaxPooling.c): the dilated taps of ``[o*d - p, ...)`` that fall
    inside the input. "volumetric" (VolumetricDilatedMaxPooling.c): a window starting at ``s < 0``
    keeps only ``k + s`` taps from the first dilated position >= 0 (fewer than the inside taps when
    dilation > 1 and -s > 1). Either way the kept taps are a prefix of the row, from the first dilated
    position >= 0; computed with tensor arithmetic (no branch on ``size``).
    """
    s = torch.arange(out, device=device)[:, None] * d - p
    z = torch.arange(k, device=device)[None, :]
    first = torch.where(s < 0, s + (-s + dil - 1) // dil * dil, s)  # the first dilated position >= 0
    pos = first + z * dil
    if rule == "spatial":
        keep = (pos < s + (k - 1) * dil + 1) & (pos < size)
    else:
        keep = (z < k + torch.clamp(s, max=0)) & (pos < size)
    return torch.where(keep, pos, torch.full_like(pos, size))


class MaxPoolTHNN(nn.Module):
    """Max pooling over the last 2 (H, W) or 3 (T, H, W) dimensions with THNN's sizes and windows."""

    def __init__(self, kernel: list[int], stride: list[int], padding: list[int], dilation: list[int],
                 ceil_mode: bool, rule: str) -> None:
        super().__init__()
        self.kernel, self.stride, self.padding, self.dilation = kernel, stride, padding, dilation
        self.ceil_mode, self.rule = ceil_mode, rule

    def geometry(self, x: torch.Tensor) -> tuple[list[int], list[torch.Tensor]]:
        nd = len(self.kernel)
        if x.dim() not in (nd + 1, nd + 2):
            raise T7ConvertError(f"{nd}-D max pooling expects a {nd + 1}D or {nd + 2}D input, got {tuple(x.shape)}")
        sizes = list(x.shape[-nd:])
        padded = any(self.padding)
        outs = [thnn_out(n, k, d, p, dl, self.ceil_mode, padded)
                for n, k, d, p, dl in zip(sizes, self.kernel, self.stride, self.padding, self.dilation)]
        def empty() -> str:
            return f"max pooling of a {'x'.join(map(str, sizes))} input gives an empty output"
        for o in outs:
            torch._check_with(T7ConvertError, o >= 1, empty)  # a runtime assertion when traced
        tables = [tap_table(n, k, d, p, dl, o, self.rule, x.device)
                  for n, k, d, p, dl, o in zip(sizes, self.kernel, self.stride, self.padding, self.dilation, outs)]
        return outs, tables

    def forward(self, x):
        outs, tables = self.geometry(x)
        nd = len(self.kernel)
        y = F.pad(x, (0, 1) * nd, value=-math.inf)
        for i, (o, t) in enumerate(zip(outs, tables)):
            dim = x.dim() - nd + i
            y = y.index_select(dim, t.reshape(-1)).unflatten(dim, (o, t.shape[1])).amax(dim + 1)
        return _floor_at_thinf(y)

    def argmax(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(max, flat position in the input plane of the first maximum in THNN's scan order)."""
        outs, tables = self.geometry(x)
        nd, base = len(self.kernel), x.dim() - len(self.kernel)
        y = F.pad(x, (0, 1) * nd, value=-math.inf)
        for i, (o, t) in enumerate(zip(outs, tables)):
            y = y.index_select(base + 2 * i, t.reshape(-1)).unflatten(base + 2 * i, (o, t.shape[1]))
        order = list(range(base)) + [base + 2 * i for i in range(nd)] + [base + 2 * i + 1 for i in range(nd)]
        windows = y.permute(order).flatten(-nd)
        best, arg = windows.max(-1)  # the first maximum: THNN's strict `>` in scan order
        best = _floor_at_thinf(best)
        flat = torch.zeros_like(arg)
        sizes = list(x.shape[-nd:])
        rest = arg
        for i in reversed(range(nd)):
            k = tables[i].shape[1]
            tap, rest = rest % k, rest // k
            window = torch.arange(outs[i], device=x.device).view([outs[i] if j == i else 1 for j in range(nd)])
            flat = flat + tables[i][window, tap] * math.prod(sizes[i + 1:])
        return best, flat

    def extra_repr(self) -> str:
        return (f"kernel={self.kernel}, stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"ceil_mode={self.ceil_mode}")


class AvgPool3d(nn.Module):
    """``nn.VolumetricAveragePooling``: THNN is called with padding 0, floor mode and the padding
    counted, so it is PyTorch's plain ``avg_pool3d`` over whole windows."""

    def __init__(self, kernel: list[int], stride: list[int]) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        if x.dim() not in (4, 5) or any(n < k for n, k in zip(x.shape[-3:], self.kernel)):
            raise T7ConvertError(f"nn.VolumetricAveragePooling{tuple(self.kernel)} expects a 4D or 5D input at least "
                                 f"as large as its kernel, got {tuple(x.shape)}")
        return F.avg_pool3d(x, self.kernel, self.stride)


class MaxUnpoolTHNN(nn.Module):
    """``nn.SpatialMaxUnpooling`` / ``nn.VolumetricMaxUnpooling``: scatters its input to where the maxima
    of its pooling module were, in an output of that pooling's input size, zeros elsewhere.

    Torch7's unpooling reads the ``indices`` and input size its pooling module (a shared reference)
    left from the same forward; here the graph gives this module the pooling's input as a second
    argument and the maxima are located again, as THNN does (first maximum in scan order).
    """

    def __init__(self, kernel: list[int], stride: list[int], padding: list[int], ceil_mode: bool) -> None:
        super().__init__()
        nd = len(kernel)
        self.pool = MaxPoolTHNN(kernel, stride, padding, [1] * nd, ceil_mode, "spatial" if nd == 2 else "volumetric")

    def forward(self, x, pooled_input):
        best, flat = self.pool.argmax(pooled_input)
        if x.shape != best.shape:
            raise T7ConvertError(f"max unpooling: input {tuple(x.shape)} does not match its pooling's indices "
                                 f"{tuple(best.shape)}")
        if not best.is_meta:  # (shape-only runs cannot look); a runtime assertion under torch.export
            def invalid() -> str:
                return "max unpooling: a pooling window held no maximum (Torch7: invalid max index)"
            torch._check_with(T7ConvertError, (best > -torch.finfo(best.dtype).max).all().item(), invalid)
        nd = len(self.pool.kernel)
        sizes = pooled_input.shape[-nd:]
        out = x.new_zeros(*x.shape[:-nd], math.prod(sizes))
        out.scatter_(-1, flat.flatten(-nd), x.flatten(-nd))
        return out.unflatten(-1, tuple(sizes))


def _intervals_t(samples: torch.Tensor, n_in, n_out: int, pool: int) -> torch.Tensor:
    """SpatialFractionalMaxPooling_generateIntervals in the samples' precision (THNN's ``real``): window
    starts ``(long)((i + u) * alpha) - (long)(u * alpha)``, the last at ``n_in - pool``; (..., n_out).
    Tensor arithmetic (C's ``(long)`` of a non-negative value is a truncation), so that a traced program
    holds for every input size."""
    real = samples.dtype
    if n_out > 1:
        alpha = torch.full((), n_in - pool, dtype=real, device=samples.device) / torch.tensor(n_out - 1, dtype=real)
    else:
        alpha = torch.zeros((), dtype=real, device=samples.device)
    i = torch.arange(n_out - 1, dtype=real, device=samples.device)
    u = samples[..., None]
    starts = ((i + u) * alpha).to(torch.int64) - (u * alpha).to(torch.int64)
    last = torch.full((*samples.shape, 1), n_in - pool, dtype=torch.int64, device=samples.device)
    return torch.cat([starts, last], -1)


class FractionalMaxPool(nn.Module):
    """``nn.Spatial/VolumetricFractionalMaxPooling`` after ``:fixPoolingRegions()``: the pooling regions
    come from the file's ``randomSamples`` (batch x planes x 2 or 3), which Torch7 only keeps for an
    input of that batch and plane count (otherwise it draws new ones, and so is refused here).

    Spatial input is (N, C, H, W) and samples are (W, H); volumetric input is read as (N, C, H, W, T)
    (THNN's layout) and samples are (T, W, H). ``pool``, ``output`` and ``ratio`` follow the input's
    last dimensions: (H, W) or (H, W, T).
    """

    def __init__(self, pool: list[int], output: list[int] | None, ratio: list[float] | None,
                 samples: list, precision: str) -> None:
        super().__init__()
        self.pool, self.output, self.ratio = pool, output, ratio  # all in the input's last-dims order
        self.samples = np.array(samples, dtype=np.float64 if precision == "float64" else np.float32)

    def forward(self, x):
        nd = len(self.pool)
        if x.dim() not in (nd + 1, nd + 2):
            raise T7ConvertError(f"fractional max pooling expects a {nd + 1}D or {nd + 2}D input, got {tuple(x.shape)}")
        x4 = x if x.dim() == nd + 2 else x.unsqueeze(0)
        n, c, sizes = x4.shape[0], x4.shape[1], list(x4.shape[2:])
        if tuple(self.samples.shape[:2]) != (n, c):
            raise T7ConvertError(f"the file's fixed pooling regions are for {tuple(self.samples.shape[:2])} (batch, "
                                 f"planes); for a {n}x{c} input Torch7 draws new random ones")
        outs = self.output or [math.floor(s * r) for s, r in zip(sizes, self.ratio)]
        if min(outs) < 1 or any(o + p - 1 >= s for o, p, s in zip(outs, self.pool, sizes)):
            raise T7ConvertError(f"fractional max pooling: pool {self.pool} and output {outs} do not fit {sizes}")
        if x.is_meta:  # a shape-only run: the regions need the samples' values
            return x.new_empty(*x.shape[:-nd], *outs)
        # sample index of each spatial dim: spatial (H, W) <- (1, 0); volumetric (H, W, T) <- (2, 1, 0)
        which = [1, 0] if nd == 2 else [2, 1, 0]
        samples = torch.from_numpy(self.samples).to(x.device)
        y = x4
        for i in range(nd):
            starts = _intervals_t(samples[:, :, which[i]], sizes[i], outs[i], self.pool[i])
            taps = (starts[..., None] + torch.arange(self.pool[i], device=x.device)).reshape(n, c, -1)
            dim = 2 + i
            index = taps.view(n, c, *([1] * i), -1, *([1] * (nd - i - 1))).expand(
                *[s if j != dim else taps.shape[-1] for j, s in enumerate(y.shape)])
            y = torch.gather(y, dim, index).unflatten(dim, (outs[i], self.pool[i])).amax(dim + 1)
        return y if x.dim() == nd + 2 else y[0]


def _bins_max(n: int, o: int) -> list[tuple[int, int]]:
    """SpatialAdaptiveMaxPooling.c: ``floor((float)i / o * n)`` to ``ceil((float)(i+1) / o * n)``, in float32."""
    f = np.float32
    return [(math.floor(f(i) / f(o) * f(n)), math.ceil(f(i + 1) / f(o) * f(n))) for i in range(o)]


def _bins_avg(n: int, o: int) -> list[tuple[int, int]]:
    """SpatialAdaptiveAveragePooling.c: ``floor((float)(i*n) / o)`` to ``ceil((float)((i+1)*n) / o)``."""
    f = np.float32
    return [(math.floor(f(i * n) / f(o)), math.ceil(f((i + 1) * n) / f(o))) for i in range(o)]


class AdaptivePool2d(nn.Module):
    """``nn.SpatialAdaptiveMax/AveragePooling(W, H)`` with THNN's float32 bin edges (which can differ
    from PyTorch's integer ones by one), computed per axis: max is separable, and so is the average
    ``sum / kW / kH``."""

    def __init__(self, kind: str, size: list[int]) -> None:
        super().__init__()
        self.kind, self.size = kind, size  # size: [H, W]

    def forward(self, x):
        if x.dim() not in (3, 4):
            raise T7ConvertError(f"adaptive pooling expects a 3D or 4D input, got {tuple(x.shape)}")
        y = x
        for dim, o in ((-2, self.size[0]), (-1, self.size[1])):
            y = self._pool_axis(y, dim if dim == -1 else y.dim() - 2, o)
        if self.kind == "max":  # SpatialAdaptiveMaxPooling.c: maxval = -FLT_MAX, whatever the type
            y = y.clamp_min(-torch.finfo(torch.float32).max)
        return y

    def _pool_axis(self, y: torch.Tensor, dim: int, o: int) -> torch.Tensor:
        """One axis: bin ``i``'s edges in float32 tensor arithmetic (THNN's, see :func:`_bins_max` and
        :func:`_bins_avg`) and a (o, n) mask of the positions each bin covers, so that nothing branches on
        the input's size (a traced program holds for every size)."""
        dim = dim % y.dim()
        n = y.shape[dim]
        f32 = torch.float32
        i = torch.arange(o, device=y.device, dtype=f32)
        nf = torch.full((), n, dtype=f32, device=y.device)
        if self.kind == "max":
            start, end = torch.floor(i / o * nf), torch.ceil((i + 1) / o * nf)
        else:  # (float)(i*n) / o: the product is exact in float32 for any size a model has
            start, end = torch.floor(i * nf / o), torch.ceil((i + 1) * nf / o)
        j = torch.arange(n, device=y.device, dtype=f32)
        mask = (j[None, :] >= start[:, None]) & (j[None, :] < end[:, None])  # (o, n)
        moved = y.movedim(dim, -1).unsqueeze(-2)  # (..., 1, n)
        if self.kind == "max":
            out = torch.where(mask, moved, torch.full_like(moved, -math.inf)).amax(-1)
        else:
            out = torch.where(mask, moved, torch.zeros_like(moved)).sum(-1) / (end - start).to(y.dtype)
        return out.movedim(-1, dim)

    def extra_repr(self) -> str:
        return f"{self.kind}, size={self.size}"


class TemporalMaxPool(nn.Module):
    """``nn.TemporalMaxPooling(kW, dW)``: max over windows of time of (T, F) or (N, T, F) input."""

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        if x.dim() not in (2, 3) or x.shape[-2] < self.kernel:
            raise T7ConvertError(f"nn.TemporalMaxPooling({self.kernel}) expects (T, F) or (N, T, F) with T >= "
                                 f"{self.kernel}, got {tuple(x.shape)}")
        return _floor_at_thinf(x.unfold(-2, self.kernel, self.stride).amax(-1))


class DynamicKMaxPool(nn.Module):
    """``nn.TemporalDynamicKMaxPooling(minK, factor)``: the k = max(minK, ceil(factor * T)) largest values
    along time for each feature, kept in time order."""

    def __init__(self, min_k: int, factor: float) -> None:
        super().__init__()
        self.min_k, self.factor = min_k, factor

    def forward(self, x):
        if x.dim() not in (2, 3):
            raise T7ConvertError(f"nn.TemporalDynamicKMaxPooling expects a 2D or 3D input, got {tuple(x.shape)}")
        dim, length = x.dim() - 2, x.shape[-2]
        k = max(self.min_k, math.ceil(self.factor * length))
        if length < self.min_k or k > length:
            raise T7ConvertError(f"nn.TemporalDynamicKMaxPooling: a sequence of {length} is too short for k = {k}")
        idx = torch.topk(x, k, dim=dim, largest=True, sorted=True).indices.sort(dim).values
        return torch.gather(x, dim, idx)


class FeatureLPPool(nn.Module):
    """``nn.FeatureLPPooling(width, stride, power, batch_mode)``: ``(sum over a window of features of
    x^p)^(1/p)``, no absolute value; the feature dimension is the first (the second in batch mode)."""

    def __init__(self, width: int, stride: int, power: float, batch_mode: bool) -> None:
        super().__init__()
        self.width, self.stride, self.power, self.batch_mode = width, stride, power, batch_mode

    def forward(self, x):
        lo, hi = (2, 4) if self.batch_mode else (1, 3)
        dim = 1 if self.batch_mode else 0
        def why() -> str:
            return f"nn.FeatureLPPooling: input {tuple(x.shape)} does not fit (batch mode {self.batch_mode}, " \
                   f"width {self.width})"
        if not lo <= x.dim() <= hi:
            raise T7ConvertError(why())
        torch._check_with(T7ConvertError, x.shape[dim] >= self.width, why)  # a runtime assertion when traced
        windows = x.unfold(dim, self.width, self.stride)
        return windows.pow(self.power).sum(-1).pow(1.0 / self.power)


builds_module("MaxPoolTHNN", MaxPoolTHNN)
builds_module("AvgPool3d", AvgPool3d)


@builds("MaxUnpoolTHNN")
def build_max_unpool(a: Record, children: list[nn.Module]) -> nn.Module:
    return MaxUnpoolTHNN(a.kernel, a.stride, a.padding, a.ceil_mode)


builds_module("FractionalMaxPool", FractionalMaxPool)


@builds("AdaptivePool2d")
def build_adaptive(a: Record, children: list[nn.Module]) -> nn.Module:
    h, w = a.size
    if h * w > MAX_LOOP:  # each bin is computed on its own
        raise T7ConvertError(f"an adaptive pooling's output size {a.size} is not 1 to {MAX_LOOP:,} bins")
    return AdaptivePool2d(a.kind, a.size)


builds_module("TemporalMaxPool", TemporalMaxPool)
builds_module("DynamicKMaxPool", DynamicKMaxPool)


@builds("FeatureLPPool")
def build_feature_lp(a: Record, children: list[nn.Module]) -> nn.Module:
    if not math.isfinite(a.power) or a.power == 0:  # the pooling takes the 1/power-th root
        raise T7ConvertError(f"a FeatureLPPooling's power {str(a.power)[:40]} is not a finite, non-zero number")
    return FeatureLPPool(a.width, a.stride, a.power, a.batch_mode)
