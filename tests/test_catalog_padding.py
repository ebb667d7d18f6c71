"""Padding: the reference against formulas from nn's Lua and THNN's C (negative amounts crop, reflection
leaves the edge out, replication repeats it, nn.Padding inserts before an index), the converted model
against the reference, bad fields refused, and the catalog files against real Torch7."""
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


def pad(cls, left, right, top, bottom):
    return M(cls, pad_l=left, pad_r=right, pad_t=top, pad_b=bottom)


@pytest.mark.parametrize("cls,mode", [("nn.SpatialZeroPadding", "constant"), ("nn.SpatialReflectionPadding", "reflect"),
                                      ("nn.SpatialReplicationPadding", "edge")])
def test_negative_amounts_crop_and_positive_ones_pad(tmp_path, cls, mode):
    x = tm.f32(2, 3, 5, 6)
    _, want = convert_and_run_strict(tmp_path, pad(cls, 2, -1, -2, 1), x)
    cropped = x[:, :, 2:, :-1].astype(np.float64)
    assert rel(want, np.pad(cropped, ((0, 0), (0, 0), (0, 1), (2, 0)), mode=mode)) == 0


def test_volumetric_replication_pads_time_height_width(tmp_path):
    x = tm.f32(2, 3, 3, 4)  # unbatched: planes x T x H x W
    m = M("nn.VolumetricReplicationPadding", pleft=1, pright=0, ptop=2, pbottom=1, pfront=0, pback=2)
    _, want = convert_and_run_strict(tmp_path, m, x)
    assert rel(want, np.pad(x.astype(np.float64), ((0, 0), (0, 2), (2, 1), (1, 0)), mode="edge")) == 0


def test_padding_module_inserts_a_block_before_an_index(tmp_path):
    x = tm.f32(2, 3, 4)
    xd = x.astype(np.float64)
    # negative pad: before entry `index` (3) of dimension 2 (+1 for the batch past nInputDim 2)
    _, before = convert_and_run_strict(tmp_path, M("nn.Padding", dim=2, pad=-2, nInputDim=2, value=1.5, index=3), x)
    assert rel(before, np.concatenate([xd[:, :, :2], np.full((2, 3, 2), 1.5), xd[:, :, 2:]], 2)) == 0
    # positive pad: before entry size - index + 2 = 3 of the 3 rows, so one row keeps after the block
    _, after = convert_and_run_strict(tmp_path, M("nn.Padding", dim=1, pad=2, nInputDim=2, value=-1, index=2), x)
    assert rel(after, np.concatenate([xd[:, :2], np.full((2, 2, 4), -1.0), xd[:, 2:]], 1)) == 0


def test_padding_index_out_of_range_is_refused_by_both(tmp_path):
    model = M("nn.Padding", dim=1, pad=-1, index=7)
    with pytest.raises(ModelError, match="index"):
        reference_run(model, np.zeros((3, 2)))
    with pytest.raises(T7ConvertError, match="index"), torch.no_grad():
        t7convert.load(str(tm.save(tmp_path, "p", model)))(torch.zeros(3, 2))


def test_reflection_as_wide_as_the_input_is_refused_by_both(tmp_path):
    model = pad("nn.SpatialReflectionPadding", 3, 0, 0, 0)
    with pytest.raises(ModelError):
        reference_run(model, np.zeros((1, 1, 3, 3)))
    with pytest.raises(T7ConvertError), torch.no_grad():
        t7convert.load(str(tm.save(tmp_path, "r", model)))(torch.zeros(1, 1, 3, 3))


@pytest.mark.parametrize("model,words", [
    (M("nn.SpatialZeroPadding", pad_l=1.5), ("nn.SpatialZeroPadding", "pad_l")),
    (M("nn.VolumetricReplicationPadding"), ("nn.VolumetricReplicationPadding", "pleft")),
    (M("nn.Padding", dim=0, pad=1), ("nn.Padding", "dim")),
], ids=["fractional-amount", "missing-amount", "dimension-zero"])
def test_bad_fields_are_refused_naming_class_field_and_path(tmp_path, model, words):
    src = tm.save(tmp_path, "bad", tm.sequential(model))
    with pytest.raises(T7ConvertError) as e:
        api.convert(str(src), str(tmp_path / "bad.pth"), input_shape=(3, 4, 4))
    assert all(w in str(e.value) for w in words) and "modules[1]" in str(e.value)
    out = tmp_path / "cli.pth"
    result = CliRunner().invoke(cli, [str(src), "-o", str(out), "--input-size", "3,4,4"])
    assert result.exit_code == 2 and not out.exists()


FIXTURE_IDS = ["spatialzeropadding", "spatialreflectionpadding", "spatialreplicationpadding",
               "volumetricreplicationpadding", "padding"]


@pytest.mark.parametrize("fixture_id", FIXTURE_IDS)
def test_catalog_file_reproduces_torch7s_output(torch7_fixtures, fixture_id):
    folder = torch7_fixtures / "torch7" / "catalog"
    ref = t7convert.read(folder / f"{fixture_id}.ref.t7")
    x, want = np.asarray(ref["input"], np.float32), np.asarray(ref["output"])
    with torch.no_grad():
        got = t7convert.load(str(folder / f"{fixture_id}.t7"))(torch.from_numpy(x)).numpy()
    assert rel(got, want) <= 1e-5
    assert rel(reference_run(t7convert.read(folder / f"{fixture_id}.t7"), x).output, want) <= 1e-5


def convert_and_run_strict(tmp_path, model, x):
    """Padding only moves values: the converted model equals the reference to 1e-6."""
    return convert_and_run(tmp_path, model, x, tol=1e-6)
