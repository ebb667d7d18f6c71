"""Batch normalization (nn, cudnn, fbnn; spatial or not), in evaluation mode.

Files written before mid-2016 (class version < 2) keep ``running_std`` = 1/sqrt(var + eps) instead of
``running_var``; Torch7's own BatchNormalization:read turns it into running_var = std^-2 - eps, and so
does this converter. fbcunn's fbnn classes only ever had running_std (the inverse standard deviation,
eps unused), which the same formula turns into an exactly equivalent running_var. Without affine
parameters (nil, or fbnn's empty tensors), weight 1 and bias 0 are what Torch7 computes with.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from t7convert.conversion.fields import number, tensor
from t7convert.conversion.records import MAX_EXTENT, bounded, record
from t7convert.conversion.registry import converts, describes, expects_input
from t7convert.conversion.tree import Node
from t7convert.torch7.format import T7Object

_SPATIAL = ("nn.SpatialBatchNormalization", "cudnn.SpatialBatchNormalization", "fbnn.SpatialBatchNormalization")
_PLAIN = ("nn.BatchNormalization", "cudnn.BatchNormalization", "fbnn.BatchNormalization")
_VOLUMETRIC = ("nn.VolumetricBatchNormalization", "cudnn.VolumetricBatchNormalization")


def _n_dim(m: T7Object) -> int:
    """``BN.nDim``: the batched input rank each class expects (BatchNormalization.lua and its subclasses)."""
    return 5 if m.class_name in _VOLUMETRIC else 4 if m.class_name in _SPATIAL else 2


def _unbatched(m: T7Object) -> bool:
    """nn's classes take one sample (rank nDim - 1) in evaluate mode (``makeBatch``, the output keeping a
    batch of one); cudnn's and fbnn's assert ``input:dim() == nDim``."""
    return m.class_name.startswith("nn.")


@converts(*_SPATIAL, *_PLAIN, *_VOLUMETRIC)
def batch_normalization(m: T7Object, ctx) -> Node:
    eps = float(number(m, ctx, "eps", default=1e-5))
    mean = tensor(m, ctx, "running_mean")
    n = mean.size
    mean = mean.reshape(n)
    var = tensor(m, ctx, "running_var", required=False, shape=(n,))
    if var is None:
        std = tensor(m, ctx, "running_std", required=False, shape=(n,))
        if std is None:
            raise ctx.fail(m, "has neither running_var nor the legacy running_std")
        with np.errstate(divide="ignore"):
            var = (np.power(std.astype(np.float32), -2) - np.float32(eps)).astype(np.float32)
        ctx.note("legacy running_std turned into running_var (std^-2 - eps), as Torch7 does on load")
    weight = tensor(m, ctx, "weight", required=False, shape=(n,))
    bias = tensor(m, ctx, "bias", required=False, shape=(n,))
    affine = weight is not None
    if affine and bias is None:
        raise ctx.fail(m, "has a weight but no bias")
    tensors = {"running_mean": mean, "running_var": var}
    if affine:
        tensors.update(weight=weight, bias=bias)
    # momentum: how training updates the running statistics (THNN's rule is torch's, unbiased variance)
    momentum = float(number(m, ctx, "momentum", default=0.1))
    return Node("BatchNorm", BatchNormRecord(num_features=n, eps=eps, affine=affine, momentum=momentum,
                                             spatial=m.class_name in _SPATIAL, n_dim=_n_dim(m),
                                             unbatched=_unbatched(m)), tensors)


@expects_input("BatchNorm")
def _bn_input(attrs: dict) -> tuple[int, ...] | int | None:
    """Spatial BN takes images of its planes; plain BN a feature vector; volumetric BN volumes of its
    planes, their sides free."""
    if attrs.get("n_dim") == 5:
        return (int(attrs["num_features"]), None, None, None)
    return int(attrs["num_features"]) if attrs["spatial"] else (int(attrs["num_features"]),)


@describes("nn.BatchNormalization", "nn.SpatialBatchNormalization", "cudnn.BatchNormalization",
           "cudnn.SpatialBatchNormalization", "fbnn.BatchNormalization", "fbnn.SpatialBatchNormalization",
           *_VOLUMETRIC)
def _describe(m: T7Object) -> str:
    """``nn.SpatialBatchNormalization (4D) (64)``, with eps when not the default and no affine."""
    g = m.get
    rm = g("running_mean")
    n = rm.size if isinstance(rm, np.ndarray) else "?"
    extra = "" if g("eps") in (None, 1e-5) else f", eps={g('eps')}"
    extra += "" if g("weight") is not None else ", no affine"
    return f"{m.class_name} ({_n_dim(m)}D) ({n}{extra})"


# --- what each op of this family stores: its record (t7convert.conversion.records) ---
@record("BatchNorm")
@dataclass(frozen=True)
class BatchNormRecord:
    """What a BatchNorm node stores."""

    affine: bool
    eps: float
    num_features: int = bounded(0, MAX_EXTENT)
    spatial: bool
    n_dim: int | None = bounded(choices=(2, 4, 5), default=None)  # None: files from before it (2 or 4)
    unbatched: bool = False
    #: how training updates the running statistics (files from before it: torch's and THNN's 0.1)
    momentum: float = bounded(0, 1, default=0.1)
