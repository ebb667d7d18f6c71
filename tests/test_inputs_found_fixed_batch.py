"""A layer that fixes the batch: facebookresearch/deepmask's trunk ends in ``nn.View(config.batch, n)``
(DeepMask.lua's createTrunk), which takes exactly that batch (Torch7's View: a batch of b viewed as
b*n / (B*n) rows of (B, n), so only b = B gives (B, n) rows for the Linear after it). The default command
verifies such a model at that batch and says which layer fixed it; a model whose batch is free still
verifies at batch 1; a hostile fixed batch is refused in one line, never allocated."""
from __future__ import annotations

import numpy as np
import torch
import torch7_models as tm
from click.testing import CliRunner

import t7convert
from t7convert import api
from t7convert.cli import cli
from t7convert.interpreter import run as reference_run

M = tm.module


def _deepmask(batch: int):
    """DeepMask.lua's shape at a small scale: a trunk of convolutions, ReLU (in place), max pooling and
    ``nn.View(batch, 4*5*5)``, Linear to 12; the mask branch (a Sequential in a Sequential: Linear to 9)
    and the score branch (Dropout, Linear to 6, Threshold(0, 1e-6), Linear to 1)."""
    trunk = tm.sequential(tm.conv(3, 8, 3, 3, 1, 1, 1, 1, cls="nn.SpatialConvolution"),
                          M("nn.ReLU", threshold=0, val=0, inplace=True), tm.maxpool(2, 2, 2, 2),
                          tm.conv(8, 4, 3, 3, 1, 1, 1, 1, cls="nn.SpatialConvolution"),
                          tm.view(batch, 4 * 5 * 5), tm.linear(100, 12))
    score = tm.sequential(M("nn.Dropout", p=0.5, v2=True, inplace=False), tm.linear(12, 6),
                          M("nn.Threshold", threshold=0, val=1e-6, inplace=False), tm.linear(6, 1))
    return M("nn.DeepMask", None, trunk=trunk, maskBranch=tm.sequential(tm.sequential(tm.linear(12, 9))),
             scoreBranch=score, fSz=5)


def _convert_cli(src, out, *extra: str):
    return CliRunner().invoke(cli, [str(src), "-o", str(out), *extra])


def test_deepmask_whose_trunk_view_fixes_the_batch_converts_with_the_default_command(tmp_path):
    """TrainerDeepMask's ``{config, model}`` with config.batch 8: no option needed; the summary names the
    batch and the View; the converted model computes the reference's {mask, score} on a batch of 8."""
    src = tm.save(tmp_path, "model", {"config": {"iSz": 10, "batch": 8}, "model": _deepmask(8)})
    out = tmp_path / "deepmask.pth"
    result = _convert_cli(src, out)
    assert result.exit_code == 0, result.output
    assert "input: 3x10x10 (batch of 8, fixed by modules[1].modules[5] (nn.View(8, 100)))" in result.output
    assert "PASS" in result.output
    module = t7convert.load(str(out))
    assert module.data_config["fixed_batch"] == 8
    x = np.random.default_rng(5).standard_normal((8, 3, 10, 10)).astype(np.float32)
    want = reference_run(t7convert.read(src)["model"], x).output
    with torch.no_grad():
        got = module(torch.from_numpy(x))
    assert [tuple(g.shape) for g in got] == [(8, 9), (8, 1)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-5, atol=1e-5)


def test_a_reshape_of_fixed_sizes_fixes_the_batch_likewise(tmp_path):
    """``nn.Reshape(4, 100, true)`` with batchMode false views the whole input as 4x100: only a batch of 4
    of 4x5x5 maps (Reshape.lua); the default command verifies on it, the API's report says so."""
    reshape = M("nn.Reshape", size=np.array([4, 100], np.int64), nelement=400, batchMode=False)
    model = tm.sequential(tm.conv(3, 4, 3, 3, 1, 1, 1, 1, cls="nn.SpatialConvolution"), reshape, tm.linear(100, 5))
    src = tm.save(tmp_path, "reshape", model)
    result = _convert_cli(src, tmp_path / "reshape.pth")
    assert result.exit_code == 0, result.output
    assert "(batch of 4, fixed by modules[2] (nn.Reshape(4, 100)))" in result.output
    report = api.convert(str(src), str(tmp_path / "api.pth"), force=True)
    assert (report.batch, report.input.shape) == (4, (3, 5, 5))
    assert report.to_json()["batch_fixed_by"] == "modules[2] (nn.Reshape(4, 100))"


def test_a_given_input_takes_the_batch_the_layer_fixes_and_parity_too(tmp_path):
    src = tm.save(tmp_path, "dm", _deepmask(6))
    report = api.convert(str(src), str(tmp_path / "dm.pth"), input="3x10x10")
    assert report.verification.ok and report.batch == 6
    run = api.parity(str(src))
    assert run.ok


def test_a_model_whose_batch_is_free_still_verifies_at_batch_1(tmp_path):
    """DCGAN's generator views each sample's vector as planes (``nn.View(4, 2, 2)``, per sample): a shape
    that runs on a batch of 1, so the verification stays at batch 1 and names no layer."""
    net_g = tm.sequential(tm.linear(5, 16), tm.view(4, 2, 2),
                          M("nn.SpatialFullConvolution", nInputPlane=4, nOutputPlane=2, kW=2, kH=2, dW=2, dH=2,
                            padW=0, padH=0, adjW=0, adjH=0, weight=tm.f32(4, 2, 2, 2), bias=tm.f32(2)))
    src = tm.save(tmp_path, "net_g", net_g)
    result = _convert_cli(src, tmp_path / "g.pth")
    assert result.exit_code == 0, result.output
    assert "input: 5 (batch of 1), from" in result.output and "fixed by" not in result.output
    report = api.convert(str(src), str(tmp_path / "g2.pth"))
    assert report.batch == 1 and report.batch_fixed_by == ""


def test_a_hostile_fixed_batch_is_an_input_error_never_an_allocation(tmp_path):
    """``nn.View(2^40, 36)``: its input would be 3e13 elements: exit 2, one line naming the layer, nothing
    written."""
    model = tm.sequential(tm.conv(3, 4, 3, 3, 1, 1, 1, 1, cls="nn.SpatialConvolution"), tm.view(2 ** 40, 36),
                          tm.linear(36, 5))
    src = tm.save(tmp_path, "hostile", model)
    out = tmp_path / "hostile.pth"
    result = _convert_cli(src, out)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "modules[2] (nn.View(1099511627776, 36))" in lines[0] and "--no-verify" in lines[0]
    assert not out.exists()


def test_a_fixed_batch_past_the_memory_limit_is_refused_naming_the_layer(tmp_path):
    """A fixed batch of 4096 images of 3x64x64: planned, not run; the line names the View and
    --memory-limit."""
    model = tm.sequential(tm.conv(3, 2, 3, 3, 1, 1, 1, 1, cls="nn.SpatialConvolution"), tm.view(4096, 2 * 64 * 64),
                          tm.linear(2 * 64 * 64, 3))
    src = tm.save(tmp_path, "big", model)
    result = _convert_cli(src, tmp_path / "big.pth", "--memory-limit", "100MB")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "4096x3x64x64" in lines[0] and "nn.View(4096, 8192)" in lines[0] and "--memory-limit" in lines[0]
    assert not (tmp_path / "big.pth").exists()
