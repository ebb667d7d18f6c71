"""Element-wise transfer functions with Torch7's parameters and THNN's edge rules, and SoftMin.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.records import Record, attrs_of
from t7convert.pytorch.families import builds, builds_module
from t7convert.pytorch.families.elementwise import SoftMax


class Pointwise(nn.Module):
    """One of Torch7's element-wise transfer functions (``fn``), with THNN's float32 rules: HardTanh's
    bounds inclusive and NaN mapped to ``max`` (kept only by the in-place loop over a contiguous tensor of
    2+ dimensions), the shrinks mapping NaN to 0, SoftPlus linear where ``beta * x > threshold``."""

    FUNCTIONS = ("sigmoid", "tanh", "hardtanh", "leakyrelu", "elu", "softplus", "softsign", "logsigmoid",
                 "tanhshrink", "hardshrink", "softshrink", "abs", "exp", "log", "power", "square", "sqrt", "add")

    def __init__(self, fn: str, **params: Any) -> None:
        super().__init__()
        if fn not in self.FUNCTIONS:
            raise T7ConvertError(f"unknown element-wise function {fn!r} in a converted architecture")
        self.fn, self.params = fn, dict(params)

    def forward(self, x):
        fn, p = self.fn, self.params
        if fn == "sigmoid":
            return torch.sigmoid(x)
        if fn == "tanh":
            return torch.tanh(x)
        if fn == "hardtanh":
            lo, hi = p["min"], p["max"]
            if p.get("inplace") and x.dim() != 1 and x.is_contiguous():
                return torch.where(x < lo, torch.full_like(x, lo), torch.where(x > hi, torch.full_like(x, hi), x))
            return torch.where(x < lo, torch.full_like(x, lo), torch.where(x <= hi, x, torch.full_like(x, hi)))
        if fn == "leakyrelu":
            return torch.where(x > 0, x, x * p["negval"])
        if fn == "elu":
            return torch.where(x <= 0, torch.expm1(x) * p["alpha"], x)
        if fn == "softplus":
            return F.softplus(x, beta=p["beta"], threshold=p["threshold"])
        if fn == "softsign":
            return x / (x.abs() + 1)
        if fn == "logsigmoid":
            return F.logsigmoid(x)
        if fn == "tanhshrink":
            return x - torch.tanh(x)
        if fn in ("hardshrink", "softshrink"):
            lam = p["lambda"]
            hard = fn == "hardshrink"
            return torch.where(x > lam, x if hard else x - lam,
                               torch.where(x < -lam, x if hard else x + lam, torch.zeros_like(x)))
        if fn == "abs":
            return x.abs()
        if fn == "exp":
            return torch.exp(x)
        if fn == "log":
            return torch.log(x)
        if fn == "power":
            return torch.pow(x, p["exponent"])
        if fn == "square":
            return x * x
        if fn == "sqrt":
            return torch.sqrt(x)
        return x + p["constant"]  # add

    def extra_repr(self) -> str:
        return ", ".join([self.fn, *(f"{k}={v}" for k, v in self.params.items())])


class SoftMin(SoftMax):
    """``nn.SoftMin``: nn's SoftMax of ``-x``, over the same dimension."""

    def forward(self, x):
        return super().forward(-x)

    def _get_name(self) -> str:
        return "SoftMin"


@builds("Pointwise")
def build_pointwise(a: Record, children: list[nn.Module]) -> nn.Module:
    params = {k: v for k, v in attrs_of(a).items() if v is not None}  # the parameters its function has
    return Pointwise(params.pop("fn"), **params)


builds_module("SoftMin", SoftMin)
