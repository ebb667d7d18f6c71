"""Normalize, SpatialCrossMapLRN, LayerNormalization, InstanceNormalization, the local normalisations and
batch norm's other forms (volumetric, one sample): the reference execution against NumPy formulas
written here from the Lua code, refusals naming class, field and place, and the catalog files written
by real Torch7."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch7_models as tm
from catalog_checks import rel
from layer_cases import normalization_more as cases

import t7convert
from t7convert import api
from t7convert.common.errors import T7ConvertError
from t7convert.interpreter import run as reference_run


def both(tmp_path, model, x: np.ndarray):
    """(converted output, reference output) after a verified conversion."""
    src = tm.save(tmp_path, "m", model)
    api.convert(str(src), str(tmp_path / "m.pth"), input_shape=x.shape[1:], batch=x.shape[0], force=True)
    with torch.no_grad():
        got = t7convert.load(str(tmp_path / "m.pth"))(torch.from_numpy(x.astype(np.float32))).numpy()
    return got, reference_run(t7convert.read(src), x).output


def test_normalize_adds_eps_inside_the_root_and_inf_is_the_max(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 5))
    for p, eps, norm in [(2, 0.5, (np.sum(x ** 2, 1) + 0.5) ** 0.5),
                         (3, 0.1, (np.sum(np.abs(x) ** 3, 1) + 0.1) ** (1 / 3)),
                         (math.inf, 0.2, np.abs(x).max(1) + 0.2)]:
        got, ref = both(tmp_path, cases.normalize(p, eps), x)
        assert rel(ref, x / norm[:, None]) < 1e-12 and rel(got, ref) < 1e-5
    got, ref = both(tmp_path, cases.normalize(2, 0.0), x[:1].reshape(1, 5))
    assert rel(ref, x[:1] / np.linalg.norm(x[0])) < 1e-12


def test_lrn_sums_squares_over_the_centred_window_of_planes(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 3, 3))
    size, alpha, beta, k = 5, 0.3, 0.75, 2.0
    padded = np.pad(x ** 2, ((0, 0), (2, 2), (0, 0), (0, 0)))
    window = sum(padded[:, i:i + 6] for i in range(size))
    got, ref = both(tmp_path, cases.lrn(size, alpha, beta, k), x)
    assert rel(ref, x * (k + alpha / size * window) ** -beta) < 1e-12 and rel(got, ref) < 1e-5


def test_layer_norm_of_a_batch_subtracts_means_in_torch7s_memory_order(tmp_path):
    """Mean(1, 1) then Replicate(n, 1, 1) gives an (n, N) tensor; CSubTable pairs it with (N, n) by
    element order, so element (i, j) loses the mean of row (i*n + j) mod N."""
    rng = np.random.default_rng(5)
    model = cases.layer_norm(5, 1e-5)
    gain, bias = (model.children[k].get(f) for k, f in ((4, "weight"), (5, "bias")))
    x = rng.standard_normal((3, 5))
    means = x.mean(1)[np.arange(15) % 3].reshape(3, 5)
    d = x - means
    want = d / np.sqrt((d ** 2).sum(1, keepdims=True) + 1e-5) * math.sqrt(5) * gain + bias
    got, ref = both(tmp_path, model, x)
    assert rel(ref, want) < 1e-12 and rel(got, ref) < 1e-5
    one = x[:1]
    d1 = one - one.mean()
    assert rel(both(tmp_path, model, one)[1], d1 / np.sqrt((d1 ** 2).sum() + 1e-5) * math.sqrt(5) * gain + bias) < 1e-12


def _bn_batch_of_one(x, mean, var, eps, weight, bias):
    """nn.SpatialBatchNormalization on the (1, N*C, H, W) view, from BatchNormalization.lua: THNN gets
    ``train and input:size(1) > 1``, false for a batch of one, so ``(x - running_mean[k]) /
    sqrt(running_var[k] + eps) * weight[k] + bias[k]`` for plane k = n*C + c."""
    n, c = x.shape[:2]
    planes = x.reshape(n * c, -1)
    out = (planes - mean[:, None]) / np.sqrt(var[:, None] + eps)
    if weight is not None:
        out = out * np.tile(weight, n)[:, None] + np.tile(bias, n)[:, None]
    return out.reshape(x.shape)


def test_instance_norm_runs_its_inner_batch_norm_on_running_statistics_not_the_instances_own(tmp_path):
    """fast-neural-style's InstanceNormalization.lua forwards the (1, N*C, H, W) view through a new
    SpatialBatchNormalization(N*C, eps) (running mean 0, variance 1) when N is not ``prev_N``; real
    Torch7 (torch/nn since 2017) then gives x * w / sqrt(1 + eps) + b, not per-instance statistics
    (which differ from it by about 2 relative: the wrong number t7convert used to verify)."""
    rng = np.random.default_rng(53)
    model = cases.instance_norm(3, 1e-3)
    x = rng.standard_normal((2, 3, 4, 5)) * 3 + 1
    w, b = (model.get(f).astype(np.float64) for f in ("weight", "bias"))
    want = x * w.reshape(1, 3, 1, 1) / np.sqrt(1 + 1e-3) + b.reshape(1, 3, 1, 1)
    got, ref = both(tmp_path, model, x)
    assert rel(ref, want) < 1e-12 and rel(got, ref) < 1e-5
    per_instance = (x - x.mean((2, 3), keepdims=True)) / np.sqrt(x.var((2, 3), keepdims=True) + 1e-3)
    assert rel(got, per_instance * w.reshape(1, 3, 1, 1) + b.reshape(1, 3, 1, 1)) > 0.1


def test_instance_norm_saved_after_a_batch_of_that_size_uses_its_saved_bn(tmp_path):
    """N == prev_N (and the same _type): the saved ``bn`` is reused, its running statistics and eps."""
    rng = np.random.default_rng(52)
    model = cases.instance_norm(3, 1e-5, saved_for=2)
    bn = model.get("bn")
    bn.fields["eps"] = 1e-2
    x = rng.standard_normal((2, 3, 3, 4))
    w, b = (model.get(f).astype(np.float64) for f in ("weight", "bias"))
    mean, var = (bn.get(f).astype(np.float64) for f in ("running_mean", "running_var"))
    got, ref = both(tmp_path, model, x)
    assert rel(ref, _bn_batch_of_one(x, mean, var, 1e-2, w, b)) < 1e-12 and rel(got, ref) < 1e-5
    other = rng.standard_normal((1, 3, 3, 4))  # another N: a new bn, mean 0 and variance 1, eps the module's
    got1, ref1 = both(tmp_path, model, other)
    assert rel(ref1, _bn_batch_of_one(other, np.zeros(3), np.ones(3), 1e-5, w, b)) < 1e-12 and rel(got1, ref1) < 1e-5


@pytest.mark.parametrize("affine", [True, False])
def test_texture_nets_instance_norm_starts_a_new_bn_from_its_own_running_statistics(tmp_path, affine):
    """texture_nets' InstanceNormalization.lua copies ``running_mean``/``running_var:repeatTensor(N)`` into
    a new bn; its evaluate()/training() do nothing, and the batch of one makes THNN use those."""
    rng = np.random.default_rng(51)
    model = cases.texture_nets_instance_norm(2, 1e-4, affine=affine, saved_for=3)
    x = rng.standard_normal((2, 2, 3, 3))
    mean, var = (np.tile(model.get(f).astype(np.float64), 2) for f in ("running_mean", "running_var"))
    w, b = (model.get(f).astype(np.float64) if affine else None for f in ("weight", "bias"))
    got, ref = both(tmp_path, model, x)
    assert rel(ref, _bn_batch_of_one(x, mean, var, 1e-4, w, b)) < 1e-12 and rel(got, ref) < 1e-5


def test_instance_norm_copy_with_disabled_set_passes_its_input_through(tmp_path):
    rng = np.random.default_rng(50)
    model = tm.module("nn.InstanceNormalization", nOutput=2, eps=1e-5, prev_N=-1, disabled=True, affine=True,
                      weight=tm.f32(2), bias=tm.f32(2))
    x = rng.standard_normal((1, 2, 3, 3))
    got, ref = both(tmp_path, model, x)
    assert rel(ref, x) == 0 and rel(got, ref) < 1e-6


def test_texture_nets_instance_norm_with_affine_nil_is_refused(tmp_path):
    model = cases.texture_nets_instance_norm(2)
    del model.fields["affine"]
    src = tm.save(tmp_path, "m", model)
    with pytest.raises(T7ConvertError, match="InstanceNormalization.*affine"):
        api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(2, 3, 3))


def _local_mean(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Sum over planes and the kernel window, zeros outside the image."""
    kh, kw = kernel.shape
    padded = np.pad(x.sum(1), ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
    h, w = x.shape[2:]
    return sum(kernel[a, b] * padded[:, a:a + h, b:b + w] for a in range(kh) for b in range(kw))[:, None]


def test_subtractive_normalization_corrects_the_borders_by_the_kernels_share_inside(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 7))
    k = np.ones((3, 5)) / (15 * 3)
    coef = _local_mean(np.ones((1, 3, 6, 7)), k)
    got, ref = both(tmp_path, cases.subtractive(3, np.ones((3, 5), np.float32)), x)
    assert rel(ref, x - _local_mean(x, k) / coef) < 1e-6 and rel(got, ref) < 1e-5


def test_divisive_normalization_thresholds_the_border_corrected_local_std(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 5, 5))
    k = np.ones((3, 3)) / (9 * 2)
    coef = _local_mean(np.ones((1, 2, 5, 5)), k)
    std = np.sqrt(_local_mean(x ** 2, k)) / coef
    got, ref = both(tmp_path, cases.divisive(2, np.ones((3, 3), np.float32), 0.9, 5.0), x)
    assert rel(ref, x / np.where(std > 0.9, std, 5.0)) < 1e-6 and rel(got, ref) < 1e-5


def test_one_sample_batch_norm_keeps_a_batch_of_one(tmp_path):
    rng = np.random.default_rng(5)
    bn = tm.batchnorm(4, spatial=False)
    x = rng.standard_normal(4)
    src = tm.save(tmp_path, "bn", bn)
    ref = reference_run(t7convert.read(src), x).output
    with torch.no_grad():
        got = t7convert.load(str(src))(torch.from_numpy(x.astype(np.float32))).numpy()
    assert ref.shape == got.shape == (1, 4) and rel(got, ref) < 1e-5


# --- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize("model, field", tm.drawn(1, lambda: [
    (cases.lrn(4), "size"),
    (cases.normalize(-1), "p"),
    (tm.module("nn.InstanceNormalization", weight=tm.f32(3), bias=tm.f32(4), eps=1e-5), "bias"),
]))
def test_bad_fields_are_refused_naming_class_field_and_place(tmp_path, model, field):
    src = tm.save(tmp_path, "m", tm.sequential(tm.linear(3, 3), model))
    with pytest.raises(T7ConvertError, match=rf"{model.class_name.split('.')[1]} at modules\[2\].*{field}"):
        api.convert(str(src), str(tmp_path / "m.pth"), input_shape=(3,))
    assert not (tmp_path / "m.pth").exists()


@pytest.mark.slow
def test_a_layer_norm_whose_gain_has_another_size_is_refused_by_the_cli(tmp_path):
    model = cases.layer_norm(4)
    model.children[4].fields["weight"] = tm.f32(5)
    src = tm.save(tmp_path, "m", model)
    out = tmp_path / "m.pth"
    result = subprocess.run([sys.executable, "-m", "t7convert", str(src), "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "LayerNormalization" in result.stderr and "weight" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


# --- files written by real Torch7 ----------------------------------------------------------------
FIXTURE_IDS = ["batchnorm", "spatialbatchnormalization", "layernorm", "normalize", "spatialcrossmaplrn",
               "spatialsubtractivenormalization", "spatialdivisivenormalization", "spatialcontrastivenormalization"]


@pytest.mark.parametrize("fixture_id", FIXTURE_IDS)
def test_reproduces_real_torch7(torch7_fixtures, fixture_id):
    folder = torch7_fixtures / "torch7" / "catalog"
    ref = t7convert.read(folder / f"{fixture_id}.ref.t7")
    x = np.array(ref["input"], np.float32)
    with torch.no_grad():
        got = t7convert.load(str(folder / f"{fixture_id}.t7"))(torch.from_numpy(x)).numpy()
    assert rel(got, np.array(ref["output"])) <= 1e-5
    assert rel(reference_run(t7convert.read(folder / f"{fixture_id}.t7"), x).output, np.array(ref["output"])) <= 1e-5


def test_cudnn_lrn_takes_an_old_files_K_over_k(tmp_path):
    """cudnn.SpatialCrossMapLRN:updateOutput moves ``K`` (old files) into ``k`` before running."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 3, 2, 2))
    model = tm.module("cudnn.SpatialCrossMapLRN", size=3, alpha=0.3, beta=0.5, k=1.0, K=4.0)
    padded = np.pad(x ** 2, ((0, 0), (1, 1), (0, 0), (0, 0)))
    window = sum(padded[:, i:i + 3] for i in range(3))
    got, ref = both(tmp_path, model, x)
    assert rel(ref, x * (4.0 + 0.1 * window) ** -0.5) < 1e-12 and rel(got, ref) < 1e-5
