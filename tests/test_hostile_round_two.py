"""Hostile files, round two: shared references in a converted file's description, counts a file gives
that no tensor backs, values that reached ``int()`` unchecked, node names, the processes and files of the
command line, and the names it prints.

Each input is built here with t7convert's own writer (or by rewriting a file t7convert wrote); where a
hang or a runaway allocation is the failure mode, it runs in a child under a memory cap and a timeout
(``test_hostile_limits.capped``), so that a regression fails the test instead of the machine.
"""
from __future__ import annotations

import keyword
import math
import os
import stat
import subprocess
import sys
import time

import charrnn_models as cr
import nngraph_models as ng
import numpy as np
import pytest
import torch
import torch7_models as tm
from test_evaluate import class_folder_set  # noqa: F401 - a fixture
from test_hostile_limits import assert_input_error, capped, cli, refused

import t7convert
from t7convert import T7ConvertError, api
from t7convert.conversion.description import MAX_DEPTH, NODE_NAME
from t7convert.torch7.format import T7Object


def converted_payload(tmp_path, model=None, input_shape=(1, 4, 4)) -> dict:
    """What t7convert writes for a small generic model, loaded back as plain data to be rewritten."""
    model = model or tm.sequential(tm.conv(1, 2, 3, 3, pw=1, ph=1), tm.relu(), tm.maxpool(2, 2, 2, 2),
                                   tm.view(8), tm.linear(8, 3))
    src = tm.save(tmp_path, "seed", model)
    out = tmp_path / "seed.pth"
    api.convert(str(src), str(out), input_shape=input_shape, force=True)
    return torch.load(out, weights_only=True)


def saved(tmp_path, payload: dict, name: str = "crafted.pth"):
    path = tmp_path / name
    torch.save(payload, path)
    return path


# --- 1. shared references: a description is plain data -------------------------------------------------
def _shared_attrs(p):
    p["t7convert"]["graph"]["nodes"][0]["attrs"]["table"] = [[[0] * 4096] * 4096] * 4096


def _shared_data_config(p):
    p["t7convert"]["data_config"] = {"mean": [[[0.5] * 4096] * 4096] * 4096}


def _shared_checkpoint(p):
    p["t7convert"]["checkpoint"] = {"project": "char-rnn", "tokens": [["a"] * 4096] * 4096}


def _shared_args(p):
    nodes = p["t7convert"]["graph"]["nodes"]
    args = [["input"]] * 4096
    nodes.extend({"name": f"m9_{i}", "op": "Identity", "args": args} for i in range(2000))


def _shared_children(p):
    tree = {"op": "Sequential", "children": [{"op": "Identity"} for _ in range(10_000)]}
    nodes = p["t7convert"]["graph"]["nodes"]
    nodes.extend({"name": f"m9_{i}", "op": "MapTable", "args": [["input"]], "children": [tree]}
                 for i in range(2000))


@pytest.mark.parametrize("share", [_shared_attrs, _shared_data_config, _shared_checkpoint, _shared_args,
                                   _shared_children])
def test_a_description_with_shared_references_is_refused_before_it_is_walked(tmp_path, share):
    payload = converted_payload(tmp_path)
    share(payload)
    path = saved(tmp_path, payload)
    assert path.stat().st_size < 1_000_000  # billions of entries to walk if sharing were followed
    refused(path, "crafted.pth", "already met elsewhere")


def test_what_t7convert_writes_shares_nothing_even_when_its_converters_share(tmp_path):
    """One attribute list in two nodes (a converter may reuse it) is written as two lists."""
    from t7convert.conversion.description import check_unshared, plain_copy

    kernel = [3, 3]
    info = {"graph": {"nodes": [{"attrs": {"kernel_size": kernel}}, {"attrs": {"kernel_size": kernel}}]}}
    with pytest.raises(T7ConvertError, match="already met elsewhere"):
        check_unshared(info)
    check_unshared(plain_copy(info))


# --- whatever convert writes, load reads -------------------------------------------------------------
def concat_of(n: int) -> T7Object:
    return tm.sequential(tm.module("nn.ConcatTable", modules=[tm.module("nn.Identity") for _ in range(n)]),
                         tm.module("nn.JoinTable", dimension=1, nInputDims=1))


def full_table_map(n_in: int, n_out: int) -> T7Object:
    table = np.array([[i, o] for o in range(1, n_out + 1) for i in range(1, n_in + 1)], np.float32)
    rng = np.random.default_rng(3)
    return tm.module("nn.SpatialConvolutionMap", nInputPlane=n_in, nOutputPlane=n_out, kW=1, kH=1, dW=1, dH=1,
                     connTable=table, weight=rng.standard_normal((len(table), 1, 1)).astype(np.float32),
                     bias=rng.standard_normal(n_out).astype(np.float32))


def long_annotation() -> T7Object:
    g = ng.Graph()
    x = g.input()
    return g.module([x], [g.node(tm.linear(4, 3), x, name="encoder_" * 40)])


@pytest.mark.parametrize("model, shape", tm.drawn(1, lambda: [
    (concat_of(5000), (2,)),                  # a table of 5,000 branches: 5,000 references in one node
    (full_table_map(70, 70), (70, 2, 2)),     # a realistic connection table of 4,900 rows
    (long_annotation(), (4,)),                # an nngraph annotation of 320 characters
]), ids=["concat-5000", "full-table-map-70", "annotation-320"])
def test_what_convert_writes_load_reads_back(tmp_path, model, shape):
    src = tm.save(tmp_path, "m", model)
    out = tmp_path / "m.pth"
    report = api.convert(str(src), str(out), input_shape=shape)
    assert report.verification.ok
    module = t7convert.load(str(out))
    x = torch.from_numpy(np.random.default_rng(5).standard_normal((1, *shape)).astype(np.float32))
    assert torch.isfinite(module(x)).all()


# --- node names -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["\uff4d2", "class", "None", "forward", "code", "eval", "__init__", "m2\u0301",
                                  "modules", "m" * 1025])
def test_a_node_name_outside_the_one_pattern_is_refused_in_one_line(tmp_path, name):
    payload = converted_payload(tmp_path)
    node = payload["t7convert"]["graph"]["nodes"][-1]
    old = node["name"]
    node["name"] = name
    payload["t7convert"]["graph"]["output"] = [name]
    payload["state_dict"] = {(name + k[len(old):] if k.startswith(old + ".") else k): v
                             for k, v in payload["state_dict"].items()}
    refused(saved(tmp_path, payload), "no valid, unique name")


def test_the_name_pattern_admits_no_keyword_and_no_attribute_of_a_built_module():
    from torch import fx

    taken = set(dir(fx.GraphModule)) | set(dir(torch.nn.Module)) | set(keyword.kwlist) | set(keyword.softkwlist)
    assert not [n for n in taken if NODE_NAME.match(n)]
    assert all(NODE_NAME.match(n) for n in ("m", "m5_2", "m3_enc1", "n12_in", "nx3_in", "t_table", "m1_v2"))


# --- nesting: as deep as the conversion, and it runs ---------------------------------------------------
def _tree(depth: int) -> dict:
    node: dict = {"op": "Identity"}
    for _ in range(depth):
        node = {"op": "Sequential", "children": [node]}
    return node


def test_a_format_1_tree_deeper_than_the_conversion_nests_is_refused(tmp_path):
    path = saved(tmp_path, {"t7convert": {"format": 1, "kind": "generic", "graph": _tree(MAX_DEPTH + 50)}, "state_dict": {}})
    refused(path, "nests deeper than")


def test_a_format_1_tree_at_the_depth_bound_loads_and_runs(tmp_path):
    path = saved(tmp_path, {"t7convert": {"format": 1, "kind": "generic", "graph": _tree(MAX_DEPTH)},
                            "state_dict": {}})
    r = capped("import sys, torch, t7convert\nm = t7convert.load(sys.argv[1])\nprint(float(m(torch.ones(2)).sum()))",
               str(path))
    assert r.returncode == 0 and r.stdout.strip() == "2.0", r.stderr[-2000:]


# --- 4. counts no tensor backs ----------------------------------------------------------------------
def test_an_adaptive_pooling_of_ten_million_bins_is_refused_in_one_line(tmp_path):
    src = tm.save(tmp_path, "pool", tm.module("nn.SpatialAdaptiveMaxPooling", W=10 ** 7, H=1))
    assert src.stat().st_size < 400
    assert_input_error(cli(src, "-o", tmp_path / "pool.pth", "--input-size", "1,4,4"), "bins")


def test_a_crafted_adaptive_pooling_or_lrn_in_a_converted_file_is_refused(tmp_path):
    payload = converted_payload(tmp_path)
    node = payload["t7convert"]["graph"]["nodes"][2]
    node.update(op="AdaptivePool2d", attrs={"kind": "max", "size": [1, 10 ** 7]})
    refused(saved(tmp_path, payload, "pool.pth"), "graph.nodes[2].attrs.size")  # its record's bounds
    node.update(op="AdaptivePool2d", attrs={"kind": "max", "size": [1000, 1000]})  # each side fits, not the bins
    refused(saved(tmp_path, payload, "pool2.pth"), "bins")
    node.update(op="CrossMapLRN", attrs={"size": 10 ** 7 + 1, "alpha": 1.0, "beta": 0.75, "k": 1.0})
    refused(saved(tmp_path, payload, "lrn.pth"), "graph.nodes[2].attrs.size")


def gmodule_with(**change) -> T7Object:
    g = ng.Graph()
    x = g.input()
    a, b = g.split(g.node(tm.module("nn.SplitTable", dimension=1), x), 2)
    model = g.module([x], [g.node(tm.module("nn.CAddTable"), a, b)])
    node_of = {"selectindex": a, "id": a}
    for key, value in change.items():
        if key == "nInputs":
            model.fields["nInputs"] = value
        elif key == "id":
            node_of[key].fields["id"] = value
        else:
            node_of[key].fields["data"][key] = value
    return model


@pytest.mark.parametrize("field", ["nInputs", "selectindex", "id"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 0, -3, "two", 10 ** 9])
def test_a_gmodule_count_or_index_that_is_not_a_whole_number_in_bounds_is_one_line(tmp_path, field, value):
    if field == "id" and value in (0, -3, 10 ** 9):
        pytest.skip("any whole number is a valid node id")
    src = tm.save(tmp_path, "g", gmodule_with(**{field: value}))
    assert_input_error(cli(src, "-o", tmp_path / "g.pth", "--input-size", "2,3"), field)


@pytest.mark.parametrize("index", [math.nan, math.inf, 0, "1", 1e300])
def test_a_select_table_index_that_is_not_a_whole_number_is_one_line(tmp_path, index):
    model = tm.sequential(tm.module("nn.SplitTable", dimension=1), tm.module("nn.SelectTable", index=index))
    src = tm.save(tmp_path, "s", model)
    assert_input_error(cli(src, "-o", tmp_path / "s.pth", "--input-size", "2,3"), "index")


def test_a_feature_lp_pooling_of_power_zero_is_one_line(tmp_path):
    model = tm.module("nn.FeatureLPPooling", width=2, stride=2, power=0.0, batch_mode=False)
    src = tm.save(tmp_path, "lp", model)
    assert_input_error(cli(src, "-o", tmp_path / "lp.pth", "--input-size", "4,3"), "power")


# --- sample trusts nothing of the checkpoint ---------------------------------------------------------
def charrnn_file(tmp_path, **opt):
    ckpt = cr.checkpoint()
    ckpt["opt"].update(opt)
    return tm.save(tmp_path, "lm", ckpt)


def sample_cli(path, *args):
    return cli("sample", path, "--length", "5", *args)


@pytest.mark.parametrize("opt, words", [
    ({"num_layers": 10 ** 9}, "num_layers"),
    ({"num_layers": math.nan}, "num_layers"),
    ({"rnn_size": 10 ** 9}, "rnn_size"),
    ({"rnn_size": -1}, "rnn_size"),
    ({"rnn_size": 5}, "does not run"),       # in bounds, but not what the layers take
], ids=["layers-1e9", "layers-nan", "size-1e9", "size-negative", "size-wrong"])
def test_sample_refuses_checkpoint_options_its_weights_cannot_back(tmp_path, opt, words):
    assert_input_error(sample_cli(charrnn_file(tmp_path, **opt)), words)


def converted_lm(tmp_path) -> tuple[dict, object]:
    out = tmp_path / "lm.pth"
    api.convert(str(charrnn_file(tmp_path)), str(out))
    return torch.load(out, weights_only=True), out


@pytest.mark.parametrize("change, words", [
    (lambda p: p["t7convert"]["checkpoint"].update(tokens=["\u20ac"] * 8), "latin-1"),
    (lambda p: p["t7convert"]["checkpoint"].update(tokens="abc"), "vocabulary"),
    (lambda p: p["t7convert"]["checkpoint"].update(tokens=["a", "b"]), "tokens"),
    (lambda p: p["t7convert"]["checkpoint"].update(num_layers="many"), "num_layers"),
    (lambda p: p["t7convert"]["checkpoint"].pop("rnn_size"), "rnn_size"),
    (lambda p: p["t7convert"].update(checkpoint=[1, 2]), "not a char-rnn"),
], ids=["euro-tokens", "tokens-string", "too-few-tokens", "layers-string", "no-rnn-size", "checkpoint-list"])
def test_sample_refuses_a_converted_checkpoint_block_it_cannot_use(tmp_path, change, words):
    payload, _ = converted_lm(tmp_path)
    change(payload)
    assert_input_error(sample_cli(saved(tmp_path, payload), "--sample", "0"), words)


def test_sample_of_nan_weights_with_sampling_on_is_one_line(tmp_path):
    payload, _ = converted_lm(tmp_path)
    payload["state_dict"] = {k: torch.full_like(v, math.nan) if v.is_floating_point() else v
                             for k, v in payload["state_dict"].items()}
    assert_input_error(sample_cli(saved(tmp_path, payload), "--sample", "1"), "not finite")


# --- options that reached int() or numpy unchecked ----------------------------------------------------
@pytest.mark.parametrize("args, words", [
    (("--key", "\u00b2"), "--key"),
    (("--key", "protos." + "9" * 400), "--key"),
    (("--input-size", "99999999999"), "--input-size"),
    (("--input-size", "3,99999999,99999999"), "--input-size"),
    (("--memory-limit", "9" * 400), "--memory-limit"),
    (("--memory-limit", "9" * 20 + "T"), "--memory-limit"),
])
def test_an_option_value_out_of_range_is_one_line(tmp_path, args, words):
    src = tm.save(tmp_path, "m", tm.sequential(tm.linear(4, 3)))
    assert_input_error(cli(src, "-o", tmp_path / "m.pth", *args), words)


# --- a broken or duplicated plugin ------------------------------------------------------------------
def plugin_site(tmp_path, body: str):
    import textwrap

    src = tmp_path / "broken-plugin"
    src.mkdir()
    (src / "setup.py").write_text(textwrap.dedent("""
        from setuptools import setup
        setup(name="broken-t7", version="0.1", py_modules=["broken_convert"],
              entry_points={"t7convert.converters": ["broken = broken_convert"]})
    """))
    (src / "broken_convert.py").write_text(textwrap.dedent(body))
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(site), str(src)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.parametrize("body", [
    "raise RuntimeError('half installed')\n",
    "from t7convert.conversion.registry import converts\n@converts('nn.Linear')\ndef again(m, ctx):\n    pass\n",
], ids=["broken", "duplicate"])
def test_a_broken_plugin_is_named_where_a_class_is_missing_and_other_models_convert(tmp_path, body):
    env = plugin_site(tmp_path, body)
    unknown = tm.save(tmp_path, "u", tm.sequential(tm.module("MyLab.Unknown")))
    r = subprocess.run([sys.executable, "-m", "t7convert", str(unknown), "-o", str(tmp_path / "u.pth")],
                       capture_output=True, text=True, env=env)
    assert_input_error(r, "no converter for Torch7 class MyLab.Unknown", "plugin 'broken'")
    known = tm.save(tmp_path, "k", tm.sequential(tm.linear(4, 3)))
    r = subprocess.run([sys.executable, "-m", "t7convert", str(known), "-o", str(tmp_path / "k.pth")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr


# --- parity of t7convert's own conversion of a NaN attribute ------------------------------------------
def test_parity_accepts_the_conversion_of_a_model_with_a_nan_attribute(tmp_path):
    src = tm.save(tmp_path, "nan", tm.sequential(tm.linear(4, 3), tm.module("nn.AddConstant", constant_scalar=math.nan,
                                                                          inplace=False)))
    out = tmp_path / "nan.pth"
    api.convert(str(src), str(out), input_shape=(4,), verify=False)
    r = cli("parity", src, out, "--input-size", "4")
    assert "is not a conversion of" not in r.stderr, r.stderr


# --- classify / evaluate of a model that takes no image ------------------------------------------------
def test_classify_of_a_model_that_takes_no_image_is_one_line(tmp_path):
    from PIL import Image

    src = tm.save(tmp_path, "lin", tm.sequential(tm.linear(4, 3)))
    out = tmp_path / "lin.pth"
    api.convert(str(src), str(out), input_shape=(4,))
    image = tmp_path / "x.png"
    Image.new("RGB", (8, 8)).save(image)
    assert_input_error(cli("classify", out, image), "takes 4", "not 3-channel images")


# --- processes, files, names -----------------------------------------------------------------------
def small_model(tmp_path):
    return tm.save(tmp_path, "small", tm.sequential(tm.linear(8, 4), tm.relu()))


SLOW_WRITE = """
import sys, time
from t7convert.pytorch import files
real = files._write
mark = sys.argv[-1] + ".writing"
def _write(*args, **kwargs):
    open(mark, "w").close()
    time.sleep(3)
    real(*args, **kwargs)
files._write = _write
from t7convert.cli import main
sys.argv = ['t7convert', *sys.argv[1:-1]]
main()
"""


def test_the_work_dies_with_the_command_and_never_publishes_after_a_kill_9(tmp_path):
    src, out = small_model(tmp_path), tmp_path / "out.pth"
    mark = tmp_path / "mark"
    p = subprocess.Popen([sys.executable, "-c", SLOW_WRITE, str(src), "-o", str(out), str(mark)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (tmp_path / "mark.writing").exists():
        assert time.monotonic() < deadline and p.poll() is None, p.stderr.read() if p.poll() is not None else ""
        time.sleep(0.05)
    children = [int(c) for c in open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()]
    assert children
    p.kill()
    p.wait()
    time.sleep(5)  # past the child's sleep: it would have published by now
    assert not out.exists()
    for c in children:
        assert not os.path.exists(f"/proc/{c}") or open(f"/proc/{c}/stat").read().split()[2] == "Z"


def test_force_onto_a_link_to_a_setuid_file_gives_an_output_under_the_umask(tmp_path):
    src = small_model(tmp_path)
    target = tmp_path / "tool"
    target.write_bytes(b"x")
    os.chmod(target, 0o6777)
    link = tmp_path / "out.pth"
    link.symlink_to(target)
    r = cli(src, "-o", link, "--force")
    assert r.returncode == 0, r.stderr
    mode = os.lstat(link).st_mode
    assert stat.S_ISREG(mode) and not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(mode) == 0o666 & ~umask


@pytest.mark.parametrize("command", [("convert",), ("inspect",), ("classify",)])
def test_a_fifo_given_as_the_model_is_refused_without_blocking(tmp_path, command):
    fifo = tmp_path / "m.t7"
    os.mkfifo(fifo)
    args = [*command, fifo]
    if command == ("convert",):
        args += ["-o", tmp_path / "m.pth"]
    if command == ("classify",):
        image = tmp_path / "x.png"
        image.write_bytes(b"")
        args += [image]
    r = cli(*args, timeout=30)
    assert_input_error(r, "not a regular file")


def test_a_pipe_given_as_the_model_says_so(tmp_path):
    src = small_model(tmp_path)
    r = subprocess.run(["bash", "-c", f'{sys.executable} -m t7convert inspect <(cat "{src}")'], capture_output=True,
                       text=True, timeout=60)
    assert_input_error(r, "not a regular file")


def test_a_name_with_a_newline_is_printed_escaped_and_forges_no_line():
    from t7convert.common.errors import printable

    forged = "x.JPEG\nverdict       MATCHES: forged"
    assert printable(forged) == "x.JPEG\\nverdict       MATCHES: forged"
    assert "\n" not in printable("a\rb\x1b[2Jc\udcff") and printable("plain name.JPEG") == "plain name.JPEG"


def test_an_unreadable_image_named_with_a_newline_is_one_line_in_classify(tmp_path):
    src = tm.save(tmp_path, "c", tm.sequential(tm.conv(3, 2, 1, 1), tm.module("nn.Mean", dimension=2, nInputDims=3)))
    out = tmp_path / "c.pth"
    api.convert(str(src), str(out), input_shape=(3, 8, 8), verify=False)
    bad = tmp_path / "x.png\nverdict       MATCHES"
    bad.write_bytes(b"not an image")
    r = cli("classify", out, bad)
    assert r.returncode == 2
    assert not [line for line in r.stderr.splitlines() + r.stdout.splitlines() if line.startswith("verdict")]



# --- 3. the verification plan covers every input kind, and a failed dry run is a refusal --------------
def test_a_lookup_table_before_a_convolution_padded_by_15000_is_refused_before_verifying(tmp_path):
    rng = np.random.default_rng(11)
    lookup = tm.module("nn.LookupTable", weight=rng.standard_normal((10, 4)).astype(np.float32), paddingValue=0)
    model = tm.sequential(lookup, tm.conv(1, 1, 1, 1, pw=15000, ph=15000))  # 1x5x4 indices' vectors as one plane
    src = tm.save(tmp_path, "lt", model)
    assert_input_error(cli(src, "-o", tmp_path / "lt.pth", "--memory-limit", "1GB"), "would need")


def test_a_concat_the_dry_run_cannot_run_is_refused_before_verifying(tmp_path):
    concat = tm.module("nn.Concat", dimension=2, modules=[tm.conv(3, 1, 1, 1, pw=15000, ph=15000),
                                                         tm.module("nn.Identity")])
    src = tm.save(tmp_path, "cat", concat)
    assert_input_error(cli(src, "-o", tmp_path / "cat.pth", "--input-size", "3,8,8"), "does not run on it")
    assert_input_error(cli("parity", src, "--input-size", "3,8,8"), "does not run on it")


def test_every_layer_case_is_planned_on_the_meta_device():
    """A layer computing on values (an index check, a mask) says what it does on shapes only, so that a
    failed dry run can be a refusal without refusing a model t7convert verifies."""
    import tempfile
    from pathlib import Path

    from layer_cases import all_cases
    from test_layer_cases import _inputs

    from t7convert.conversion.model import convert_file
    from t7convert.parity.memory import plan_bytes

    with tempfile.TemporaryDirectory() as tmp:
        for case in all_cases():
            src = tm.save(Path(tmp), "m", case.build())
            converted = convert_file(str(src))
            assert plan_bytes(converted.info(), converted.state, _inputs(case, np.random.default_rng(7))) > 0, case.id


# --- 2. images: bounded before decoding, one bad image listed and the run goes on ----------------------
def long_png(path, width: int = 20000, height: int = 1):
    from PIL import Image

    Image.new("RGB", (width, height)).save(path, optimize=True)
    return path


@pytest.mark.parametrize("size", [(20000, 1), (1, 20000), (9000, 9000)])
def test_an_image_too_long_or_too_large_is_refused_from_its_header(tmp_path, size):
    from t7convert.imagenet.preprocess import load_image
    from t7convert.imagenet.preprocess.image_load import ImageLoadError

    path = long_png(tmp_path / "long.png", *size)
    with pytest.raises(ImageLoadError, match="pixels"):
        load_image(path)


def test_a_ppm_header_of_a_long_image_is_refused(tmp_path):
    from t7convert.imagenet.preprocess import load_image
    from t7convert.imagenet.preprocess.image_load import ImageLoadError

    path = tmp_path / "long.ppm"
    path.write_bytes(b"P6 100000 1 255\n" + bytes(300000))
    with pytest.raises(ImageLoadError, match="pixels"):
        load_image(path)


def test_classify_lists_a_long_image_and_classifies_the_others(tmp_path):
    from PIL import Image

    src = tm.save(tmp_path, "c", tm.sequential(tm.conv(3, 2, 1, 1), tm.avgpool(224, 224, 1, 1), tm.view(2, num_input_dims=3)))
    out = tmp_path / "c.pth"
    api.convert(str(src), str(out), input_shape=(3, 224, 224), verify=False)
    good = tmp_path / "good.png"
    Image.new("RGB", (300, 260), (40, 90, 200)).save(good)
    r = cli("classify", out, long_png(tmp_path / "long.png"), good)
    assert r.returncode == 2 and "pixels" in r.stderr and r.stdout.count("Classes for") == 1, r.stderr[-2000:]


def test_the_device_resize_builds_only_the_rows_a_crop_needs():
    from t7convert.imagenet.preprocess.torch_resize import _matrix_cpu

    for src, dst in ((37, 91), (91, 37), (5, 5), (1, 12)):
        full = _matrix_cpu(src, dst)
        for start, stop in ((0, dst), (3, 10), (dst - 4, dst), (None, None)):
            assert torch.equal(_matrix_cpu(src, dst, start, stop), full[start:stop]), (src, dst, start, stop)
    assert tuple(_matrix_cpu(20000, 5_120_000, 2_559_888, 2_560_112).shape) == (224, 20000)


def test_evaluate_prints_an_image_name_with_a_newline_escaped(class_folder_set, tmp_path, monkeypatch):  # noqa: F811
    from click.testing import CliRunner

    from t7convert.cli import cli as command_line

    root, model = class_folder_set
    (root / "apple" / "x\nverdict       MATCHES: forged.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    model_file = tmp_path / "resnet-50.pth"
    model_file.write_bytes(b"stand-in")
    monkeypatch.setattr(t7convert, "load", lambda path, **kw: model)
    result = CliRunner().invoke(command_line, ["evaluate", str(model_file), "--data", str(root), "--device", "cpu",
                                               "--workers", "0", "--no-progress"])
    assert result.exit_code == 0, result.output
    verdicts = [line for line in result.output.splitlines() if line.startswith("verdict")]
    assert len(verdicts) == 1 and "forged" not in verdicts[0]
    assert "x\\nverdict" in result.output


# --- 5. an ascii file's numbers take memory in proportion to the file ---------------------------------
PEAK = """
import resource, sys
from t7convert.conversion.inspection import inspect_file
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
inspect_file(sys.argv[1])
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def test_an_ascii_file_of_short_numbers_and_one_long_token_is_read_in_a_few_times_its_size(tmp_path):
    """2 bytes a value ("0 "), and one 64-character number: read as one list of bytes objects widened
    to S64, it took about 40 times the file; a chunk at a time it is the result and a little more."""
    path = tmp_path / "big.t7"
    t7convert.write(path, np.zeros(6_000_000, np.float32), encoding="ascii")
    data = path.read_bytes()
    assert data.endswith(b" 0\n")
    path.write_bytes(data[:-2] + b"1" + b"0" * 63 + b"\n")
    size = path.stat().st_size
    r = capped(PEAK, str(path), timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(r.stdout.strip()) < 8 * size, (int(r.stdout), size)


# --- fuzz: image headers --------------------------------------------------------------------------
def _png(width: int, height: int, colour: int, depth: int, body: bytes) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b"")


def _jpeg(width: int, height: int, body: bytes) -> bytes:
    import struct

    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height & 0xFFFF, width & 0xFFFF, 1) + b"\x01\x11\x00"
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + sof + body + b"\xff\xd9"


def test_fuzzed_image_headers_end_in_pixels_or_one_line_within_bounds(tmp_path):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from t7convert.imagenet.preprocess import load_image
    from t7convert.imagenet.preprocess.image_load import MAX_ASPECT, MAX_PIXELS, ImageLoadError

    side = st.one_of(st.integers(0, 40), st.integers(0, 70_000), st.sampled_from([1, 20000, 2 ** 31 - 1]))

    @settings(max_examples=int(os.environ.get("T7CONVERT_FUZZ_CASES", "40")), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(kind=st.sampled_from(["png", "jpeg", "ppm"]), width=side, height=side,
           colour=st.sampled_from([0, 2, 3, 4, 6]), depth=st.sampled_from([1, 8, 16]), body=st.binary(max_size=64))
    def case(kind, width, height, colour, depth, body):
        data = {"png": lambda: _png(width, height, colour, depth, body), "jpeg": lambda: _jpeg(width, height, body),
                "ppm": lambda: b"P6 %d %d 255\n" % (width, height) + body}[kind]()
        path = tmp_path / f"x.{kind}"
        path.write_bytes(data)
        try:
            image = load_image(path)
        except ImageLoadError as e:
            assert "\n" not in str(e) and len(str(e)) < 2000
            return
        h, w = image.shape[-2:]
        assert h * w <= MAX_PIXELS and max(h, w) <= MAX_ASPECT * min(h, w)

    case()


def test_a_data_loader_worker_killed_by_the_system_is_one_line(class_folder_set, monkeypatch):  # noqa: F811
    from t7convert.imagenet import pipeline
    from t7convert.imagenet.evaluate import evaluate

    def killed(path):
        os.kill(os.getpid(), 9)  # what the kernel's OOM killer does to a worker

    root, model = class_folder_set
    monkeypatch.setattr(pipeline, "load_image", killed)
    with pytest.raises(T7ConvertError, match="worker ended abnormally"):
        evaluate(model, root, device="cpu", workers=1, batch_size=4, resize_on="cpu")


def test_a_converted_feature_lp_pooling_of_power_zero_is_refused_on_load(tmp_path):
    payload = converted_payload(tmp_path)
    payload["t7convert"]["graph"]["nodes"][1].update(op="FeatureLPPool", attrs={"width": 2, "stride": 2, "power": 0.0,
                                                                               "batch_mode": True})
    refused(saved(tmp_path, payload), "power")


def test_ten_crops_resized_crop_by_crop_equal_the_crops_of_the_whole_resize():
    from t7convert.imagenet.preprocess.torch_resize import _resize, _ten_crops_scaled, scaled_size, ten_crop_batch

    gen = torch.Generator().manual_seed(4)
    for h, w in ((300, 261), (261, 300), (256, 256), (257, 600)):
        images = torch.rand(2, 3, h, w, generator=gen)
        out_w, out_h = scaled_size(w, h, 256) or (w, h)
        whole = ten_crop_batch(_resize(images, out_w, out_h, slice(None), slice(None)), 224)
        torch.testing.assert_close(_ten_crops_scaled(images, out_w, out_h, 224), whole, rtol=1e-5, atol=1e-6)
