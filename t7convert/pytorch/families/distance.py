"""Euclidean, WeightedEuclidean, Cosine, and the table-input CosineDistance, PairwiseDistance, DotProduct,
MM, MV and Bilinear, as Torch7 computes them (its epsilons where it adds them, one-row outputs for 1-D
pairs). Table inputs arrive as a Python list of tensors.
"""
from __future__ import annotations

import torch
from torch import nn

from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds, builds_module


def _rank(x: torch.Tensor, ranks: tuple[int, ...], name: str) -> None:
    if x.dim() not in ranks:
        raise ValueError(f"{name} takes {' or '.join(f'{r}-D' for r in ranks)} input, got {tuple(x.shape)}")


def _pair(xs, name: str, ranks: tuple[int, ...] = (1, 2)) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(xs, (list, tuple)) or len(xs) != 2:
        raise ValueError(f"{name} takes a table (list) of two tensors")
    a, b = xs
    _rank(a, ranks, name)
    return a, b


class Euclidean(nn.Module):
    """``y_j = |x - w[:, j]|`` (times ``diagCov[:, j]`` inside the norm when weighted), 1-D or 2-D x."""

    def __init__(self, in_features: int, out_features: int, weighted: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.diagCov = nn.Parameter(torch.empty(in_features, out_features)) if weighted else None

    def forward(self, x):
        _rank(x, (1, 2), "Euclidean")
        diff = x.unsqueeze(-1) - self.weight
        if self.diagCov is not None:
            diff = diff * self.diagCov
        return diff.pow(2).sum(dim=-2).sqrt()


class Cosine(nn.Module):
    """``y_j = w_j . x / ((|w_j| + 1e-12) (|x| + 1e-12))``."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))

    def forward(self, x):
        _rank(x, (1, 2), "Cosine")
        w_norm = self.weight.norm(dim=1) + 1e-12
        x_norm = x.norm(dim=-1, keepdim=True) + 1e-12
        return x @ self.weight.t() / w_norm / x_norm


class CosineDistance(nn.Module):
    def forward(self, xs):
        a, b = _pair(xs, "CosineDistance")
        a, b = a.reshape(-1, a.shape[-1]), b.reshape(-1, b.shape[-1])
        dot = (a * b).sum(dim=1)
        inv = 1.0 / ((a * a).sum(dim=1) + 1e-12) * (1.0 / ((b * b).sum(dim=1) + 1e-12))
        return dot * inv.sqrt()


class PairwiseDistance(nn.Module):
    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, xs):
        a, b = _pair(xs, "PairwiseDistance")
        d = (a - b).abs().reshape(-1, a.shape[-1])
        return d.pow(self.p).sum(dim=1).pow(1.0 / self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class DotProduct(nn.Module):
    def forward(self, xs):
        a, b = _pair(xs, "DotProduct")
        return (a * b).reshape(-1, a.shape[-1]).sum(dim=1)


class MM(nn.Module):
    """Matrices (2-D) or batches of matrices (3-D), each transposed first when asked."""

    def __init__(self, trans_a: bool, trans_b: bool) -> None:
        super().__init__()
        self.trans_a, self.trans_b = trans_a, trans_b

    def forward(self, xs):
        a, b = _pair(xs, "MM", (2, 3))
        if b.dim() != a.dim():
            raise ValueError("MM takes two matrices or two batches of matrices")
        a = a.transpose(-1, -2) if self.trans_a else a
        b = b.transpose(-1, -2) if self.trans_b else b
        return a @ b


class MV(nn.Module):
    """A matrix and a vector, or a batch (3-D) of matrices and one (2-D) of vectors."""

    def __init__(self, trans: bool) -> None:
        super().__init__()
        self.trans = trans

    def forward(self, xs):
        m, v = _pair(xs, "MV", (2, 3))
        if v.dim() != m.dim() - 1:
            raise ValueError("MV takes a matrix and a vector, or batches of both")
        m = m.transpose(-1, -2) if self.trans else m
        return (m @ v.unsqueeze(-1)).squeeze(-1)


class Bilinear(nn.Bilinear):
    """``torch.nn.Bilinear`` on a table [a, b] of 2-D tensors."""

    def forward(self, xs):  # type: ignore[override]
        a, b = _pair(xs, "Bilinear", (2,))
        return super().forward(a, b)


builds_module("Euclidean", Euclidean)
builds_module("Cosine", Cosine)
builds_module("CosineDistance", CosineDistance)
builds_module("PairwiseDistance", PairwiseDistance)
builds_module("DotProduct", DotProduct)
builds_module("MM", MM)
builds_module("MV", MV)


@builds("Bilinear")
def build_bilinear(a: Record, children: list[nn.Module]) -> nn.Module:
    return Bilinear(a.in1, a.in2, a.out, bias=a.bias)
