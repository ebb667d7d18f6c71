"""Cases for the projects' own classes: fast-neural-style's ShaveImage and TotalVariation, the
memory-efficient DenseNet's DenseConnectLayerCustom (a tensor in, then the table the next one takes),
dqn's Rectifier, and deepmask's SpatialSymmetricPadding, SpatialConstDiagonal, DeepMask and SharpMask,
each built as the project's Lua builds it (DeepMask.lua, SharpMask.lua, modelUtils.lua)."""
from __future__ import annotations

import nngraph_models as ng
import torch7_models as tm

from layer_cases import LayerCase
from layer_cases.lookup import lookup, to_index

M = tm.module


def _dense_layer(n_in: int, growth: int):
    """As DenseConnectLayer.lua builds it: ``modules = {self.net1, self.net2}``, the same objects."""
    net1 = tm.sequential(tm.batchnorm(n_in), tm.relu())
    net2 = tm.sequential(tm.conv(n_in, growth, 3, 3, 1, 1, 1, 1))
    return M("nn.DenseConnectLayerCustom", net1=net1, net2=net2, modules=[net1, net2])


def _dense_block():
    first, second = _dense_layer(3, 2), _dense_layer(5, 2)
    return tm.sequential(first, second, M("nn.JoinTable", dimension=2))


def _convert():
    reshape = M("nn.Reshape", size=__import__("numpy").array([18], "int64"), nelement=18, batchMode=None)
    return tm.sequential(tm.conv(3, 2, 3, 3, 1, 1, 1, 1),
                         M("nn.Convert", inputShape="bchw", outputShape="bf", nInputDim=4, nOutputDim=2,
                           inputBatchDim=1, outputBatchDim=1, modules=[reshape]))


CASES = [
    LayerCase("convert-bchw-bf", _convert, (2, 3, 3, 3)),
    LayerCase("shaveimage", lambda: tm.sequential(tm.conv(3, 3, 3, 3, 1, 1, 1, 1), M("nn.ShaveImage", size=2)),
              (2, 3, 9, 8)),
    LayerCase("totalvariation", lambda: tm.sequential(M("nn.TotalVariation", strength=1e-6), tm.conv(3, 2, 1, 1)),
              (2, 3, 5, 5)),
    LayerCase("denseconnectlayercustom-block", _dense_block, (2, 3, 6, 6)),
]


def _sym(l: int, r: int, t: int, b: int):
    return M("nn.SpatialSymmetricPadding", pad_l=l, pad_r=r, pad_t=t, pad_b=b)


def _padded_conv(n_in: int, n_out: int):
    """modelUtils.updatePadding: a 3x3 convolution's zero padding moved into a SymmetricPadding before it."""
    return tm.sequential(_sym(1, 1, 1, 1), tm.conv(n_in, n_out, 3, 3))


def _const_diagonal(n: int, inplace: bool = True):
    """modelUtils.BNtoFixed: a frozen batch norm, ``a`` = weight / std, ``b`` = bias - mean * a."""
    g = tm.generator()
    return M("nn.SpatialConstDiagonal", a=g.uniform(0.5, 1.5, (1, n, 1, 1)).astype("float32"),
             b=tm.f32(1, n, 1, 1, scale=0.1), inplace=inplace)


def _deepmask():
    """DeepMask.lua at a small scale: trunk (padded conv, the fixed BN, ReLU, View(batch, n), Linear), the
    mask branch (a Sequential holding a Sequential with a Linear) and the score branch (Dropout, Linear,
    Threshold(0, 1e-6), Dropout, Linear(.., 1))."""
    trunk = tm.sequential(_padded_conv(3, 4), _const_diagonal(4), M("cudnn.ReLU", inplace=True),
                          tm.maxpool(2, 2, 2, 2), tm.view(2, 4 * 3 * 3), tm.linear(36, 8))
    mask = tm.sequential(tm.sequential(tm.linear(8, 16)))
    score = tm.sequential(M("nn.Dropout", p=0.5, v2=True, inplace=False), tm.linear(8, 6),
                          M("nn.Threshold", threshold=0, val=1e-6, inplace=False),
                          M("nn.Dropout", p=0.5, v2=True, inplace=False), tm.linear(6, 1))
    return M("nn.DeepMask", None, trunk=trunk, maskBranch=mask, scoreBranch=score, fSz=3)


def _refinement(neth, netv, *tail):
    """SharpMask:refinement: ParallelTable(neth, netv), CAddTable(2) (in place: 2 is true to Lua),
    ReLU, SpatialUpSamplingNearest(2), and the final module's extra layers."""
    return tm.sequential(M("nn.ParallelTable", modules=[neth, netv]), M("nn.CAddTable", inplace=2),
                         M("cudnn.ReLU", inplace=False), M("nn.SpatialUpSamplingNearest", scale_factor=2), *tail)


def _sharpmask():
    """SharpMask.lua at a small scale: a trunk of 9 modules (8x8 -> 4x4 -> 2x2 -> a vector), refs[0] a
    Linear and View to 4 planes of 2x2, skpos {7, 4}: refs[1] joins the 2x2 maps, refs[2] the 4x4 ones,
    and ends in the symmetric-padded 3x3 convolution to one plane and the View to (batch, 64)."""
    trunk = tm.sequential(_padded_conv(3, 4), _const_diagonal(4), M("cudnn.ReLU", inplace=False),
                          tm.maxpool(2, 2, 2, 2), _padded_conv(4, 6), M("cudnn.ReLU", inplace=False),
                          tm.maxpool(2, 2, 2, 2), tm.view(2, 24), tm.linear(24, 16))
    refs = {0: tm.sequential(tm.linear(16, 16), tm.view(2, 4, 2, 2)),
            1: _refinement(_padded_conv(6, 2), _padded_conv(4, 2)),
            2: _refinement(_padded_conv(4, 1), _padded_conv(2, 1), _sym(1, 1, 1, 1), tm.conv(1, 1, 3, 3),
                           tm.view(2, 64))}
    return M("nn.SharpMask", None, trunk=trunk, refs=refs, skpos=[8, 7, 4, 3][1:3], km=4, ks=4, fSz=2, inps={})


CASES += [
    LayerCase("rectifier", lambda: tm.sequential(tm.linear(5, 4), M("nn.Rectifier")), (3, 5)),
    LayerCase("spatialsymmetricpadding", lambda: tm.sequential(tm.conv(3, 2, 1, 1), _sym(2, 1, 1, 3)), (2, 3, 4, 5)),
    LayerCase("spatialsymmetricpadding-crop", lambda: tm.sequential(tm.conv(3, 2, 1, 1), _sym(-1, 2, 3, -2)),
              (2, 3, 5, 4)),
    LayerCase("spatialconstdiagonal-inplace", lambda: tm.sequential(tm.conv(3, 4, 3, 3), _const_diagonal(4),
                                                                    M("nn.ReLU", inplace=True)), (2, 3, 6, 6)),
    LayerCase("deepmask", _deepmask, (2, 3, 6, 6)),
    LayerCase("sharpmask", _sharpmask, (2, 3, 8, 8)),
]


# --- OpenNMT (lua): onmt.Network and the classes keeping its forward (the net, also modules[1]) --------
def _onmt(cls: str, net, **fields):
    """As Network.lua's constructor leaves it: nn.Container's fields (output, gradInput), ``net`` and
    ``modules = {net}``."""
    return M(cls, None, net=net, modules=[net], gradInput=__import__("numpy").empty(0, "float32"), **fields)


def _onmt_lstm_step(d: int, h: int):
    """onmt.LSTM:_buildLayer's shape, one layer: {c, h, x} -> {c', h'} (gates i, f, o, g of one Linear sum)."""
    g = ng.Graph()
    c, hp, x = g.input(), g.input(), g.input()
    sums = g.node(M("nn.CAddTable"), g.node(tm.linear(d, 4 * h, bias=False), x), g.node(tm.linear(h, 4 * h), hp))
    n1, n2, n3, n4 = g.split(g.node(ng.split_table(2), g.node(M("nn.Reshape", size=__import__("numpy").array(
        [4, h], "int64"), nelement=4 * h, batchMode=None), sums)), 4)
    i, f, o = (g.node(M("nn.Sigmoid"), n) for n in (n1, n2, n3))
    nc = g.node(M("nn.CAddTable"), g.node(M("nn.CMulTable"), f, c), g.node(M("nn.CMulTable"), i, g.node(M("nn.Tanh"), n4)))
    return g.module([c, hp, x], [nc, g.node(M("nn.CMulTable"), o, g.node(M("nn.Tanh"), nc))],
                    ran_on=[tm.f32(2, h), tm.f32(2, h), tm.f32(2, d)])


def _generator(version: int | None, concat: bool):
    head = tm.sequential(tm.linear(5, 7), M("nn.LogSoftMax"))
    net = M("nn.ConcatTable", modules=[head, tm.sequential(tm.linear(5, 3), M("nn.LogSoftMax"))]) if concat else head
    gen = _onmt("onmt.Generator", net)
    if version is not None:
        gen.fields["version"] = version  # a field, not the class version module() takes
    return gen


CASES += [
    LayerCase("onmt-network-linear", lambda: _onmt("onmt.Network", tm.linear(4, 3)), (2, 4)),
    LayerCase("onmt-lstm-wrapper", lambda: _onmt("onmt.LSTM", tm.sequential(tm.linear(4, 3), M("nn.Sigmoid")),
                                                  numEffectiveLayers=2, outputSize=3), (2, 4)),
    LayerCase("onmt-gru-wrapper", lambda: _onmt("onmt.GRU", tm.sequential(tm.linear(4, 3), M("nn.Tanh"))), (2, 4)),
    LayerCase("onmt-wordembedding", lambda: to_index(6, _onmt("onmt.WordEmbedding", lookup(6, 3), vocabSize=6)),
              (2, 5)),
    LayerCase("onmt-globalattention-wrapper", lambda: _onmt("onmt.GlobalAttention", M("nn.MM", transA=False,
                                                                                       transB=True)),
              [(2, 3, 4), (2, 5, 4)]),
    LayerCase("onmt-generator-v2-table-input", lambda: _generator(2, True), [(2, 5), (2, 4)]),
    LayerCase("onmt-generator-v2-tensor-input", lambda: _generator(2, True), (2, 5)),
    LayerCase("onmt-generator-concat", lambda: _generator(None, True), (2, 5)),
    LayerCase("onmt-generator-first", lambda: _generator(None, False), (2, 5)),
]
