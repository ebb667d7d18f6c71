"""Table containers and table ops: Parallel, ParallelTable, MapTable, DepthConcat, Bottle, Inception,
SplitTable, SelectTable, NarrowTable, FlattenTable, MixtureTable, ZipTable(OneToMany), the element-wise
tables, CAddTensorTable, Index, MaskedSelect, OneHot (nn's and char-rnn's)."""
from __future__ import annotations

import nngraph_models as ng
import numpy as np
import torch7_models as tm

from layer_cases import LayerCase

M = tm.module


def conv_bn_relu(n_in: int, n_out: int, k: int):
    return [tm.conv(n_in, n_out, k, k, 1, 1, k // 2, k // 2, cls="nn.SpatialConvolution"),
            tm.batchnorm(n_out), tm.relu()]


def inception():
    """dpnn's Inception as its constructor builds it: a DepthConcat(2) of 1x1-3x3, 1x1-5x5, pool-1x1 and
    1x1 columns; ``pool`` is the pooling in the graph, ``transfer`` a template outside it."""
    pool = tm.maxpool(3, 3, 1, 1, 1, 1)
    columns = [tm.sequential(*conv_bn_relu(4, 3, 1), *conv_bn_relu(3, 4, 3)),
               tm.sequential(*conv_bn_relu(4, 2, 1), *conv_bn_relu(2, 3, 5)),
               tm.sequential(pool, *conv_bn_relu(4, 2, 1)),
               tm.sequential(*conv_bn_relu(4, 2, 1))]
    return M("nn.Inception", modules=[M("nn.DepthConcat", dimension=2, modules=columns)], pool=pool,
             transfer=tm.relu(), inputSize=4, batchNorm=True)


def depth_concat():
    return M("nn.DepthConcat", dimension=2, modules=[
        tm.conv(3, 2, 1, 1, cls="nn.SpatialConvolution"), tm.conv(3, 3, 3, 3, cls="nn.SpatialConvolution"),
        tm.conv(3, 1, 4, 2, cls="nn.SpatialConvolution")])


def map_table():
    lin = tm.linear(4, 3)
    clone = M("nn.Linear", weight=lin.fields["weight"], bias=lin.fields["bias"])
    return M("nn.MapTable", module=lin, modules=[lin, clone])


def _table_op(cls: str, **fields):
    return lambda: M(cls, **fields)


CASES = [
    LayerCase("parallel", lambda: M("nn.Parallel", inputDimension=2, outputDimension=2,
                                    modules=[tm.linear(5, 3), tm.linear(5, 2), M("nn.Tanh")]), (2, 3, 5)),
    LayerCase("parallel-join-batch", lambda: M("nn.Parallel", inputDimension=3, outputDimension=1,
                                               modules=[tm.linear(4, 3), tm.linear(4, 3)]), (2, 4, 2)),
    LayerCase("paralleltable", lambda: M("nn.ParallelTable", modules=[tm.linear(5, 3), M("nn.Tanh")]), [(2, 5), (2, 3)]),
    LayerCase("maptable-shared-clones", map_table, [(2, 4), (2, 4), (2, 4)]),
    LayerCase("depthconcat-centred", depth_concat, (2, 3, 7, 6)),
    LayerCase("depthconcat-unbatched-planes", lambda: M("nn.DepthConcat", dimension=1, modules=[
        tm.conv(3, 2, 1, 1, cls="nn.SpatialConvolution"), tm.conv(3, 2, 3, 3, cls="nn.SpatialConvolution")]),
        (3, 6, 6)),
    LayerCase("bottle-linear", lambda: M("nn.Bottle", nInputDim=2, nOutputDim=2, modules=[tm.linear(4, 3)]), (2, 5, 4)),
    LayerCase("bottle-conv-3d", lambda: M("nn.Bottle", nInputDim=4, nOutputDim=4, modules=[
        tm.conv(2, 3, 3, 3, 1, 1, 1, 1, cls="nn.SpatialConvolution")]), (2, 3, 2, 5, 5)),
    LayerCase("inception", inception, (2, 4, 6, 6)),
    LayerCase("splittable", lambda: tm.sequential(tm.conv(2, 3, 1, 1), M("nn.SplitTable", dimension=2)), (2, 2, 3, 3)),
    LayerCase("splittable-negative-ninputdims", _table_op("nn.SplitTable", dimension=-1, nInputDims=2), (2, 3, 4)),
    LayerCase("selecttable-negative", _table_op("nn.SelectTable", index=-2), [(2, 3), (2, 4), (2, 5)]),
    LayerCase("selecttable-nested", lambda: M("nn.SelectTable", index=2), [(2, 3), [(2, 4), (2, 5)]]),
    LayerCase("narrowtable", _table_op("nn.NarrowTable", offset=2, length=2), [(2, 3), (4,), (2, 5), (1,)]),
    LayerCase("flattentable", _table_op("nn.FlattenTable"), [(2,), [(3,), [(4,)]], (1,)]),
    LayerCase("mixturetable-table", _table_op("nn.MixtureTable"), [(2, 3), [(2, 4), (2, 4), (2, 4)]]),
    LayerCase("mixturetable-tensor", _table_op("nn.MixtureTable", dim=2), [(2, 3), (2, 3, 4)]),
    LayerCase("ziptable", _table_op("nn.ZipTable"), [[(2,), (3,)], [(4,), (5,)]]),
    LayerCase("ziptableonetomany", _table_op("nn.ZipTableOneToMany"), [(2,), [(3,), (4,), (1,)]]),
    LayerCase("csubtable", _table_op("nn.CSubTable"), [(2, 4), (2, 4)]),
    LayerCase("cmultable", _table_op("nn.CMulTable"), [(2, 4), (2, 4), (2, 4)]),
    LayerCase("cdivtable", _table_op("nn.CDivTable"), [(2, 4), (2, 4)]),
    LayerCase("cmaxtable", _table_op("nn.CMaxTable"), [(2, 4), (2, 4), (2, 4)]),
    LayerCase("cmintable", _table_op("nn.CMinTable"), [(2, 4), (2, 4)]),
    LayerCase("caddtensortable", _table_op("nn.CAddTensorTable"), [(2, 3), [(2, 3), (2, 3), (2, 3)]]),
    LayerCase("index", _table_op("nn.Index", dimension=1),
              [(5, 3), {"shape": [4], "dtype": "int64", "low": 1, "high": 5}]),
    LayerCase("index-dim2", _table_op("nn.Index", dimension=2),
              [(2, 6, 3), {"shape": [7], "dtype": "int64", "low": 1, "high": 6}]),
    LayerCase("maskedselect", _table_op("nn.MaskedSelect"),
              [(2, 5), {"shape": [2, 5], "dtype": "uint8", "low": 0, "high": 1}]),
    LayerCase("onehot-nn", _table_op("nn.OneHot", outputSize=5), {"shape": [3, 2], "dtype": "int64", "low": 1, "high": 5}),
    LayerCase("onehot-char-rnn", lambda: tm.sequential(M("OneHot", outputSize=4)),
              {"shape": [6], "dtype": "int64", "low": 1, "high": 4}),
    LayerCase("splittable-then-cadd", lambda: tm.sequential(ng.split_table(2), M("nn.CAddTable")), (2, 3, 4)),
    LayerCase("splittable-negative-dim", lambda: tm.sequential(ng.split_table(-1), M("nn.CAddTable")), (2, 3, 4)),
    LayerCase("splittable-batch-shift", lambda: tm.sequential(ng.split_table(1, 2), M("nn.CAddTable")), (2, 3, 4)),
    LayerCase("cmul-table", lambda: tm.sequential(M("nn.ConcatTable", modules=[tm.linear(4, 3), tm.linear(4, 3)]),
                                                  M("nn.CMulTable")), (2, 4)),
    LayerCase("csub-table", lambda: tm.sequential(M("nn.ConcatTable", modules=[tm.linear(4, 3), tm.linear(4, 3)]),
                                                  M("nn.CSubTable")), (2, 4)),
    LayerCase("charrnn-onehot", lambda: tm.sequential(M("OneHot", outputSize=7, _eye=np.eye(7)), tm.linear(7, 3)), (3,),
              indices=7),
]
