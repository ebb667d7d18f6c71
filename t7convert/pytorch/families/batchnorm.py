"""Batch normalisation: ``torch.nn.BatchNorm1d/2d/3d``. In evaluate mode on the running statistics; in
training on the batch's, updating the running ones with the file's ``momentum`` exactly as THNN does
(``running = (1 - momentum) * running + momentum * batch``, the unbiased variance), which is torch's rule.

nn's classes also take one sample (rank ``nDim - 1``) in evaluate mode: BatchNormalization.lua's
``makeBatch`` views it as a batch of one, and the output keeps that batch dimension.
"""
from __future__ import annotations

from torch import nn

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds


class _OneSample:
    """Mixin: a sample without its batch dimension becomes a batch of one (and stays one)."""

    unbatched_rank: int = -1

    def _check_input_dim(self, x) -> None:
        if x.dim() != self.unbatched_rank:
            super()._check_input_dim(x)  # type: ignore[misc]

    def forward(self, x):
        if x.dim() == self.unbatched_rank:
            x = x.unsqueeze(0)
        return super().forward(x)  # type: ignore[misc]


class BatchNorm1d(_OneSample, nn.BatchNorm1d):
    unbatched_rank = 1


class BatchNorm2d(_OneSample, nn.BatchNorm2d):
    unbatched_rank = 3


class BatchNorm3d(_OneSample, nn.BatchNorm3d):
    unbatched_rank = 4


_CLASSES = {(2, False): nn.BatchNorm1d, (4, False): nn.BatchNorm2d, (5, False): nn.BatchNorm3d,
            (2, True): BatchNorm1d, (4, True): BatchNorm2d, (5, True): BatchNorm3d}


@builds("BatchNorm")
def build_batch_norm(a: Record, children: list[nn.Module]) -> nn.Module:
    """Files converted before ``n_dim`` existed hold plain or spatial BN of batches only."""
    n_dim = a.n_dim if a.n_dim is not None else (4 if a.spatial else 2)
    cls = _CLASSES[(n_dim, bool(a.unbatched))]
    if not 0 <= a.momentum <= 1:  # NaN included, which the record's bounds let through
        raise T7ConvertError(f"a converted batch normalisation has momentum {a.momentum!r}")
    return cls(a.num_features, eps=a.eps, affine=a.affine, momentum=float(a.momentum))
