"""Checkpoint tables: the model is found where each project's training script puts it, the rest of the
table is reported, a vocabulary and the sampler's options travel in the converted file, ``--key``
picks another entry, and a table that is not a model says what it is."""
from __future__ import annotations

import charrnn_models as cr
import pytest
import torch
import torch7_models as tm
from click.testing import CliRunner

import t7convert
from t7convert import api
from t7convert.cli import cli
from t7convert.torch7.format.values import T7Table


def test_a_charrnn_checkpoint_converts_its_protos_rnn_with_vocabulary_and_options(tmp_path):
    src = tm.save(tmp_path, "cv", cr.checkpoint(layers=2))
    report = api.convert(str(src), str(tmp_path / "cv.pth"))
    assert report.verification.ok, report.verification.summary()
    c = report.converted
    assert c.found_in == "protos.rnn" and c.checkpoint["project"] == "char-rnn"
    assert any(line.startswith("vocab: a vocabulary of 9 tokens") for line in c.others)
    info = torch.load(tmp_path / "cv.pth", weights_only=True)["t7convert"]
    assert info["checkpoint"]["tokens"] == sorted(set(cr.TEXT))
    assert (info["checkpoint"]["model"], info["checkpoint"]["num_layers"], info["checkpoint"]["rnn_size"]) == ("rnn", 2, 6)


def test_the_summary_says_where_the_model_was_and_what_else_the_table_held(tmp_path):
    src = tm.save(tmp_path, "cv", cr.checkpoint())
    result = CliRunner().invoke(cli, [str(src), "-o", str(tmp_path / "cv.pth")])
    assert result.exit_code == 0, result.output
    assert "protos.rnn" in result.output and "char-rnn" in result.output
    assert "also in the file: train_losses: a list of 2 numbers" in result.output


def test_a_vocabulary_that_does_not_fit_the_model_input_is_refused(tmp_path):
    src = tm.save(tmp_path, "cv", cr.checkpoint(model_v=12))
    out = tmp_path / "cv.pth"
    result = CliRunner().invoke(cli, [str(src), "-o", str(out)])
    assert result.exit_code == 2
    assert "vocab has 9 tokens" in result.output and "1..12" in result.output
    assert not out.exists()


def test_key_picks_another_entry_by_dotted_path(tmp_path):
    table = T7Table(netG=tm.sequential(tm.linear(4, 3)), netD=tm.sequential(tm.linear(3, 1)))
    src = tm.save(tmp_path, "gan", table)
    report = api.convert(str(src), None, key="netD")
    assert report.converted.found_in == "netD" and report.converted.parameters == 4
    with pytest.raises(t7convert.T7ConvertError, match="no entry netX"):
        api.convert(str(src), None, key="netX")
    result = CliRunner().invoke(cli, [str(src), "--key", "netG", "-o", str(tmp_path / "g.pth")])
    assert result.exit_code == 0, result.output


def test_fb_resnet_latest_t7_is_not_a_model_and_names_the_model_file(tmp_path):
    src = tm.save(tmp_path, "latest", T7Table(epoch=7, modelFile="model_7.t7", optimFile="optimState_7.t7"))
    result = CliRunner().invoke(cli, [str(src), "-o", str(tmp_path / "x.pth")])
    assert result.exit_code == 2
    assert "latest.t7" in result.output and "model_7.t7" in result.output


def test_inspect_lists_a_tables_entries(tmp_path):
    src = tm.save(tmp_path, "cv", cr.checkpoint())
    result = CliRunner().invoke(cli, ["inspect", str(src)])
    assert result.exit_code == 0, result.output
    for line in ("opt: options (4 entries)", "vocab: a vocabulary of 9 tokens", "protos: a table of",
                 "model: the table's protos.rnn"):
        assert line in result.output


@pytest.mark.parametrize("case, where, project", [
    ("charrnn_lstm_2x24", "protos.rnn", "char-rnn"), ("charrnn_gru_1x32", "protos.rnn", "char-rnn"),
    ("charrnn_rnn_2x28", "protos.rnn", "char-rnn"), ("torchrnn_lstm_2x24_w16", "model", "torch-rnn"),
    ("rnnlib_fastlstm_2x24", "model", "rnn")])
def test_language_model_fixtures_are_found_and_verified(torch7_fixtures, tmp_path, case, where, project):
    report = api.convert(str(torch7_fixtures / "torch7" / "graphs" / f"{case}.t7"), str(tmp_path / "m.pth"))
    assert report.verification.ok, report.verification.summary()
    assert (report.converted.found_in, report.converted.checkpoint["project"]) == (where, project)
    assert len(report.converted.checkpoint["tokens"]) == 43
