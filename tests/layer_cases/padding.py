"""Zero/reflection/replication padding with cropping (negative amounts) and unbatched inputs; nn.Padding
before an index, appending, and on a batch."""
from __future__ import annotations

import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


def pad(cls, left, right, top, bottom):
    return M(cls, pad_l=left, pad_r=right, pad_t=top, pad_b=bottom)


CASES = [
    LayerCase("zero-crop", lambda: pad("nn.SpatialZeroPadding", 1, -1, 2, 0), (2, 3, 5, 5)),
    LayerCase("zero-unbatched", lambda: pad("nn.SpatialZeroPadding", 2, 1, 0, 1), (3, 4, 4)),
    LayerCase("reflection", lambda: pad("nn.SpatialReflectionPadding", 2, 1, 0, 3), (2, 3, 5, 6)),
    LayerCase("reflection-crop-unbatched", lambda: pad("nn.SpatialReflectionPadding", -1, 2, 1, -2), (3, 5, 6)),
    LayerCase("replication-crop", lambda: pad("nn.SpatialReplicationPadding", 1, 2, -1, 2), (2, 3, 4, 4)),
    LayerCase("volumetric-replication", lambda: M("nn.VolumetricReplicationPadding", pleft=1, pright=0, ptop=2,
                                                  pbottom=1, pfront=1, pback=2), (1, 2, 3, 4, 4)),
    LayerCase("volumetric-replication-unbatched", lambda: M("nn.VolumetricReplicationPadding", pleft=1, pright=1,
                                                            ptop=0, pbottom=1, pfront=-1, pback=1), (2, 3, 3, 4)),
    LayerCase("padding-before-index", lambda: M("nn.Padding", dim=2, pad=-2, nInputDim=2, value=1.5, index=3),
              (2, 3, 4)),
    LayerCase("padding-after-index", lambda: M("nn.Padding", dim=1, pad=3, nInputDim=2, value=-1, index=2), (2, 3, 4)),
    LayerCase("padding-prepend-unbatched", lambda: M("nn.Padding", dim=1, pad=-1, value=0, index=1), (4, 5)),
]
