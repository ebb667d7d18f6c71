"""Convolutions over time: nn.TemporalConvolution, nn.TemporalSubSampling, nn.TemporalRowConvolution.

A sequence is (T, features) or (N, T, features), time first, the opposite of torch's Conv1d.

- TemporalConvolution(inputFrameSize, outputFrameSize, kW, dW): weight (out, kW*in), frame-major
  (``weight[o, k*in + i]`` multiplies feature i of frame ``t*dW + k``), bias required (THNN copies it).
- TemporalSubSampling(inputFrameSize, kW, dW): ``w[f] * (window sum) + b[f]``; THNN accepts only a
  2-D (T, features) input.
- TemporalRowConvolution(inputFrameSize, kW, dW, featFirst): each feature convolved along time with
  its own kernel, weight (F, 1, kW), optional bias; no padding (its updateOutput passes 0). With
  ``featFirst`` the input is (F, T) / (N, F, T), else (T, F) / (N, T, F), and the output the same.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t7convert.conversion.families.spatial_conv_more import planes, shaped
from t7convert.conversion.fields import flag, integer
from t7convert.conversion.records import MAX_EXTENT, bounded, record
from t7convert.conversion.registry import converts, describes, expects_input
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object


def _window(m: T7Object, ctx) -> tuple[int, int]:
    kw, dw = integer(m, ctx, "kW"), integer(m, ctx, "dW", default=1)
    if kw < 1 or dw < 1:
        raise ctx.fail(m, f"field {'kW' if kw < 1 else 'dW'} is {kw if kw < 1 else dw}, must be at least 1")
    return kw, dw


@converts("nn.TemporalConvolution")
def temporal_convolution(m: T7Object, ctx) -> Node:
    n_in, n_out = planes(m, ctx, "inputFrameSize", "outputFrameSize")
    kw, dw = _window(m, ctx)
    weight = shaped(m, ctx, "weight", (n_out, kw, n_in))
    return Node("TemporalConv", TemporalConvRecord(in_features=n_in, out_features=n_out, kernel=kw, stride=dw),
                {"weight": np.ascontiguousarray(weight.transpose(0, 2, 1)),
                 "bias": shaped(m, ctx, "bias", (n_out,))})


@converts("nn.TemporalSubSampling")
def temporal_subsampling(m: T7Object, ctx) -> Node:
    (n,) = planes(m, ctx, "inputFrameSize")
    kw, dw = _window(m, ctx)
    return Node("TemporalSubSampling", TemporalSubSamplingRecord(features=n, kernel=kw, stride=dw),
                {"weight": shaped(m, ctx, "weight", (n,)), "bias": shaped(m, ctx, "bias", (n,))})


@converts("nn.TemporalRowConvolution")
def temporal_row_convolution(m: T7Object, ctx) -> Node:
    (n,) = planes(m, ctx, "inputFrameSize")
    kw, dw = _window(m, ctx)
    tensors = {"weight": shaped(m, ctx, "weight", (n, 1, kw))}
    bias = shaped(m, ctx, "bias", (n,), required=False)
    if bias is not None:
        tensors["bias"] = bias
    return Node("TemporalRowConv", TemporalRowConvRecord(features=n, kernel=kw, stride=dw, feat_first=bool(flag(m, "featFirst")),
                                                         bias=bias is not None), tensors)


@expects_input("TemporalConv", "TemporalSubSampling", "TemporalRowConv")
def _sequence_input(attrs: dict) -> tuple:
    """A sequence of frames of the declared size, its length free (None)."""
    n = int(attrs.get("in_features", attrs.get("features")))
    return (n, None) if attrs.get("feat_first") else (None, n)


@describes("nn.TemporalConvolution", "nn.TemporalSubSampling", "nn.TemporalRowConvolution")
def _describe(m: T7Object) -> str:
    """``nn.TemporalConvolution(5 -> 4, 3, 1)``: frame sizes, kernel, stride."""
    g = m.get
    sizes = f"{g('inputFrameSize')} -> {g('outputFrameSize')}" if g("outputFrameSize") else f"{g('inputFrameSize')}"
    s = f"{m.class_name}({sizes}, {g('kW')}, {g('dW', 1)}"
    if m.class_name == "nn.TemporalRowConvolution" and g("featFirst"):
        s += ", featFirst"
    return s + (")" if g("bias") is not None else ") without bias")


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("TemporalConv")
@dataclass(frozen=True)
class TemporalConvRecord:
    """What a TemporalConv node stores."""

    in_features: int = bounded(0, MAX_EXTENT)
    kernel: int = bounded(1, MAX_EXTENT)
    out_features: int = bounded(0, MAX_EXTENT)
    stride: int = bounded(1, MAX_EXTENT)


@record("TemporalRowConv")
@dataclass(frozen=True)
class TemporalRowConvRecord:
    """What a TemporalRowConv node stores."""

    bias: bool
    feat_first: bool
    features: int
    kernel: int = bounded(1, MAX_EXTENT)
    stride: int = bounded(1, MAX_EXTENT)


@record("TemporalSubSampling")
@dataclass(frozen=True)
class TemporalSubSamplingRecord:
    """What a TemporalSubSampling node stores."""

    features: int
    kernel: int = bounded(1, MAX_EXTENT)
    stride: int = bounded(1, MAX_EXTENT)
