"""A converted model fine-tuned in PyTorch behaves, in ``train()`` mode, as the Torch7 model did in
training (nn/Dropout.lua v1 and v2, SpatialDropout, VolumetricDropout, RReLU, dpnn's WhiteNoise, batch
normalisation's batch statistics and momentum), and in ``eval()`` mode as it does at test time."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm

import t7convert


def _linear(rng: np.random.Generator, n_in: int, n_out: int):
    return tm.module("nn.Linear", weight=rng.standard_normal((n_out, n_in)).astype(np.float32),
                     bias=rng.standard_normal(n_out).astype(np.float32))


def _load(tmp_path, model, *, through_file: bool = False) -> torch.nn.Module:
    src = tm.save(tmp_path, "m", model)
    if not through_file:
        return t7convert.load(str(src))
    t7convert.convert(str(src), str(tmp_path / "m.pth"), force=True)
    return t7convert.load(str(tmp_path / "m.pth"))


@pytest.mark.parametrize("through_file", [False, True], ids=["load-t7", "converted-pth"])
def test_dropout_v2_drops_and_rescales_in_train_mode_and_is_the_identity_in_eval(tmp_path, through_file):
    model = _load(tmp_path, tm.sequential(tm.module("nn.Dropout", p=0.5, v2=True)), through_file=through_file)
    x = torch.from_numpy(np.random.default_rng(1).uniform(1, 2, (64, 64)).astype(np.float32))
    assert torch.equal(model(x), x)
    model.train()
    torch.manual_seed(3)
    a, b = model(x), model(x)
    assert not torch.equal(a, b), "two forward passes in train mode must draw two masks"
    for y in (a, b):
        dropped = y == 0
        assert 0.4 < dropped.float().mean().item() < 0.6
        torch.testing.assert_close(y[~dropped], x[~dropped] / 0.5, rtol=0, atol=0)
    model.eval()
    assert torch.equal(model(x), x)


def test_dropout_v1_masks_without_rescaling_in_train_mode_and_scales_in_eval(tmp_path):
    model = _load(tmp_path, tm.sequential(tm.module("nn.Dropout", p=0.25)))  # no v2 field: v1
    x = torch.from_numpy(np.random.default_rng(2).uniform(1, 2, (64, 64)).astype(np.float32))
    torch.testing.assert_close(model(x), x * 0.75, rtol=0, atol=0)
    model.train()
    torch.manual_seed(4)
    y = model(x)
    dropped = y == 0
    assert 0.18 < dropped.float().mean().item() < 0.32
    assert torch.equal(y[~dropped], x[~dropped])


def test_fbnn_dropout_trains_like_the_original_dropout(tmp_path):
    model = _load(tmp_path, tm.sequential(tm.module("fbnn.Dropout", p=0.5)))
    x = torch.from_numpy(np.random.default_rng(5).uniform(1, 2, (32, 32)).astype(np.float32))
    model.train()
    torch.manual_seed(6)
    y = model(x)
    assert torch.equal(y[y != 0], x[y != 0]) and (y == 0).any()


@pytest.mark.parametrize("cls,shape", [("nn.SpatialDropout", (8, 16, 5, 5)), ("nn.SpatialDropout", (16, 5, 5)),
                                       ("nn.VolumetricDropout", (8, 16, 2, 3, 3))])
def test_spatial_dropout_drops_whole_planes_in_train_mode(tmp_path, cls, shape):
    model = _load(tmp_path, tm.sequential(tm.module(cls, p=0.5)))
    x = torch.from_numpy(np.random.default_rng(7).uniform(1, 2, shape).astype(np.float32))
    torch.testing.assert_close(model(x), x * 0.5, rtol=0, atol=0)
    model.train()
    torch.manual_seed(8)
    y = model(x)
    trailing = 3 if cls == "nn.VolumetricDropout" else 2
    planes = y.reshape(*y.shape[: y.dim() - trailing], -1)
    whole = (planes == 0).all(-1) | (planes == x.reshape(planes.shape)).all(-1)
    assert whole.all(), "each plane is dropped or kept whole, never rescaled"
    assert (planes == 0).all(-1).any() and not (planes == 0).all()


def test_rrelu_draws_its_negative_slopes_in_train_mode_and_uses_their_mean_in_eval(tmp_path):
    model = _load(tmp_path, tm.sequential(tm.module("nn.RReLU", lower=0.1, upper=0.5, inplace=False)))
    x = torch.from_numpy(np.random.default_rng(9).standard_normal((64, 64)).astype(np.float32))
    torch.testing.assert_close(model(x), torch.where(x > 0, x, x * 0.3), rtol=0, atol=0)
    model.train()
    torch.manual_seed(10)
    y = model(x)
    neg = x <= 0
    assert torch.equal(y[~neg], x[~neg])
    slopes = y[neg] / x[neg]
    assert slopes.min() >= 0.1 - 1e-6 and slopes.max() <= 0.5 + 1e-6 and slopes.std() > 0.05


def test_white_noise_adds_noise_in_train_mode_and_its_mean_in_eval(tmp_path):
    model = _load(tmp_path, tm.sequential(tm.module("nn.WhiteNoise", mean=0.25, std=0.5)))
    x = torch.from_numpy(np.random.default_rng(11).standard_normal((128, 128)).astype(np.float32))
    torch.testing.assert_close(model(x), x + 0.25, rtol=0, atol=0)
    model.train()
    torch.manual_seed(12)
    noise = model(x) - x
    assert abs(noise.mean().item() - 0.25) < 0.02 and abs(noise.std().item() - 0.5) < 0.02


def test_batch_norm_trains_on_batch_statistics_with_the_files_momentum(tmp_path):
    rng = np.random.default_rng(13)
    bn = tm.module("nn.BatchNormalization", 2, eps=1e-5, momentum=0.3, affine=True,
                   running_mean=rng.standard_normal(4).astype(np.float32),
                   running_var=rng.uniform(0.5, 2, 4).astype(np.float32),
                   weight=rng.uniform(0.5, 1.5, 4).astype(np.float32), bias=rng.standard_normal(4).astype(np.float32))
    model = _load(tmp_path, tm.sequential(_linear(rng, 3, 4), bn))
    x = torch.from_numpy(rng.standard_normal((16, 3)).astype(np.float32))
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))
    mean0, var0 = norm.running_mean.clone(), norm.running_var.clone()
    model.train()
    y = model(x)
    h = model.get_submodule("m1")(x).detach()
    # THNN BatchNormalization in training: the batch's mean and biased variance normalise; the running
    # statistics move by momentum towards the batch mean and the unbiased variance.
    want = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + 1e-5) * norm.weight + norm.bias
    torch.testing.assert_close(y, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(norm.running_mean, 0.7 * mean0 + 0.3 * h.mean(0), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(norm.running_var, 0.7 * var0 + 0.3 * h.var(0, unbiased=True), rtol=1e-6, atol=1e-6)


def test_print_of_a_converted_model_says_what_each_stochastic_module_does(tmp_path):
    model = _load(tmp_path, tm.sequential(tm.module("nn.Dropout", p=0.5, v2=True), tm.module("nn.Dropout", p=0.3),
                                          tm.module("nn.SpatialDropout", p=0.2),
                                          tm.module("nn.RReLU", lower=0.1, upper=0.5, inplace=False)))
    text = str(model)
    assert "Dropout[nn.Dropout](p=0.5, train: mask per element / 0.5; eval: identity)" in text
    assert "Dropout[nn.Dropout](p=0.3, train: mask per element, not rescaled; eval: x * 0.7)" in text
    assert "Dropout[nn.SpatialDropout](p=0.2, train: mask per plane, not rescaled; eval: x * 0.8)" in text
    assert "RReLU[nn.RReLU]" in text and "eval: slope 0.3" in text
