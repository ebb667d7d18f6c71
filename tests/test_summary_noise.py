"""The conversion summary says what matters: no "the trunk does not start like fb.resnet.torch's" on
every model that is no ResNet, "1 module" in the singular, and progress text without an empty first
field (``t7convert: , reading and converting``)."""
from __future__ import annotations

import io

import numpy as np
import torch7_models as tm
from click.testing import CliRunner

import t7convert
from t7convert.cli import cli


def _linear(seed: int):
    rng = np.random.default_rng(seed)
    return tm.module("nn.Linear", weight=rng.standard_normal((3, 4)).astype(np.float32),
                     bias=rng.standard_normal(3).astype(np.float32))


def _convert(tmp_path, model, *extra: str):
    t7convert.write(tmp_path / "m.t7", model)
    result = CliRunner().invoke(cli, [str(tmp_path / "m.t7"), "-o", str(tmp_path / "m.pth"), "--force", *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_summary_of_a_model_that_is_no_resnet_says_nothing_of_fb_resnet_torchs_trunk(tmp_path):
    out = _convert(tmp_path, tm.sequential(_linear(1), tm.relu()))
    assert "fb.resnet.torch" not in out and "generic module tree" not in out
    assert "recognised: generic graph of 3 modules" in out


def test_the_summary_says_why_a_model_it_was_asked_to_keep_generic_is_generic(tmp_path):
    from t7convert.torch7.synth import synthesize
    out = _convert(tmp_path, synthesize("resnext_tiny"), "--generic", "--no-verify")
    assert "generic module tree: --generic was given" in out


def test_one_module_is_said_in_the_singular(tmp_path):
    out = _convert(tmp_path, _linear(2))
    assert "recognised: generic graph of 1 module\n" in out


def test_progress_text_starts_with_its_words_not_an_empty_field(monkeypatch):
    from t7convert.cli import progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(progress.sys, "stderr", screen)
    bar = progress.StepBar(quiet=False)
    bar("reading and converting")
    bar("verifying", 2, 10)
    bar.close()
    text = screen.getvalue()
    assert "t7convert: reading and converting" in text
    assert ": ," not in text and "t7convert: ," not in text


def test_convert_rtol_sets_the_verification_tolerance_as_parity_does(tmp_path):
    t7convert.write(tmp_path / "m.t7", tm.sequential(_linear(3), tm.relu()))
    args = [str(tmp_path / "m.t7"), "-o", str(tmp_path / "m.pth")]
    strict = CliRunner().invoke(cli, [*args, "--rtol", "1e-300"])  # float32 against float64: beyond it
    assert strict.exit_code == 1 and not (tmp_path / "m.pth").exists(), strict.output
    assert "1e-300" in strict.output
    assert CliRunner().invoke(cli, [*args, "--rtol", "1e-3"]).exit_code == 0
    bad = CliRunner().invoke(cli, [*args, "--force", "--rtol", "0"])
    assert bad.exit_code == 2 and "--rtol" in bad.output
