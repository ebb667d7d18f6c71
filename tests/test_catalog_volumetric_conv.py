"""nn.VolumetricConvolution, cudnn.VolumetricConvolution, nn.VolumetricDilatedConvolution: the reference
against a loop written from THNN's vol2col product with (T, W, H) fields in place, refusals, the
default input a volume's first layer asks for, and real Torch7's files."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm
from catalog_checks import assert_catalog_file_reproduces_torch7, assert_refused_naming, with_fields
from layer_cases import volumetric_conv as cases

import t7convert
from t7convert import api
from t7convert.interpreter import run as reference_run

M = tm.module


def test_dilated_volume_convolution_is_the_thnn_sum_over_t_h_w(tmp_path):
    rng = np.random.default_rng(17)
    m = cases.vol(n_in=2, n_out=2, k=(2, 3, 2), d=(1, 2, 1), pad=(1, 0, 2), dil=(2, 1, 3),
                  cls="nn.VolumetricDilatedConvolution")
    x = rng.standard_normal((2, 4, 5, 6))                 # one volume: C, T, H, W
    w, b = np.asarray(m.weight, np.float64), np.asarray(m.bias, np.float64)
    xp = np.pad(x, ((0, 0), (1, 1), (2, 2), (0, 0)))      # padT, padH, padW
    ot, oh, ow = (4 + 2 - 3) // 1 + 1, (5 + 4 - 4) // 1 + 1, (6 - 3) // 2 + 1
    want = np.zeros((2, ot, oh, ow))
    for o, t, y, z in np.ndindex(2, ot, oh, ow):
        want[o, t, y, z] = b[o] + sum(w[o, c, i, j, k] * xp[c, t + i * 2, y + j * 3, z * 2 + k]
                                      for c in range(2) for i in range(2) for j in range(2) for k in range(3))
    np.testing.assert_allclose(reference_run(m, x).output, want, rtol=1e-12, atol=1e-12)
    src = tm.save(tmp_path, "m", m)
    api.convert(str(src), str(tmp_path / "m.pth"), input_shape=x.shape[1:], batch=x.shape[0])
    with torch.no_grad():
        got = t7convert.load(str(tmp_path / "m.pth"))(torch.from_numpy(x.astype(np.float32))).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_a_volumetric_first_layer_asks_for_volumes_of_its_planes(tmp_path):
    src = tm.save(tmp_path, "m", cases.vol(n_in=2))
    report = api.convert(str(src), str(tmp_path / "m.pth"))
    assert report.input_shape[0] == 2 and len(report.input_shape) == 4




BAD = [
    ("weight", lambda: with_fields(cases.vol(), kT=3), "nn.VolumetricConvolution", "weight"),
    ("negative-pad", lambda: with_fields(cases.vol(), padT=-1), "nn.VolumetricConvolution", "padT"),
    ("zero-dilation", lambda: with_fields(cases.vol(dil=(1, 1, 1), cls="nn.VolumetricDilatedConvolution"), dilationW=0),
     "nn.VolumetricDilatedConvolution", "dilationW"),
    ("cudnn-bias", lambda: with_fields(cases.vol(cls="cudnn.VolumetricConvolution"), bias=tm.f32(4)),
     "cudnn.VolumetricConvolution", "bias"),
]


@pytest.mark.parametrize("build,cls,field", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_contradicting_fields_are_refused_naming_class_field_and_path(tmp_path, build, cls, field):
    assert_refused_naming(tmp_path, build(), cls, field, (2, 4, 5, 6))


FIXTURE_IDS = ["volumetricconvolution", "volumetricdilatedconvolution", "cudnn_volumetricconvolution"]


@pytest.mark.parametrize("name", FIXTURE_IDS)
def test_catalog_file_reproduces_torch7s_output(torch7_fixtures, tmp_path, name):
    assert_catalog_file_reproduces_torch7(torch7_fixtures, tmp_path, name)
