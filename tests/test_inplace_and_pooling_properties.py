"""Properties that guard against wrong numbers across the whole layer table.

* Every layer case whose output is a tensor, followed by an in-place ``ReLU(true)`` that overwrites that
  tensor: the conversion verifies, and the layer's stage is compared as it was produced (before the
  ReLU wrote into it) on both sides.
* Every pooling class with every ceil/floor and padding combination its class allows, on small inputs
  (windows past the input included): the converted module either refuses the input or gives the
  reference execution's numbers exactly (shapes, ``-FLT_MAX`` of empty max windows, NaN of empty
  average windows); the reference itself is held to THNN's loops, written here from the C.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch7_models as tm
from catalog_checks import rel
from layer_cases import all_cases

import t7convert
from t7convert import api
from t7convert.common.errors import T7ConvertError
from t7convert.conversion.model import convert_file
from t7convert.interpreter import ModelError
from t7convert.interpreter import run as reference_run
from t7convert.pytorch.build import module_of

M = tm.module
FLT_MAX = float(np.finfo(np.float32).max)
CASES = [c for c in all_cases() if isinstance(c.input, tuple) and not c.indices]


def _tensor_output(case) -> bool:
    x = np.random.default_rng(0).standard_normal(case.input).astype(np.float32)
    if case.positive:
        x = np.abs(x) + 0.1
    try:
        y = reference_run(case.build(), x, record=False).output
    except ModelError:
        return False
    return isinstance(y, np.ndarray) and y.dtype.kind == "f"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_layer_whose_output_an_in_place_relu_overwrites_still_verifies_as_produced(tmp_path, case):
    if not _tensor_output(case):
        pytest.skip("the layer's output is not a float tensor")
    model = tm.sequential(case.build(), M("nn.ReLU", threshold=0, val=0, inplace=True))
    src = tm.save(tmp_path, "m", model)
    report = api.convert(str(src), str(tmp_path / "m.pth"), input_shape=case.input[1:], batch=case.input[0],
                         force=True)
    assert report.verification.ok, report.verification.summary()
    assert any(s.path == "modules[1]" for s in report.verification.stages)


# --- pooling: every class, every mode its class allows ---------------------------------------------
def _thnn_max_1d_windows(n: int, k: int, d: int, p: int, out: int) -> list[range]:
    return [range(max(o * d - p, 0), min(o * d - p + k, n)) for o in range(out)]


def _thnn_size(n: int, k: int, d: int, p: int, ceil: bool, padded: bool) -> int:
    """SpatialDilatedMaxPooling.c / SpatialAveragePooling.c: (long)(ceil|floor((float)(n - k + 2p) / d)) + 1,
    then, only when padW or padH is set, one fewer when the last window starts at or past n + p."""
    q = (n - k + 2 * p) / d
    out = int(np.ceil(q) if ceil else np.floor(q)) + 1
    if padded and (out - 1) * d >= n + p:
        out -= 1
    return out


def _thnn_spatial(x, kind, k, d, p, ceil, include_pad=True):
    """THNN's frame loops on (N, C, H, W): max from -THInf (-FLT_MAX) with ``val > max``; average sums the
    window inside the image and divides by the window clipped to the padded image (count_include_pad)
    or to the image, an int that may be 0 or negative."""
    n_, c_, h, w = x.shape
    padded = bool(p[0] or p[1])
    oh, ow = _thnn_size(h, k[0], d[0], p[0], ceil, padded), _thnn_size(w, k[1], d[1], p[1], ceil, padded)
    out = np.empty((n_, c_, oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        hs, ws = i * d[0] - p[0], j * d[1] - p[1]
        if kind == "max":
            best = np.full((n_, c_), -FLT_MAX)
            for y in range(max(hs, 0), min(hs + k[0], h)):
                for xx in range(max(ws, 0), min(ws + k[1], w)):
                    best = np.where(x[:, :, y, xx] > best, x[:, :, y, xx], best)
            out[:, :, i, j] = best
        else:
            he, we = min(hs + k[0], h + p[0]), min(ws + k[1], w + p[1])
            size = (he - hs) * (we - ws)
            h0, w0, h1, w1 = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            total = x[:, :, h0:max(h1, h0), w0:max(w1, w0)].sum(axis=(2, 3))
            with np.errstate(divide="ignore", invalid="ignore"):
                out[:, :, i, j] = total / np.float64(size if include_pad else (h1 - h0) * (w1 - w0))
    return out


def _spatial_geometries():
    for k, d, p, ceil in itertools.product((1, 2, 3), (1, 2, 3, 4), (0, 1), (False, True)):
        if p <= k // 2:
            yield k, d, p, ceil


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal shapes, the same non-finite values (NaN, +-inf) where they are, the rest within 1e-5."""
    if got.shape != want.shape:
        return False
    odd = ~np.isfinite(want)
    if not ((np.isfinite(got) == ~odd).all() and ((got[odd] == want[odd]) | (np.isnan(got[odd]) & np.isnan(want[odd]))).all()):
        return False
    return rel(got, want) <= 1e-5


def _converted(tmp_path, module):
    """The converted module of a one-layer file (no verification: the property compares it here)."""
    src = tm.save(tmp_path, "pool", module)
    return src, module_of(convert_file(str(src)))


def _check(tmp_path, module, x: np.ndarray, thnn=None) -> str:
    """'refused' or 'same'; fails when the converted module gives other numbers than the reference."""
    src, mod = _converted(tmp_path, module)
    try:
        want = reference_run(t7convert.read(src), x, record=False).output
    except ModelError:
        want = None
    if thnn is not None and want is not None:
        assert _same(want, thnn), f"reference differs from THNN's loops: {module}"
    try:
        with torch.no_grad():
            got = mod(torch.from_numpy(x)).double().numpy()
    except (T7ConvertError, RuntimeError, ValueError):
        return "refused"
    assert want is not None, f"the converted module runs where Torch7 refuses: {module}"
    assert _same(got, want), f"converted differs from the reference: {module} on {x.shape}"
    return "same"


@pytest.mark.parametrize("cls", ["nn.SpatialMaxPooling", "nn.SpatialAveragePooling", "cudnn.SpatialMaxPooling",
                                 "cudnn.SpatialAveragePooling", "nn.SpatialDilatedMaxPooling"])
def test_spatial_pooling_in_every_ceil_and_padding_mode_gives_the_references_numbers_or_refuses(tmp_path, cls):
    rng = np.random.default_rng(11)
    outcomes = []
    for (k, d, p, ceil), n in itertools.product(_spatial_geometries(), (3, 5, 7)):
        if n < k:
            continue
        fields = dict(kW=k, kH=1, dW=d, dH=1, padW=p, padH=0, ceil_mode=ceil)
        if cls == "nn.SpatialAveragePooling":
            fields.update(count_include_pad=bool(p), divide=True)
        if cls == "nn.SpatialDilatedMaxPooling":
            fields.update(dilationW=1, dilationH=1)
        x = rng.standard_normal((1, 2, 2, n)).astype(np.float32)
        thnn = None
        if cls.startswith("nn.Spatial") and (cls != "nn.SpatialAveragePooling" or p == 0 or fields["count_include_pad"]):
            kind = "max" if "Max" in cls else "avg"
            thnn = _thnn_spatial(x.astype(np.float64), kind, (1, k), (1, d), (0, p), ceil, fields.get("count_include_pad", True))
        outcomes.append(_check(tmp_path, M(cls, **fields), x, thnn))
    assert outcomes.count("same") > len(outcomes) // 2  # the property holds on cases that run, not on refusals


@pytest.mark.parametrize("cls", ["nn.VolumetricMaxPooling", "nn.VolumetricDilatedMaxPooling"])
def test_volumetric_max_pooling_in_every_ceil_and_padding_mode_gives_the_references_numbers(tmp_path, cls):
    rng = np.random.default_rng(12)
    outcomes = []
    for (k, d, p, ceil), n in itertools.product(_spatial_geometries(), (3, 5)):
        if n < k:
            continue
        fields = dict(kT=k, kW=1, kH=1, dT=d, dW=1, dH=1, padT=p, padW=0, padH=0, ceil_mode=ceil)
        if "Dilated" in cls:
            fields.update(dilationT=1, dilationW=1, dilationH=1)
        x = rng.standard_normal((1, 1, n, 2, 2)).astype(np.float32)
        outcomes.append(_check(tmp_path, M(cls, 2, **fields), x))
    assert outcomes.count("same") > len(outcomes) // 2


def test_temporal_and_volumetric_average_pooling_give_the_references_numbers(tmp_path):
    rng = np.random.default_rng(13)
    for k, d, n in itertools.product((1, 2, 3), (1, 2, 3), (3, 4, 6)):
        x = rng.standard_normal((2, n, 3)).astype(np.float32)
        x[0, 0, :] = -np.inf  # a window of -inf only: THNN's -THInf start, -FLT_MAX
        assert _check(tmp_path, M("nn.TemporalMaxPooling", kW=k, dW=d), x) == "same"
        v = rng.standard_normal((1, 1, n, 3, 3)).astype(np.float32)
        assert _check(tmp_path, M("nn.VolumetricAveragePooling", kT=k, kW=1, kH=1, dT=d, dW=1, dH=1), v) == "same"
