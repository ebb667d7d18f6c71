"""Torch7's Normalize, SpatialCrossMapLRN, LayerNormalization, InstanceNormalization (fast-neural-style,
texture_nets) and the local Spatial{Subtractive,Divisive,Contrastive}Normalization, each as Torch7 computes it
(``F.normalize`` clamps the norm where Torch7 adds eps inside the root, so none is torch.nn's).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.fields import MAX_LOOP
from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds, builds_module


def _check_rank(x: torch.Tensor, ranks: tuple[int, ...], name: str) -> None:
    if x.dim() not in ranks:
        raise ValueError(f"{name} takes {' or '.join(f'{r}-D' for r in ranks)} input, got {tuple(x.shape)}")


class Normalize(nn.Module):
    """``x / (sum |x|^p + eps)^(1/p)`` per row of a 1-D or 2-D input; ``x / (max |x| + eps)`` for p = inf."""

    def __init__(self, p: float, inf: bool, eps: float) -> None:
        super().__init__()
        self.p, self.inf, self.eps = p, inf, eps

    def forward(self, x):
        _check_rank(x, (1, 2), "Normalize")
        rows = x.reshape(1, -1) if x.dim() == 1 else x
        if self.inf:
            norm = rows.abs().amax(dim=1, keepdim=True) + self.eps
        else:
            norm = (rows.abs().pow(self.p).sum(dim=1, keepdim=True) + self.eps).pow(1.0 / self.p)
        return (rows / norm).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"p={'inf' if self.inf else self.p}, eps={self.eps}"


class CrossMapLRN(nn.Module):
    """``x * (k + alpha/size * sum of x^2 over the centred window of planes)^-beta`` (planes beyond the
    edges count as zero), for (C, H, W) or (N, C, H, W) input."""

    def __init__(self, size: int, alpha: float, beta: float, k: float) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        _check_rank(x, (3, 4), "SpatialCrossMapLRN")
        planes = x.shape[-3]
        half = (self.size - 1) // 2
        squares = F.pad(x * x, (0, 0, 0, 0, half, half))
        window = sum(squares.narrow(-3, i, planes) for i in range(self.size))
        return torch.pow(window * (self.alpha / self.size) + self.k, -self.beta) * x

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class LayerNorm(nn.Module):
    """LayerNormalization.lua's arithmetic: ``d = x - means`` where element (i, j) of a batch of N rows of
    n loses the mean of row ``(i*n + j) mod N`` (its Replicate/CSubTable order), then
    ``d / sqrt(sum d^2 + eps) * scale``, then ``* weight + bias`` when affine."""

    def __init__(self, n: int, eps: float, scale: float, affine: bool) -> None:
        super().__init__()
        self.n, self.eps, self.scale, self.affine = n, eps, scale, affine
        if affine:
            self.weight = nn.Parameter(torch.empty(n))
            self.bias = nn.Parameter(torch.empty(n))

    def forward(self, x):
        _check_rank(x, (1, 2), "LayerNormalization")
        rows = x.reshape(1, -1) if x.dim() == 1 else x
        count, width = rows.shape
        means = rows.mean(dim=1)
        order = torch.arange(count * width, device=x.device) % count
        d = rows - means[order].reshape(count, width)
        y = d / (d.pow(2).sum(dim=1, keepdim=True) + self.eps).sqrt() * self.scale
        if self.affine:
            y = y * self.weight + self.bias
        return y.reshape(x.shape)


class InstanceNorm(nn.Module):
    """Torch7's InstanceNormalization: the (1, N*C, H, W) view through a batch norm of N*C planes, which
    torch/nn runs on running statistics (a batch of one): the saved bn's (``saved_mean``/``saved_var``,
    ``saved_eps``) when the input's N is the one it was made for, else the new bn's (``fresh_mean``/
    ``fresh_var`` per plane, ``eps``). Files converted before those fields existed (``legacy``) keep
    the per-instance statistics they were converted with."""

    def __init__(self, num_features: int, eps: float, affine: bool = True, saved_batch: int | None = None,
                 saved_eps: float = 0.0, dims: tuple[int, ...] = (3, 4)) -> None:
        super().__init__()
        self.eps, self.affine, self.saved_eps, self.dims = eps, affine, saved_eps, tuple(dims)
        self.legacy = saved_batch is None
        self.saved_batch = -1 if saved_batch is None else saved_batch
        if affine:
            self.weight = nn.Parameter(torch.empty(num_features))
            self.bias = nn.Parameter(torch.empty(num_features))
        if not self.legacy:
            self.register_buffer("fresh_mean", torch.empty(num_features))
            self.register_buffer("fresh_var", torch.empty(num_features))
            if self.saved_batch >= 1:
                self.register_buffer("saved_mean", torch.empty(self.saved_batch * num_features))
                self.register_buffer("saved_var", torch.empty(self.saved_batch * num_features))

    def forward(self, x):
        _check_rank(x, self.dims, "InstanceNormalization")
        batch = x if x.dim() == 4 else x.unsqueeze(0)
        if self.legacy:
            y = F.instance_norm(batch, weight=self.weight, bias=self.bias, eps=self.eps)
            return y.reshape(x.shape)
        n, c = batch.shape[:2]
        if n == self.saved_batch:
            mean, var, eps = self.saved_mean.view(n, c), self.saved_var.view(n, c), self.saved_eps
        else:
            mean, var, eps = self.fresh_mean.expand(n, c), self.fresh_var.expand(n, c), self.eps
        y = (batch - mean[:, :, None, None]) / torch.sqrt(var + eps)[:, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y.reshape(x.shape)


def _estimate(x, kernel, bias, pad: list[int]):
    """An estimator Sequential: zero padding (left, right, top, bottom), one convolution summing all
    planes; its Replicate over the planes is the broadcast of the (N, 1, H, W) result."""
    return F.conv2d(F.pad(x, tuple(pad)), kernel, bias)


class LocalNorm(nn.Module):
    """Subtractive ``x - est(x) / est(ones)``, then divisive ``x / thr(sqrt(est2(x^2)) / est(ones))`` with
    ``thr`` Torch7's Threshold (``v if v > threshold else thresval``), as the flags say."""

    def __init__(self, planes: int, estimators: dict[str, tuple[list[int], list[int]]],
                 threshold: float = 0.0, thresval: float = 0.0) -> None:
        """``estimators``: name (sub, div_mean, div_std) -> (kernel size (kH, kW), padding)."""
        super().__init__()
        self.subtract, self.divide = "sub" in estimators, "div_std" in estimators
        self.threshold, self.thresval = threshold, thresval
        self.pads = {name: list(pad) for name, (_, pad) in estimators.items()}
        for name, (size, _) in estimators.items():
            self.register_buffer(f"{name}_kernel", torch.empty(1, planes, *size))
            self.register_buffer(f"{name}_bias", torch.empty(1))

    def _est(self, name: str, x):
        return _estimate(x, getattr(self, f"{name}_kernel"), getattr(self, f"{name}_bias"), self.pads[name])

    def forward(self, x):
        _check_rank(x, (3, 4), "a local normalisation")
        y = x if x.dim() == 4 else x.unsqueeze(0)
        ones = torch.ones_like(y[:1])
        if self.subtract:
            y = y - self._est("sub", y) / self._est("sub", ones)
        if self.divide:
            stds = self._est("div_std", y * y).sqrt() / self._est("div_mean", ones)
            y = y / torch.where(stds > self.threshold, stds, torch.full_like(stds, self.thresval))
        return y.reshape(x.shape)


builds_module("Normalize", Normalize)


@builds("CrossMapLRN")
def build_lrn(a: Record, children: list[nn.Module]) -> nn.Module:
    if not 1 <= a.size <= MAX_LOOP:  # the record bounds it too; each plane is summed on its own
        raise T7ConvertError(f"a CrossMapLRN's size {str(a.size)[:40]} is not from 1 to {MAX_LOOP:,}")
    return CrossMapLRN(a.size, a.alpha, a.beta, a.k)


builds_module("LayerNorm", LayerNorm)
builds_module("InstanceNorm", InstanceNorm)


@builds("LocalNorm")
def build_local_norm(a: Record, children: list[nn.Module]) -> nn.Module:
    names = (["sub"] if a.subtract else []) + (["div_mean", "div_std"] if a.divide else [])
    estimators = {name: (getattr(a, f"{name}_size"), getattr(a, f"{name}_pad")) for name in names}
    return LocalNorm(a.planes, estimators, a.threshold, a.thresval)
