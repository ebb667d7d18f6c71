"""Up-sampling and PixelShuffle: the reference against formulas from THNN's C (nearest repeats, the
align-corners source positions computed in float32), the converted model against the reference,
bad fields refused, and the catalog files against real Torch7."""
from __future__ import annotations

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

M = tm.module


def test_nearest_up_sampling_repeats_each_value(tmp_path):
    x = tm.f32(3, 2, 3)  # unbatched
    _, want = convert_and_run(tmp_path, M("nn.SpatialUpSamplingNearest", scale_factor=3), x)
    assert rel(want, x.repeat(3, 1).repeat(3, 2)) == 0
    y = tm.f32(1, 2, 2, 2, 3)
    _, vol = convert_and_run(tmp_path, M("nn.UpSampling", scale_factor=2, mode="nearest"), y)
    assert rel(vol, y.repeat(2, 2).repeat(2, 3).repeat(2, 4)) == 0


def test_bilinear_up_sampling_aligns_corners(tmp_path):
    """src = dst * (in - 1) / (out - 1): the corners are the input's, a row between two is their mean."""
    x = tm.f32(1, 1, 2, 3)
    _, want = convert_and_run(tmp_path, M("nn.SpatialUpSamplingBilinear", owidth=5, oheight=3), x)
    xd = x.astype(np.float64)[0, 0]
    assert rel(want[0, 0, [0, -1]][:, [0, -1]], xd[[0, -1]][:, [0, -1]]) <= 1e-7
    assert rel(want[0, 0, 1, ::2], (xd[0] + xd[1]) / 2) <= 1e-7
    assert rel(want[0, 0, 0, 1], (xd[0, 0] + xd[0, 1]) / 2) <= 1e-7


def test_linear_up_sampling_positions_are_float32_as_in_thnn():
    """THNN computes r = (float)(in - 1) / (out - 1) and r * o in float even for double tensors; in
    float64 the interpolation of a 224 -> 448 ramp would land elsewhere by ~1e-5."""
    x = np.arange(224, dtype=np.float64)[None, None, None, :].repeat(2, 2)
    out = reference_run(M("nn.SpatialUpSamplingBilinear", scale_factor=2), x).output[0, 0, 0]
    f = np.float32
    src = (f(223) / f(447) * np.arange(448, dtype=f)).astype(f)
    assert np.abs(out - src.astype(np.float64)).max() < 1e-12


def test_pixel_shuffle_moves_channel_blocks_to_pixels(tmp_path):
    x = tm.f32(2, 8, 2, 3)
    _, want = convert_and_run(tmp_path, M("nn.PixelShuffle", upscaleFactor=2, upscaleFactorSquared=4), x)
    for c, i, j, h, w in [(0, 0, 0, 0, 0), (1, 1, 0, 1, 2), (1, 1, 1, 0, 1)]:
        assert want[:, c, 2 * h + i, 2 * w + j].tolist() == x[:, c * 4 + i * 2 + j, h, w].tolist()


@pytest.mark.parametrize("model,shape,words", [
    (M("nn.SpatialUpSamplingNearest", scale_factor=0), (1, 2, 3, 3), ("nn.SpatialUpSamplingNearest", "scale_factor")),
    (M("nn.SpatialUpSamplingBilinear", owidth=0, oheight=3), (1, 2, 3, 3), ("nn.SpatialUpSamplingBilinear", "size")),
    (M("nn.UpSampling", scale_factor=2, mode="cubic"), (1, 2, 3, 3), ("nn.UpSampling", "mode")),
    (M("nn.PixelShuffle", upscaleFactor=0), (1, 4, 3, 3), ("nn.PixelShuffle", "upscaleFactor")),
], ids=["zero-scale", "zero-size", "unknown-mode", "zero-factor"])
def test_bad_fields_are_refused_naming_class_field_and_path(tmp_path, model, shape, words):
    src = tm.save(tmp_path, "bad", tm.sequential(model))
    with pytest.raises(T7ConvertError) as e:
        api.convert(str(src), str(tmp_path / "bad.pth"), input_shape=shape[1:])
    assert all(w in str(e.value) for w in words) and "modules[1]" in str(e.value)
    out = tmp_path / "cli.pth"
    result = CliRunner().invoke(cli, [str(src), "-o", str(out), "--input-size", ",".join(map(str, shape[1:]))])
    assert result.exit_code == 2 and not out.exists()


def test_pixel_shuffle_of_channels_not_divisible_is_refused_by_both(tmp_path):
    model = M("nn.PixelShuffle", upscaleFactor=2, upscaleFactorSquared=4)
    with pytest.raises(ModelError):
        reference_run(model, np.zeros((1, 6, 2, 2)))
    with pytest.raises(T7ConvertError), torch.no_grad():
        t7convert.load(str(tm.save(tmp_path, "p", model)))(torch.zeros(1, 6, 2, 2))


FIXTURE_IDS = ["spatialupsamplingnearest", "spatialupsamplingbilinear", "upsampling_nearest", "pixelshuffle"]


@pytest.mark.parametrize("fixture_id", FIXTURE_IDS)
def test_catalog_file_reproduces_torch7s_output(torch7_fixtures, fixture_id):
    folder = torch7_fixtures / "torch7" / "catalog"
    ref = t7convert.read(folder / f"{fixture_id}.ref.t7")
    x, want = np.asarray(ref["input"], np.float32), np.asarray(ref["output"])
    with torch.no_grad():
        got = t7convert.load(str(folder / f"{fixture_id}.t7"))(torch.from_numpy(x)).numpy()
    assert rel(got, want) <= 1e-5
    assert rel(reference_run(t7convert.read(folder / f"{fixture_id}.t7"), x).output, want) <= 1e-5
