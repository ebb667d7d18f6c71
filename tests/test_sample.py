"""``t7convert sample``: arg-max text exactly as the projects' ``sample.lua`` prints it (the fixtures'
``.sample.txt`` were written by Torch7), from the .t7 or from the converted file; drawing with torch's
generator is reproducible by seed."""
from __future__ import annotations

import charrnn_models as cr
import numpy as np
import pytest
import torch7_models as tm
from click.testing import CliRunner

import t7convert
from t7convert import api
from t7convert.cli import cli
from t7convert.interpreter import run

FIXTURES = [("charrnn_lstm_2x24", "The keeper ", 200), ("charrnn_gru_1x32", "When the ", 200),
            ("charrnn_rnn_2x28", "He ", 200), ("torchrnn_lstm_2x24_w16", "The lamp ", 150),
            ("rnnlib_fastlstm_2x24", "The keeper ", 100)]


@pytest.mark.slow
@pytest.mark.parametrize("case, prime, length", FIXTURES, ids=[f[0] for f in FIXTURES])
def test_argmax_sampling_prints_what_torch7_printed(torch7_fixtures, tmp_path, case, prime, length):
    folder = torch7_fixtures / "torch7" / "graphs"
    want = (folder / f"{case}.sample.txt").read_text()
    result = CliRunner().invoke(cli, ["sample", str(folder / f"{case}.t7"), "--sample", "0", "--primetext", prime,
                                      "--length", str(length)])
    assert result.exit_code == 0, result.output
    assert result.output == want + "\n"
    out = tmp_path / "m.safetensors"
    api.convert(str(folder / f"{case}.t7"), str(out), verify=False)
    assert "".join(api.sample(str(out), primetext=prime, length=length, sample=False)) == want


def _greedy_by_reference(model, vocab: dict[str, int], prime: str, length: int, size: int) -> str:
    """char-rnn's sample.lua loop run on the reference execution (float64 NumPy)."""
    chars = {i: c for c, i in vocab.items()}
    state = [np.zeros((1, size))]
    text, pred = "", None
    for c in prime:
        *state, pred = run(model, [np.array([float(vocab[c])]), *state], record=False).output
        text += c
    for _ in range(length):
        i = int(np.argmax(pred[0])) + 1
        *state, pred = run(model, [np.array([float(i)]), *state], record=False).output
        text += chars[i]
    return text


def test_charrnn_argmax_text_equals_the_reference_executions_greedy_loop(tmp_path):
    table = cr.checkpoint()
    src = tm.save(tmp_path, "cv", table)
    vocab = dict(table["vocab"])
    want = _greedy_by_reference(t7convert.read(src)["protos"]["rnn"], vocab, "ab", 30, 6)
    assert "".join(api.sample(str(src), primetext="ab", length=30, sample=False)) == want


def test_drawn_text_is_reproducible_by_seed_and_streams(tmp_path):
    src = tm.save(tmp_path, "cv", cr.checkpoint())
    pieces = list(api.sample(str(src), length=40, seed=5, temperature=0.7))
    assert len(pieces) == 40 and all(p in cr.TEXT for p in pieces)
    assert pieces == list(api.sample(str(src), length=40, seed=5, temperature=0.7))


def test_a_prime_outside_the_vocabulary_and_a_non_language_model_are_refused(tmp_path):
    src = tm.save(tmp_path, "cv", cr.checkpoint())
    result = CliRunner().invoke(cli, ["sample", str(src), "--primetext", "xyz"])
    assert result.exit_code == 2 and "vocabulary lacks" in result.output
    other = tm.save(tmp_path, "lin", tm.sequential(tm.linear(3, 2)))
    result = CliRunner().invoke(cli, ["sample", str(other)])
    assert result.exit_code == 2 and "nothing to sample" in result.output


def test_the_package_samples_as_the_api_does(torch7_fixtures):
    """``t7convert.sample(...)``, the iterator of strings the README shows."""
    import t7convert

    path = torch7_fixtures / "torch7" / "graphs" / "charrnn_rnn_2x28.t7"
    text = "".join(t7convert.sample(str(path), primetext="He ", length=200, sample=False))
    assert text == (path.parent / "charrnn_rnn_2x28.sample.txt").read_text()


def test_sample_help_says_key_takes_a_model_by_its_name_or_a_path():
    """``--key`` takes a model's name in the project's layout (decoder, best_model) as convert's does,
    not only a dotted path."""
    result = CliRunner().invoke(cli, ["sample", "--help"], terminal_width=200)
    assert result.exit_code == 0
    key_help = " ".join(result.output.split("--key")[1].split())
    assert "its name in the project's layout" in key_help and "protos.rnn" in key_help
    assert "(dotted path)" not in key_help
