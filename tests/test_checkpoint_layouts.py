"""Training checkpoints of the well-known Torch7 projects: the model is found by the project's own
layout (read from its save code), the convention that matched is named, every other model of the file
is listed in the summary, in ``inspect`` and in the API, ``--key`` takes a model by its name in the
layout, and an unknown key or a hostile layout is an input error that lists the models."""
from __future__ import annotations

import json

import pytest
import torch
import torch7_models as tm
from click.testing import CliRunner

import t7convert
from t7convert import api
from t7convert.cli import cli
from t7convert.torch7.format import T7Object
from t7convert.torch7.format.values import T7List, T7Table


def _mlp(n_in: int, n_out: int) -> T7Object:
    return tm.sequential(tm.linear(n_in, 5), tm.relu(), tm.linear(5, n_out))


def _seq2seq(brnn: bool = False) -> tuple[T7List, list[T7Object]]:
    """seq2seq-attn's train.lua: ``torch.save(f, {{encoder, decoder, generator[, encoder_bwd]}, opt})``."""
    models = [_mlp(4, 6), _mlp(6, 7), _mlp(7, 3)] + ([_mlp(4, 6)] if brnn else [])
    opt = T7Table(brnn=1 if brnn else 0, num_layers=2, rnn_size=6, word_vec_size=4, attn=1)
    return T7List([T7List(models), opt]), models


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def test_seq2seq_attn_converts_its_decoder_and_names_the_layout_and_the_other_models(tmp_path):
    root, (encoder, decoder, generator) = _seq2seq()
    src = tm.save(tmp_path, "s2s_epoch3.00_12.4", root)
    report = api.convert(str(src), str(tmp_path / "d.pth"))
    c = report.converted
    assert report.verification.ok, report.verification.summary()
    assert (c.found_in, c.model_name, c.parameters) == ("1.2", "decoder", 6 * 5 + 5 + 5 * 7 + 7)
    assert c.convention == "seq2seq-attn's layout: {{encoder, decoder, generator}, opt}"
    assert [(m["key"], m["path"], m["converted"], m["default"]) for m in c.models] == [
        ("encoder", "1.1", False, False), ("decoder", "1.2", True, True), ("generator", "1.3", False, False)]
    assert report.to_json()["models"] == c.models and report.to_json()["convention"] == c.convention
    info = torch.load(tmp_path / "d.pth", weights_only=True)["t7convert"]["checkpoint"]
    assert (info["project"], info["model_name"], info["found_in"], info["rnn_size"]) == ("seq2seq-attn", "decoder",
                                                                                        "1.2", 6)

    code, out = _run(src, "-o", tmp_path / "cli.pth")
    assert code == 0, out
    assert "checkpoint: found by seq2seq-attn's layout: {{encoder, decoder, generator}, opt}: " \
           "converted its decoder (1.2)" in out
    assert "other models in the file: encoder (nn.Sequential; --key encoder), " \
           "generator (nn.Sequential; --key generator)" in out


@pytest.mark.parametrize("name, path, n_in, n_out", [("encoder", "1.1", 4, 6), ("generator", "1.3", 7, 3),
                                                     ("encoder_bwd", "1.4", 4, 6)])
def test_key_takes_a_seq2seq_model_by_its_name(tmp_path, name, path, n_in, n_out):
    root, _ = _seq2seq(brnn=True)
    src = tm.save(tmp_path, "s2s", root)
    report = api.convert(str(src), None, key=name, verify=False)
    c = report.converted
    assert (c.found_in, c.model_name, c.convention) == (
        path, name, "seq2seq-attn's layout: {{encoder, decoder, generator, encoder_bwd}, opt}")
    assert c.parameters == n_in * 5 + 5 + 5 * n_out + n_out
    listed = {m["key"]: m for m in c.models}
    assert listed["decoder"]["default"] and not listed["decoder"]["converted"] and listed[name]["converted"]
    by_path = api.convert(str(src), None, key=path, verify=False).converted  # the dotted path still works
    assert (by_path.found_in, by_path.model_name) == (path, name)


def test_a_fourth_seq2seq_model_without_brnn_is_listed_by_its_path(tmp_path):
    encoder, decoder, generator, criterion_like = _mlp(4, 6), _mlp(6, 7), _mlp(7, 3), _mlp(3, 2)
    src = tm.save(tmp_path, "s2s", T7List([T7List([encoder, decoder, generator, criterion_like]), T7Table(brnn=0)]))
    c = api.convert(str(src), None, verify=False).converted
    assert c.model_name == "decoder"
    assert [m["key"] for m in c.models] == ["encoder", "decoder", "generator", "1.4"]


def test_inspect_lists_every_model_with_its_key_and_names_the_convention(tmp_path):
    root, _ = _seq2seq()
    src = tm.save(tmp_path, "s2s", root)
    code, out = _run("inspect", src)
    assert code == 0, out
    assert "models: 3" in out
    assert "encoder at 1.1: nn.Sequential, 61 parameters (--key encoder)" in out
    assert "decoder at 1.2: nn.Sequential, 77 parameters (convert's default)" in out
    assert "generator at 1.3: nn.Sequential, 58 parameters (--key generator)" in out
    assert "model: the table's 1.2 (decoder)" in out
    assert "found by seq2seq-attn's layout: {{encoder, decoder, generator}, opt}" in out
    code, out = _run("inspect", "--json", src)
    j = json.loads(out)
    assert (j["convention"], j["model_name"], j["model_key"]) == (
        "seq2seq-attn's layout: {{encoder, decoder, generator}, opt}", "decoder", "1.2")
    assert [(m["key"], m["path"], m["default"]) for m in j["models"]] == [
        ("encoder", "1.1", False), ("decoder", "1.2", True), ("generator", "1.3", False)]


def test_an_unknown_key_is_an_input_error_that_lists_the_models(tmp_path):
    root, _ = _seq2seq()
    src = tm.save(tmp_path, "s2s", root)
    out = tmp_path / "x.pth"
    code, text = _run(src, "--key", "decodr", "-o", out)
    assert code == 2 and not out.exists()
    assert len(text.strip().splitlines()) == 1
    assert "--key decodr" in text and "encoder (1.1, nn.Sequential)" in text and "decoder (1.2, nn.Sequential)" in text
    with pytest.raises(t7convert.T7ConvertError, match=r"no entry 1\.9 .*the file's models: encoder"):
        api.convert(str(src), None, key="1.9", verify=False)


@pytest.mark.parametrize("key, words", [("2", "not a Torch7 module"), ("1", "not a Torch7 module"),
                                        ("2.brnn", "not a Torch7 module"), ("1.2.modules.9", "no entry")])
def test_a_key_that_points_to_no_module_is_an_input_error(tmp_path, key, words):
    root, _ = _seq2seq()
    src = tm.save(tmp_path, "s2s", root)
    code, text = _run(src, "--key", key, "-o", tmp_path / "x.pth")
    assert code == 2 and words in text and len(text.strip().splitlines()) == 1, text


def _charcnn(**opt_extra) -> T7Table:
    """lstm-char-cnn's main.lua: {protos, opt, vocab = {idx2word, word2idx, idx2char, char2idx}, ...}."""
    words, chars = ["<unk>", "the", "cat"], ["{", "}", "a", "c", "t"]
    vocab = T7List([T7List(words), T7Table({w: i for i, w in enumerate(words, 1)}),
                    T7List(chars), T7Table({c: i for i, c in enumerate(chars, 1)})])
    protos = T7Table(rnn=_mlp(4, 3), criterion=tm.module("nn.ClassNLLCriterion", sizeAverage=True))
    return T7Table(protos=protos, vocab=vocab, opt=T7Table(rnn_size=5, num_layers=2, use_chars=1, use_words=0,
                                                           **opt_extra),
                   train_losses=T7List([4.0, 3.5]), epoch=1.0)


def test_lstm_char_cnn_converts_protos_rnn_and_keeps_its_word_and_character_vocabularies(tmp_path):
    src = tm.save(tmp_path, "lm_char_epoch1.00_300.12", _charcnn(max_word_l=12))
    report = api.convert(str(src), str(tmp_path / "m.pth"))
    c = report.converted
    assert report.verification.ok
    assert (c.found_in, c.model_name) == ("protos.rnn", "rnn")
    assert c.convention.startswith("lstm-char-cnn's layout: {protos = {rnn = ...}, vocab = {idx2word, word2idx, "
                                   "idx2char, char2idx}, opt (rnn_size)")
    assert [m["key"] for m in c.models] == ["rnn"]  # the criterion is no model
    info = torch.load(tmp_path / "m.pth", weights_only=True)["t7convert"]["checkpoint"]
    assert info["project"] == "lstm-char-cnn" and info["words"] == ["<unk>", "the", "cat"]
    assert info["chars"] == ["{", "}", "a", "c", "t"] and (info["rnn_size"], info["max_word_l"]) == (5, 12)


def test_a_protos_rnn_with_a_character_table_vocabulary_is_still_char_rnn(tmp_path):
    table = _charcnn()
    table["vocab"] = T7Table(a=1, b=2, c=3)
    c = api.convert(str(tm.save(tmp_path, "cv", table)), None, verify=False).converted
    assert c.checkpoint["project"] == "char-rnn" and c.convention.startswith("char-rnn's layout")


def _dqn() -> tuple[T7Table, T7Object, T7Object, T7Object]:
    """dqn's train_agent.lua: {agent, model = agent.network, best_model = agent.best_network, ..., arguments}."""
    network, best, target = _mlp(4, 3), _mlp(4, 3), _mlp(4, 3)
    agent = T7Object("dqn.NeuralQLearner", None, T7Table(network=network, best_network=best, target_network=target,
                                                         n_actions=3, discount=0.99))
    return T7Table(agent=agent, model=network, best_model=best, reward_history=T7List([1.0, 3.0]),
                   arguments=T7Table(agent="NeuralQLearner", lr=0.00025)), network, best, target


def test_a_dqn_agent_checkpoint_converts_its_model_and_lists_best_and_target_networks_once(tmp_path):
    table, network, best, target = _dqn()
    src = tm.save(tmp_path, "DQN3_0_1_breakout_FULL_Y", table)
    report = api.convert(str(src), None)
    c = report.converted
    assert report.verification.ok and (c.found_in, c.model_name) == ("model", "model")
    assert c.convention.startswith("deepmind dqn's agent checkpoint: {agent, model = agent.network, "
                                   "best_model = agent.best_network")
    # agent.network is the model and agent.best_network the best_model (one object each in the file)
    assert [(m["key"], m["path"]) for m in c.models] == [("model", "model"), ("best_model", "best_model"),
                                                         ("target_network", "agent.target_network")]
    code, out = _run("inspect", src)
    assert "target_network at agent.target_network: nn.Sequential" in out and "best_model: nn.Sequential" in out


@pytest.mark.parametrize("key, path", [("best_model", "best_model"), ("best_network", "agent.best_network"),
                                       ("target_network", "agent.target_network"), ("network", "agent.network")])
def test_key_takes_a_dqn_network_by_the_name_it_was_saved_under(tmp_path, key, path):
    table, network, best, target = _dqn()
    src = tm.save(tmp_path, "agent", table)
    c = api.convert(str(src), None, key=key, verify=False).converted
    assert (c.found_in, c.model_name) == (path, key)
    assert c.t7_model.children[0].get("weight").tolist() == {
        "best_model": best, "best_network": best, "target_network": target, "network": network
    }[key].children[0].get("weight").tolist()


def _neuraltalk2(lm: T7Object) -> T7Table:
    """neuraltalk2's train.lua: checkpoint = {opt, iter, loss_history, ..., protos = {lm, cnn}, vocab}."""
    return T7Table(protos=T7Table(lm=lm, cnn=_mlp(4, 3)), vocab=T7Table({"1": "a", "2": "cat", "3": "sat"}),
                   opt=T7Table(rnn_size=5, input_encoding_size=4), iter=100, loss_history=T7Table({10: 2.5}))


def test_neuraltalk2_takes_the_language_model_and_lists_the_cnn(tmp_path):
    src = tm.save(tmp_path, "model_id", _neuraltalk2(lm=_mlp(3, 4)))
    c = api.convert(str(src), None, verify=False).converted
    assert (c.found_in, c.model_name) == ("protos.lm", "lm")
    assert c.convention == "neuraltalk2's layout: {protos = {lm, cnn}, vocab, opt, ...}"
    assert c.checkpoint["words"] == ["a", "cat", "sat"]
    assert [(m["key"], m["converted"]) for m in c.models] == [("lm", True), ("cnn", False)]
    cnn = api.convert(str(src), None, key="cnn").converted
    assert (cnn.found_in, cnn.model_name, cnn.parameters) == ("protos.cnn", "cnn", 4 * 5 + 5 + 5 * 3 + 3)


def test_a_main_model_that_is_refused_names_the_other_models_to_choose(tmp_path):
    lm = tm.module("nn.NeuralTalkOnlyLayer", vocab_size=3)  # no converter knows it
    src = tm.save(tmp_path, "model_id", _neuraltalk2(lm=lm))
    code, out = _run(src, "-o", tmp_path / "x.pth")
    assert code == 2 and len(out.strip().splitlines()) == 1, out
    assert "in the file's lm; its other models: cnn (--key cnn)" in out
    assert _run(src, "--key", "cnn", "-o", tmp_path / "x.pth")[0] == 0


@pytest.mark.parametrize("file_name, name, words", [
    ("facades_200_net_G", "netG", "dcgan.torch / pix2pix's layout: the generator netG saved alone (*_net_G.t7)"),
    ("bedrooms_4_net_D", "netD", "dcgan.torch / pix2pix's layout: the discriminator netD saved alone (*_net_D.t7)"),
    ("latest_net_G_A", "netG_A", "CycleGAN's layout: the generator netG_A saved alone (*_net_G_A.t7)"),
    ("200_net_D_B", "netD_B", "CycleGAN's layout: the discriminator netD_B saved alone (*_net_D_B.t7)")])
def test_a_gan_network_saved_alone_converts_and_is_named_by_its_file_name(tmp_path, file_name, name, words):
    src = tm.save(tmp_path, file_name, _mlp(4, 3))
    report = api.convert(str(src), str(tmp_path / "g.pth"))
    c = report.converted
    assert report.verification.ok and (c.found_in, c.model_name, c.convention) == ("", name, words)
    code, out = _run(src, "-o", tmp_path / "cli.pth")
    assert code == 0 and f"checkpoint: found by {words}: converted its {name}" in out


def test_a_plain_model_file_names_no_convention(tmp_path):
    c = api.convert(str(tm.save(tmp_path, "model", _mlp(4, 3))), None, verify=False).converted
    assert c.convention is None and c.models == [{"key": "<root>", "path": "<root>", "class": "nn.Sequential",
                                                  "converted": True, "default": True}]


def test_a_cyclegan_table_takes_netG_A_and_lists_the_other_three(tmp_path):
    nets = {k: _mlp(4, 3) for k in ("netD_B", "netG_B", "netD_A", "netG_A")}
    src = tm.save(tmp_path, "cyclegan", T7Table(nets, opt=T7Table(ngf=64)))
    c = api.convert(str(src), None, verify=False).converted
    assert (c.found_in, c.model_name) == ("netG_A", "netG_A")
    assert c.convention == "CycleGAN's layout: {netG_A, netG_B, netD_A, netD_B}"
    assert [m["key"] for m in c.models] == ["netG_A", "netG_B", "netD_A", "netD_B"]
    assert api.convert(str(src), None, key="netD_B", verify=False).converted.found_in == "netD_B"


def test_a_gan_table_takes_netG(tmp_path):
    src = tm.save(tmp_path, "gan", T7Table(netG=_mlp(4, 3), netD=_mlp(3, 1)))
    c = api.convert(str(src), None, verify=False).converted
    assert (c.found_in, c.convention) == ("netG", "dcgan.torch / pix2pix's layout: {netG, netD}")
    assert [(m["key"], m["converted"]) for m in c.models] == [("netG", True), ("netD", False)]


def test_the_general_rules_name_themselves(tmp_path):
    src = tm.save(tmp_path, "fns", T7Table(model=_mlp(4, 3), opt=T7Table(style_weights="5.0")))
    c = api.convert(str(src), None, verify=False).converted
    assert c.convention == "the general rule: the table's entry named model"
    src = tm.save(tmp_path, "one", T7Table(classifier=_mlp(4, 3), mean=T7List([0.5])))
    assert api.convert(str(src), None, verify=False).converted.convention == \
        "the general rule: the only module in the file's table (classifier)"


def _hostile_cycle() -> T7Table:
    table = T7Table(opt=T7Table(rnn_size=5))
    table["protos"] = T7Table(lm=table, cnn=table)  # neuraltalk2's names, pointing back at the table
    table["agent"] = T7Object("dqn.NeuralQLearner", None, T7Table(network=table))
    table["self"] = table
    return table


def _hostile_seq2seq() -> T7List:
    root = T7List()
    root.extend([T7List([root, root, root]), T7Table(brnn=1)])  # the model list holds the file itself
    return root


def _hostile_parallel_cycle() -> T7List:
    """seq2seq-attn's layout whose decoder is a DataParallelTable that wraps itself."""
    wrapper = tm.module("nn.DataParallelTable", modules=T7List())
    wrapper.fields["modules"].append(wrapper)
    return T7List([T7List([_mlp(4, 6), wrapper, _mlp(7, 3)]), T7Table(brnn=0)])


def _deep(levels: int) -> T7Table:
    inner: object = _mlp(4, 3)
    for _ in range(levels):
        inner = T7Table(protos=T7Table(rnn=T7Table(model=inner)))
    return inner  # type: ignore[return-value]


@pytest.mark.parametrize("make, key", [(_hostile_cycle, None), (_hostile_cycle, "lm"),
                                       (_hostile_cycle, "self.self.self.self.protos.cnn"),
                                       (_hostile_seq2seq, None), (_hostile_seq2seq, "decoder"),
                                       (_hostile_parallel_cycle, None), (_hostile_parallel_cycle, "decoder"),
                                       (lambda: _deep(150), None), (lambda: _deep(150), "protos.rnn.model" * 1)])
def test_a_hostile_layout_is_an_input_error_not_a_crash(tmp_path, make, key):
    src = tm.save(tmp_path, "hostile", make())
    out = tmp_path / "x.pth"
    args = [src, "-o", out] + (["--key", key] if key else [])
    code, text = _run(*args)
    assert code == 2 and not out.exists(), text
    assert len(text.strip().splitlines()) == 1 and "Traceback" not in text
    code, text = _run("inspect", src)
    assert code == 0, text


def test_a_deeply_nested_key_path_reaches_the_model(tmp_path):
    src = tm.save(tmp_path, "deep", _deep(40))
    key = ".".join(["protos.rnn.model"] * 40)
    c = api.convert(str(src), None, key=key, verify=False).converted
    assert c.found_in == key and c.parameters == 4 * 5 + 5 + 5 * 3 + 3


@pytest.mark.parametrize("build, project, row", [
    (lambda: _seq2seq()[0], "seq2seq-attn", "| seq2seq-attn (harvardnlp) |"),
    (lambda: _charcnn(), "lstm-char-cnn", "| lstm-char-cnn (yoonkim) |"),
    (lambda: _dqn()[0], "dqn", "| deepmind dqn |"),
    (lambda: _neuraltalk2(_mlp(3, 4)), "neuraltalk2", "| neuraltalk2 |"),
    (lambda: T7Table(netG_A=_mlp(4, 3)), "CycleGAN", "| CycleGAN |"),
    (lambda: T7Table(netG=_mlp(4, 3)), "dcgan", "| dcgan.torch, pix2pix |")])
def test_the_readme_table_lists_each_recognised_layout_with_its_default(tmp_path, build, project, row):
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    c = api.convert(str(tm.save(tmp_path, "layout", build())), None, verify=False).converted
    assert c.checkpoint["project"] == project
    line = next((ln for ln in readme.splitlines() if ln.startswith(row)), None)
    assert line is not None, f"the README's table of checkpoint layouts has no row for {project}"
    assert f"`{c.model_name}`" in line.rsplit("|", 2)[-2], f"the row names another default than {c.model_name}"


def test_parity_compares_a_file_converted_with_key_against_the_model_it_came_from(tmp_path):
    root, _ = _seq2seq()
    src = tm.save(tmp_path, "s2s", root)
    code, out = _run(src, "-o", tmp_path / "enc.pth", "--key", "encoder")
    assert code == 0, out
    code, out = _run("parity", src, tmp_path / "enc.pth")  # the .pth says it is the encoder (1.1)
    assert code == 0, out
    code, out = _run("parity", src, tmp_path / "enc.pth", "--key", "decoder")  # a wrong pairing is refused
    assert code == 2 and "is not a conversion of" in out, out
    run = t7convert.parity(str(src), key="generator")  # converted on the fly: the model asked for
    assert run.ok, run.render()
