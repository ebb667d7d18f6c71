"""Dilated, volumetric, unpooling, fractional, LP, adaptive and temporal poolings.

The reference execution is checked against formulas written here from THNN's C (the window each output
visits, the output-size rule, the float32 bin edges, the fractional intervals); the converted model is
checked against the reference; bad fields and unshared unpooling are refused with the class, field and
path; with the shared fixtures, each catalog file reproduces real Torch7's output.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch7_models as tm
from catalog_checks import convert_and_run, rel
from click.testing import CliRunner

import t7convert
from t7convert import T7ConvertError, api
from t7convert.cli import cli
from t7convert.interpreter import ModelError
from t7convert.interpreter import run as reference_run
from t7convert.torch7.format import T7Object

M = tm.module


def dilated(kw, kh, dw, dh, pw, ph, dilw, dilh, ceil=False):
    return M("nn.SpatialDilatedMaxPooling", kW=kw, kH=kh, dW=dw, dH=dh, padW=pw, padH=ph, dilationW=dilw,
             dilationH=dilh, ceil_mode=ceil)


def brute_dilated(x, k, d, p, dil, out):
    """SpatialDilatedMaxPooling.c, one output at a time: the dilated taps of the window inside the image."""
    y = np.full(x.shape[:2] + tuple(out), -np.inf)
    for i in range(out[0]):
        for j in range(out[1]):
            rows = [i * d[0] - p[0] + a * dil[0] for a in range(k[0])]
            cols = [j * d[1] - p[1] + b * dil[1] for b in range(k[1])]
            rows = [r for r in rows if 0 <= r < x.shape[2]]
            cols = [c for c in cols if 0 <= c < x.shape[3]]
            if rows and cols:
                y[:, :, i, j] = x[:, :, rows][:, :, :, cols].max(axis=(2, 3))
    return y


def test_dilated_max_pooling_visits_the_dilated_taps_inside_the_image(tmp_path):
    x = tm.f32(2, 3, 9, 9)
    # spans 2*(3-1)+1 = 5 (H) and 3*(2-1)+1 = 4 (W): H ceil((9 - 5 + 2) / 2) + 1 = 4, W ceil((9 - 4 + 2) / 2) + 1 = 5
    got, want = convert_and_run(tmp_path, dilated(2, 3, 2, 2, 1, 1, 3, 2, ceil=True), x)
    assert want.shape == (2, 3, 4, 5)
    assert rel(want, brute_dilated(x.astype(np.float64), (3, 2), (2, 2), (1, 1), (2, 3), (4, 5))) == 0


def test_ceil_mode_drops_a_window_starting_in_the_padding_but_keeps_an_empty_one_without_padding(tmp_path):
    # padded: ceil((4 - 2 + 2) / 3) + 1 = 3, and the last start 6 >= 4 + 1, so 2
    _, padded = convert_and_run(tmp_path, dilated(2, 2, 3, 3, 1, 1, 1, 1, ceil=True), tm.f32(1, 1, 4, 4))
    assert padded.shape == (1, 1, 2, 2)
    # unpadded: ceil((5 - 1) / 3) + 1 = 3 windows starting at 0, 3, 6; the last holds nothing, and THNN
    # leaves its start value -THInf there: -FLT_MAX for float (THGenerateFloatType.h), not -inf
    got, want = convert_and_run(tmp_path, dilated(1, 1, 3, 3, 0, 0, 1, 1, ceil=True), tm.f32(1, 1, 5, 5))
    assert want.shape == (1, 1, 3, 3)
    flt_max = float(np.finfo(np.float32).max)
    assert (want[0, 0, 2] == -flt_max).all() and (got[0, 0, :, 2] == -flt_max).all()
    assert np.isfinite(got).all() and rel(got, want) == 0


def test_volumetric_dilated_window_starting_before_the_input_keeps_k_plus_start_taps(tmp_path):
    """VolumetricDilatedMaxPooling.c: a window from -2 with k 4, dilation 2 runs min(4, 4 - 2) = 2 taps from 0
    (positions 0 and 2), not the 3 taps (0, 2, 4) inside the input."""
    m = M("nn.VolumetricDilatedMaxPooling", 2, kT=4, kW=1, kH=1, dT=1, dW=1, dH=1, padT=2, padW=0, padH=0,
          dilationT=2, dilationW=1, dilationH=1, ceil_mode=False)
    x = np.zeros((1, 1, 9, 1, 1), np.float32)
    x[0, 0, 4] = 5.0
    got, want = convert_and_run(tmp_path, m, x)
    assert want[0, 0, 0, 0, 0] == 0.0 and want[0, 0, 1, 0, 0] == 0.0  # windows from -2 and -1 miss t = 4
    assert want[0, 0, 2, 0, 0] == 5.0  # the window from 0 reaches 0, 2, 4, 6


def test_volumetric_average_pooling_is_the_plain_window_mean(tmp_path):
    x = tm.f32(2, 2, 5, 6, 7)
    _, want = convert_and_run(tmp_path, M("nn.VolumetricAveragePooling", kT=2, kW=3, kH=2, dT=2, dW=2, dH=3), x)
    xd = x.astype(np.float64)
    assert want.shape == (2, 2, 2, 2, 3)
    assert rel(want[:, :, 1, 1, 2], xd[:, :, 2:4, 3:5, 4:7].mean(axis=(2, 3, 4))) <= 1e-12


def unpooling_model(pool: T7Object, *between: T7Object, cls: str = "nn.SpatialMaxUnpooling") -> T7Object:
    return tm.sequential(pool, *between, M(cls, pooling=pool))


def test_unpooling_puts_its_input_where_its_poolings_maxima_were(tmp_path):
    pool = tm.maxpool(2, 2, 2, 2)
    x = tm.f32(2, 3, 6, 7)  # odd width: the unpooled output is the pooling's input size, last column zero
    got, want = convert_and_run(tmp_path, unpooling_model(pool, M("nn.MulConstant", constant_scalar=2.0, inplace=False)), x)
    xd = x.astype(np.float64)
    expected = np.zeros_like(xd)
    for i in range(3):
        for j in range(3):
            block = xd[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].reshape(2, 3, 4)
            a = block.argmax(-1)
            for n in range(2):
                for c in range(3):
                    expected[n, c, 2 * i + a[n, c] // 2, 2 * j + a[n, c] % 2] = 2 * block[n, c, a[n, c]]
    assert rel(want, expected) <= 1e-12


def test_the_graph_gives_the_unpooling_its_poolings_input_and_a_reused_pooling_its_latest(tmp_path):
    """The DAG node of an unpooling takes (its input, the input of the pooling it reads); a pooling module run
    twice gives each later unpooling the indices of its latest run, as Torch7's fields would hold."""
    pool = tm.maxpool(2, 2, 2, 2)
    model = tm.sequential(pool, M("nn.SpatialMaxUnpooling", pooling=pool), M("nn.MulConstant", constant_scalar=-1.0,
                          inplace=False), pool, M("nn.SpatialMaxUnpooling", pooling=pool))
    src = tm.save(tmp_path, "m", model)
    converted = api.convert(str(src), None, input_shape=(2, 4, 6)).converted
    nodes = {n["source"]: n for n in converted.dag["nodes"] if n.get("source")}
    assert nodes["modules[2]"]["args"] == [["m1"], ["input"]]
    assert nodes["modules[5]"]["args"] == [["m4"], ["m3"]] and nodes["modules[5]"]["attrs"]["pooling"] == "modules[4]"
    x = tm.f32(1, 2, 4, 6)
    _, want = convert_and_run(tmp_path, model, x)
    first = reference_run(tm.sequential(pool, M("nn.SpatialMaxUnpooling", pooling=pool)), x).output
    second = reference_run(tm.sequential(pool, M("nn.SpatialMaxUnpooling", pooling=pool)), -first).output
    assert rel(want, second) == 0


def test_volumetric_unpooling_of_a_padded_pooling(tmp_path):
    pool = M("nn.VolumetricMaxPooling", 2, kT=2, kW=2, kH=2, dT=2, dW=2, dH=2, padT=1, padW=0, padH=1, ceil_mode=False)
    x = tm.f32(1, 2, 5, 4, 5)
    _, want = convert_and_run(tmp_path, unpooling_model(pool, cls="nn.VolumetricMaxUnpooling"), x)
    assert want.shape == x.shape
    kept = want != 0
    assert (want[kept] == x.astype(np.float64)[kept]).all()
    assert kept.sum() == 2 * 3 * 2 * 3  # one maximum per window of the 3x2x3 pooled output


def _refused(tmp_path, model: T7Object, shape, *words: str) -> None:
    src = tm.save(tmp_path, "bad", model)
    with pytest.raises(T7ConvertError) as e:
        api.convert(str(src), str(tmp_path / "bad.pth"), input_shape=shape[1:], batch=shape[0])
    for w in words:
        assert w in str(e.value)
    out = tmp_path / "cli.pth"
    result = CliRunner().invoke(cli, [str(src), "-o", str(out), "--input-size", ",".join(map(str, shape[1:]))])
    assert result.exit_code == 2 and not out.exists()


def test_unpooling_whose_pooling_is_not_in_the_graph_is_refused(tmp_path):
    stray = tm.maxpool(2, 2, 2, 2)
    model = tm.sequential(tm.maxpool(2, 2, 2, 2), M("nn.SpatialMaxUnpooling", pooling=stray))
    _refused(tmp_path, model, (1, 3, 4, 4), "nn.SpatialMaxUnpooling", "modules[2]", "pooling", "not run before it")


def test_unpooling_of_another_pooling_class_or_overlapping_windows_is_refused(tmp_path):
    cudnn_pool = tm.maxpool(2, 2, 2, 2, cls="cudnn.SpatialMaxPooling")
    _refused(tmp_path, unpooling_model(cudnn_pool), (1, 3, 4, 4), "SpatialMaxUnpooling", "pooling", "cudnn")
    _refused(tmp_path, unpooling_model(tm.maxpool(3, 3, 2, 2)), (1, 3, 5, 5), "kernel [3, 3] differs from its stride")


@pytest.mark.parametrize("model,words", [
    (dilated(3, 3, 1, 1, 2, 0, 1, 1), ("nn.SpatialDilatedMaxPooling", "modules[1]", "padding")),
    (dilated(3, 3, 1, 1, 0, 0, 0, 1), ("nn.SpatialDilatedMaxPooling", "dilation")),
    (M("nn.VolumetricAveragePooling", kT=0, kW=2, kH=2), ("nn.VolumetricAveragePooling", "kernel")),
    (M("nn.FeatureLPPooling", width=1, stride=1, power=2, batch_mode=True), ("nn.FeatureLPPooling", "width")),
    (M("nn.SpatialAdaptiveMaxPooling", W=0, H=2), ("nn.SpatialAdaptiveMaxPooling", "output size")),
    (M("nn.TemporalMaxPooling", kW=-1), ("nn.TemporalMaxPooling", "kernel")),
], ids=["pad-over-half-kernel", "zero-dilation", "zero-kernel", "lp-width", "adaptive-size", "temporal-kernel"])
def test_bad_fields_are_refused_naming_class_field_and_path(tmp_path, model, words):
    _refused(tmp_path, tm.sequential(model), (1, 4, 6, 6), *words)


def fractional(samples, new_random_pool=True, **sizes):
    return M("nn.SpatialFractionalMaxPooling", poolSizeW=2, poolSizeH=3, randomSamples=samples,
             newRandomPool=new_random_pool, **sizes)


def intervals(u: np.float32, n_in: int, n_out: int, pool: int) -> list[int]:
    """generateIntervals in float32: (long)((i + u) * alpha) - (long)(u * alpha), the last at n_in - pool."""
    alpha = np.float32(n_in - pool) / np.float32(n_out - 1)
    return [int((np.float32(i) + u) * alpha) - int(u * alpha) for i in range(n_out - 1)] + [n_in - pool]


def test_fixed_fractional_pooling_uses_the_files_samples(tmp_path):
    samples = np.random.default_rng(3).uniform(size=(2, 3, 2)).astype(np.float32)
    x = tm.f32(2, 3, 9, 8)
    _, want = convert_and_run(tmp_path, fractional(samples, outW=4, outH=3), x)
    n, c = 1, 2
    rows = intervals(samples[n, c, 1], 9, 3, 3)
    cols = intervals(samples[n, c, 0], 8, 4, 2)
    expected = [[x[n, c, r:r + 3, q:q + 2].max() for q in cols] for r in rows]
    assert rel(want[n, c], expected) == 0


def test_fractional_pooling_that_draws_new_regions_is_refused_as_not_deterministic(tmp_path):
    samples = np.random.default_rng(3).uniform(size=(1, 3, 2)).astype(np.float32)
    _refused(tmp_path, fractional(samples, new_random_pool=False, outW=2, outH=2), (1, 3, 6, 6),
             "nn.SpatialFractionalMaxPooling", "random", "not a function of its input")
    _refused(tmp_path, fractional(None, outW=2, outH=2), (1, 3, 6, 6), "randomSamples")


def test_fixed_fractional_pooling_on_another_batch_size_is_refused_by_both(tmp_path):
    samples = np.random.default_rng(3).uniform(size=(2, 3, 2)).astype(np.float32)
    model = fractional(samples, outW=2, outH=2)
    with pytest.raises(ModelError, match="draw new random"):
        reference_run(model, np.zeros((1, 3, 6, 6)))
    src = tm.save(tmp_path, "f", model)
    api.convert(str(src), str(tmp_path / "f.pth"), input_shape=(3, 6, 6), batch=2)
    with pytest.raises(T7ConvertError, match="draws new random"), torch.no_grad():
        t7convert.load(str(tmp_path / "f.pth"))(torch.zeros(3, 3, 6, 6))


def test_adaptive_pooling_uses_thnns_float32_bin_edges(tmp_path):
    """(float)0 / 7 * 21 ... ceil((float)1 / 7 * 21) = ceil(3.0000002) = 4: THNN's first bin of 21 into 7 is
    rows 0..3, where PyTorch's integer bins stop at 2."""
    x = np.zeros((1, 1, 21, 21), np.float32)
    x[0, 0, 3, 0] = 1.0
    got, want = convert_and_run(tmp_path, M("nn.SpatialAdaptiveMaxPooling", W=7, H=7), x)
    assert want[0, 0, 0, 0] == 1.0 and got[0, 0, 0, 0] == 1.0
    assert torch.nn.functional.adaptive_max_pool2d(torch.from_numpy(x), 7)[0, 0, 0, 0] == 0.0
    _, avg = convert_and_run(tmp_path, M("nn.SpatialAdaptiveAveragePooling", W=2, H=3), x + 1)
    assert rel(avg[0, 0, 0, 0], (x[0, 0, 0:7, 0:11] + 1).astype(np.float64).mean()) <= 1e-12


def test_temporal_max_pooling_and_dynamic_k_max_keep_time_order(tmp_path):
    x = tm.f32(2, 9, 4)
    _, want = convert_and_run(tmp_path, M("nn.TemporalMaxPooling", kW=3, dW=2), x)
    assert rel(want, np.stack([x[:, 2 * o:2 * o + 3].max(1) for o in range(4)], 1)) == 0
    _, top = convert_and_run(tmp_path, M("nn.TemporalDynamicKMaxPooling", minK=2, factor=0.4), x)
    k = max(2, math.ceil(0.4 * 9))  # 4
    keep = np.sort(np.argsort(-x, axis=1)[:, :k], axis=1)
    assert rel(top, np.take_along_axis(x, keep, axis=1)) == 0
    with pytest.raises(ModelError, match="too small"):
        reference_run(M("nn.TemporalDynamicKMaxPooling", minK=3, factor=2), np.zeros((5, 2)))


def test_lp_poolings_are_p_norms_of_windows(tmp_path):
    x = np.abs(tm.f32(2, 8)) + 0.1
    _, want = convert_and_run(tmp_path, M("nn.FeatureLPPooling", width=3, stride=2, power=3, batch_mode=True), x)
    xd = x.astype(np.float64)
    assert rel(want, np.stack([(xd[:, 2 * o:2 * o + 3] ** 3).sum(1) ** (1 / 3) for o in range(3)], 1)) <= 1e-12
    lp = M("nn.SpatialLPPooling", kW=2, kH=2, dW=2, dH=2, modules=[
        M("nn.Square"), tm.avgpool(2, 2, 2, 2), M("nn.MulConstant", constant_scalar=4, inplace=False),
        M("nn.Sqrt", eps=0)])
    y = tm.f32(1, 2, 4, 4)
    _, norms = convert_and_run(tmp_path, lp, y)
    assert rel(norms[0, 1, 1, 0], np.sqrt((y[0, 1, 2:4, 0:2].astype(np.float64) ** 2).sum())) <= 1e-12


# --- files written by real Torch7 ----------------------------------------------------------------
FIXTURE_IDS = ["spatialdilatedmaxpooling", "spatialmaxunpooling", "spatiallppooling", "spatialadaptivemaxpooling",
               "spatialadaptiveaveragepooling", "temporalmaxpooling", "temporaldynamickmaxpooling",
               "volumetricmaxpooling", "volumetricdilatedmaxpooling", "volumetricmaxunpooling",
               "volumetricaveragepooling", "volumetricfractionalmaxpooling", "featurelppooling",
               "spatialfractionalmaxpooling"]


@pytest.mark.parametrize("fixture_id", FIXTURE_IDS)
def test_catalog_file_reproduces_torch7s_output(torch7_fixtures, tmp_path, fixture_id):
    folder = torch7_fixtures / "torch7" / "catalog"
    src = folder / f"{fixture_id}.t7"
    ref = t7convert.read(folder / f"{fixture_id}.ref.t7")
    x, want = np.asarray(ref["input"], np.float32), np.asarray(ref["output"])
    # converted with verification on the fixture's own input size (the fractional file's fixed regions are
    # for its batch of 2: Torch7 draws new ones for any other batch)
    api.convert(str(src), str(tmp_path / "m.pth"), input_shape=x.shape[1:], batch=x.shape[0])
    with torch.no_grad():
        got = t7convert.load(str(tmp_path / "m.pth"))(torch.from_numpy(x)).numpy()
    assert rel(got, want) <= 1e-5
    assert rel(reference_run(t7convert.read(src), x).output, want) <= 1e-5
