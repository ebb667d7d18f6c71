"""Converted files (and .t7 inputs) built to ask for unbounded work, and outputs that must not clobber.

Each reproduction is generated here, small, and run where a hang or a runaway allocation is the failure
mode in a subprocess under a memory cap (``resource.setrlimit``) and a timeout, so that a regression ends
as a failed test, not a stuck machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch7_models as tm

from t7convert import T7ConvertError

MEMORY_CAP = 6 << 30   # address space: torch's import alone reserves ~2 GB of it
TIMEOUT = 60


def capped(code: str, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter limited to MEMORY_CAP bytes of address space."""
    prelude = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({MEMORY_CAP}, {MEMORY_CAP}))\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code), *args], capture_output=True,
                          text=True, timeout=timeout)


LOAD = """
import sys, t7convert
try:
    t7convert.load(sys.argv[1])
except t7convert.T7ConvertError as e:
    print("REFUSED", str(e).splitlines()[0]); sys.exit(0)
print("LOADED")
"""


def refused(path, *words: str) -> str:
    r = capped(LOAD, str(path))
    assert r.returncode == 0 and r.stdout.startswith("REFUSED"), (r.returncode, r.stdout, r.stderr[-2000:])
    line = r.stdout.strip()
    assert len(line.splitlines()) == 1
    for w in words:
        assert w in line, line
    return line


def cli(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return capped("import sys\nfrom t7convert.cli import main\nsys.argv = ['t7convert', *sys.argv[1:]]\nmain()\n",
                  *map(str, args), timeout=timeout)


def assert_input_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    for w in words:
        assert w in lines[0], lines[0]


# --- converted files that describe a huge model -------------------------------------------------------
def tiny_resnet_state() -> dict[str, torch.Tensor]:
    from t7convert.conversion.resnet_spec import ResNetSpec
    from t7convert.pytorch.resnet import ResNet

    spec = ResNetSpec(block="basic", layers=[1], widths=[4], num_classes=3, stem="cifar", stem_width=4)
    return ResNet(spec).state_dict()


def canonical_info(layers) -> dict:
    return {"format_version": 2, "kind": "canonical",
            "resnet": {"block": "basic", "layers": layers, "widths": [4], "num_classes": 3, "stem": "cifar",
                       "stem_width": 4}}


@pytest.mark.slow
def test_a_canonical_description_of_a_hundred_million_blocks_is_refused_before_building(tmp_path):
    path = tmp_path / "huge.pth"
    torch.save({"t7convert": canonical_info([10 ** 8]), "state_dict": tiny_resnet_state()}, path)
    assert path.stat().st_size < 20_000
    refused(path, "huge.pth", "resnet.layers")


@pytest.mark.slow
def test_a_safetensors_description_of_a_hundred_million_blocks_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "huge.safetensors"
    save_file({"fc.bias": torch.zeros(3)}, str(path), metadata={"t7convert": json.dumps(canonical_info([10 ** 8]))})
    assert path.stat().st_size < 400
    refused(path, "huge.safetensors", "resnet.layers")


@pytest.mark.parametrize("resnet, words", [
    ({"layers": [1] * 100}, "stages"),
    ({"widths": [10 ** 8]}, "widths"),
    ({"stem_width": -4}, "stem_width"),
    ({"num_classes": "many"}, "num_classes"),
    ({"block": "weird"}, "block"),
    ({"layers": [1.5]}, "layers"),
    ({"groups": 0}, "groups"),
])
@pytest.mark.slow
def test_a_canonical_description_out_of_bounds_is_refused_in_one_line(tmp_path, resnet, words):
    info = canonical_info([1])
    info["resnet"].update(resnet)
    path = tmp_path / "bad.pth"
    torch.save({"t7convert": info, "state_dict": tiny_resnet_state()}, path)
    refused(path, words)


@pytest.mark.slow
def test_a_bare_state_dict_naming_block_99999999_is_refused(tmp_path):
    sd = tiny_resnet_state()
    sd["layer1.99999999.conv1.weight"] = sd["layer1.0.conv1.weight"].clone()
    path = tmp_path / "bare.pth"
    torch.save(sd, path)
    refused(path, "layer1")


@pytest.mark.slow
def test_a_format_1_tree_of_shared_children_is_refused_not_expanded(tmp_path):
    node = {"op": "Identity"}
    for _ in range(40):
        node = {"op": "Sequential", "children": [node, node]}  # pickled once, 2**40 nodes when walked
    path = tmp_path / "tree.pth"
    torch.save({"t7convert": {"format": 1, "kind": "generic", "graph": node}, "state_dict": {}}, path)
    assert path.stat().st_size < 20_000
    refused(path, "already met elsewhere")


# --- tensors whose storage is smaller than they are ---------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: torch.zeros(1).expand(3, 4),                  # stride 0: one stored value
    lambda: torch.zeros(4, 3).t(),                        # transposed: not the layout t7convert writes
    lambda: torch.zeros(6).as_strided((3, 4), (1, 1)),    # overlapping rows
])
@pytest.mark.slow
def test_a_state_dict_with_expanded_or_overlapping_tensors_is_refused(tmp_path, make):
    sd = tiny_resnet_state()
    sd["fc.weight"] = make()
    path = tmp_path / "expanded.pth"
    torch.save(sd, path)
    refused(path, "fc.weight", "contiguous")


@pytest.mark.slow
def test_a_stride_0_weight_of_gigabytes_is_refused_without_materialising_it(tmp_path):
    """2**28 float32 elements (1 GiB) over one stored value: the file is a few KB."""
    payload = {"t7convert": {"format_version": 2, "kind": "generic",
                             "graph": {"nodes": [{"name": "m1", "op": "Linear", "args": [["input"]],
                                                  "attrs": {"in_features": 1 << 14, "out_features": 1 << 14,
                                                            "bias": False}}], "output": ["m1"]}},
               "state_dict": {"m1.weight": torch.zeros(1).expand(1 << 14, 1 << 14)}}
    path = tmp_path / "wide.pth"
    torch.save(payload, path)
    assert path.stat().st_size < 10_000
    refused(path, "m1.weight", "contiguous")


# --- what a conversion materialises ---------------------------------------------------------------
def expanded(*shape: int):
    """A weight of ``shape`` over one stored value (zero strides): a few bytes in the file."""
    import numpy as np

    return np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), shape, (0,) * len(shape))


def test_sixteen_expanded_weights_of_256_mib_are_refused_together_without_materialising(tmp_path):
    """One 2**26-element view over one value is within the reader's bound; sixteen are 4.3 GB from 5 KB."""
    convs = [tm.module("nn.SpatialConvolution", nInputPlane=1 << 13, nOutputPlane=1 << 13, kW=1, kH=1, dW=1, dH=1,
                       padW=0, padH=0, weight=expanded(1 << 13, 1 << 13, 1, 1)) for _ in range(16)]
    src = tm.save(tmp_path, "convs", tm.sequential(*convs))
    assert src.stat().st_size < 20_000
    line = refused(src, "repeats a storage of 1 elements", "expanded views may add up to")
    assert "modules[2]" in line  # the first one is within the budget; the second crosses it


@pytest.mark.slow
def test_expanded_weights_within_the_reader_bound_are_refused_by_the_conversion_budget(tmp_path):
    """Sixteen 16 MiB views are within what the reader allows; the conversion would copy them all."""
    import numpy as np

    lins = [tm.module("nn.Linear", weight=expanded(2048, 2048), bias=np.zeros(2048, np.float32)) for _ in range(16)]
    src = tm.save(tmp_path, "lins", tm.sequential(*lins))
    refused(src, "the converted weights would take 268,566,528 bytes", "16 times the file")
    r = cli(src, "-o", tmp_path / "lins.pth", "--no-verify")
    assert_input_error(r, "lins.t7", "converted weights would take")
    assert not (tmp_path / "lins.pth").exists()


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_module_shared_200_times_is_stored_once(tmp_path, suffix):
    """Torch7 shares one nn.Linear object between 200 places: one weight in the output, not 200.

    The verification chains 200 float32 products of length 256: each adds a relative rounding error of
    about sqrt(256) * 2**-24, so the tolerance is that times the depth (the default 1e-5 sits at the edge
    of what 200 layers give, and would pass or fail by the draw of the weights)."""
    depth, width = 200, 256
    shared = tm.linear(width, width)
    src = tm.save(tmp_path, "shared", tm.sequential(*[shared] * depth))
    out = tmp_path / f"shared{suffix}"
    import t7convert

    t7convert.convert(str(src), str(out), input_shape=(width,), rtol=depth * width ** 0.5 * 2.0 ** -24)
    one_copy = 256 * 256 * 4 + 256 * 4
    assert one_copy < out.stat().st_size < 2 * one_copy + 200_000  # the description is most of the rest
    module = t7convert.load(str(out))
    weights = [p for name, p in module.named_parameters(remove_duplicate=False) if name.endswith("weight")]
    assert len(weights) == 200 and len({p.data_ptr() for p in weights}) == 1
    x = torch.randn(2, 256, generator=torch.Generator().manual_seed(200))
    assert torch.equal(module(x), t7convert.load(str(src))(x))


def test_a_legacy_batchnorm_shared_between_places_is_stored_once(tmp_path):
    """Its running_var is computed from running_std at every place: equal arrays are made one."""
    bn = tm.batchnorm(4, legacy_std=True)
    src = tm.save(tmp_path, "bn", tm.sequential(bn, bn, bn))
    out = tmp_path / "bn.pth"
    import t7convert

    t7convert.convert(str(src), str(out), input_shape=(4, 3, 3))
    state = torch.load(out, weights_only=True)["state_dict"]
    pointers = {k.split(".", 1)[1]: set() for k in state}
    for k, v in state.items():
        pointers[k.split(".", 1)[1]].add(v.untyped_storage().data_ptr())
    assert all(len(p) == 1 for name, p in pointers.items() if name != "num_batches_tracked"), pointers


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".t7", ".pth"])
def test_a_loaded_module_survives_its_file_being_truncated(tmp_path, suffix):
    """The input is memory-mapped while it is read; the module load returns owns its weights."""
    src = tm.save(tmp_path, "lin", tm.sequential(tm.linear(512, 512), tm.relu(), tm.linear(512, 512)))
    path = src
    if suffix == ".pth":
        path = tmp_path / "lin.pth"
        import t7convert

        t7convert.convert(str(src), str(path), verify=False)
    r = capped("""
        import os, sys, torch, t7convert
        m = t7convert.load(sys.argv[1])
        os.truncate(sys.argv[1], 100)
        print(float(m(torch.ones(1, 512)).sum()))
        """, str(path))
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])


# --- outputs ----------------------------------------------------------------------------------------
def small_model(tmp_path):
    return tm.save(tmp_path, "small", tm.sequential(tm.linear(4, 3), tm.relu()))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fifo", "chardev", "folder"])
def test_force_replaces_only_regular_files(tmp_path, kind):
    import stat

    from t7convert import api

    target = tmp_path / "out.pth"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    else:
        try:  # what /dev/null is: as root, a rename would have replaced it with a regular file
            os.mknod(target, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("creating a device node needs root")
    before = os.lstat(target).st_mode
    with pytest.raises(T7ConvertError, match="replaces only regular files"):
        api.convert(str(small_model(tmp_path)), str(target), force=True, input_shape=(4,))
    words = ["replaces only regular files"]  # a folder too: -o may name one with a slash (OUTDIR/), not without
    assert_input_error(cli(small_model(tmp_path), "-o", target, "--force"), *words)
    assert os.lstat(target).st_mode == before
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_force_through_a_symlink_replaces_the_link_not_its_target(tmp_path):
    from t7convert import api

    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    link = tmp_path / "out.pth"
    link.symlink_to(victim)
    api.convert(str(small_model(tmp_path)), str(link), force=True, input_shape=(4,))
    assert victim.read_text() == "keep" and not link.is_symlink() and link.stat().st_size > 0


def test_a_name_taken_while_converting_is_not_replaced_without_force(tmp_path):
    from t7convert.common.atomic import atomic_output

    target = tmp_path / "out.pth"
    with pytest.raises(T7ConvertError, match="out.pth exists; pass --force"):
        with atomic_output(target, exclusive=True) as tmp:
            with open(tmp, "w") as f:
                f.write("ours")
            target.write_text("the other run's")  # a simultaneous conversion finished first
    assert target.read_text() == "the other run's"
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


@pytest.mark.slow
def test_two_simultaneous_conversions_to_one_new_name_one_wins(tmp_path):
    src, out = small_model(tmp_path), tmp_path / "out.pth"
    code = "import sys\nfrom t7convert.cli import main\nsys.argv = ['t7convert', *sys.argv[1:]]\nmain()\n"
    runs = [subprocess.Popen([sys.executable, "-c", code, str(src), "-o", str(out), "--no-verify"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=TIMEOUT), p.stderr.read()) for p in runs]
    assert sorted(code for code, _ in results) == [0, 2], results
    assert "exists; pass --force" in next(err for code, err in results if code == 2)
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_a_temporary_left_by_sigkill_is_removed_by_the_next_run_in_that_folder(tmp_path):
    import signal

    from t7convert.common.atomic import atomic_output

    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from t7convert.common.atomic import atomic_output
        with atomic_output(sys.argv[1]) as tmp:
            open(tmp, "w").write("half")
            print(tmp, flush=True)
            time.sleep(120)
        """), str(tmp_path / "a.pth")], stdout=subprocess.PIPE, text=True)
    left = writer.stdout.readline().strip()
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=TIMEOUT)
    assert os.path.exists(left)
    foreign = tmp_path / ".t7convert-notours.tmp"
    foreign.write_text("not named as ours: kept")
    with atomic_output(tmp_path / "b.pth") as tmp:
        live = tmp
        with open(tmp, "w") as f:
            f.write("whole")
        assert os.path.exists(live)
    assert not os.path.exists(left) and foreign.exists()
    assert (tmp_path / "b.pth").read_text() == "whole"


@pytest.mark.slow
def test_an_interrupt_just_after_the_rename_says_the_output_is_complete(tmp_path):
    src, out = small_model(tmp_path), tmp_path / "out.pth"
    code = textwrap.dedent("""
        import sys
        from t7convert.common import atomic
        real = atomic._fsync
        def fsync(path, *, folder=False):
            real(path, folder=folder)
            if folder:
                raise KeyboardInterrupt  # Ctrl-C once the rename is done
        atomic._fsync = fsync
        from t7convert.cli import main
        sys.argv = ['t7convert', *sys.argv[1:]]
        main()
        """)
    r = subprocess.run([sys.executable, "-c", code, str(src), "-o", str(out)], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 130, r.stderr
    assert "written in full" in r.stderr and "aborted" not in r.stderr, r.stderr
    import t7convert
    assert isinstance(t7convert.load(str(out)), torch.nn.Module)


# --- errors that are the input's (exit 2), not t7convert's (exit 3) ----------------------------------
def generic_pool_file(tmp_path, **attrs):
    src = tm.save(tmp_path, "pool", tm.sequential(tm.maxpool(2, 2, 2, 2)))
    out = tmp_path / "pool.pth"
    from t7convert import api

    api.convert(str(src), str(out), input_shape=(1, 4, 4))
    payload = torch.load(out, weights_only=True)
    payload["t7convert"]["graph"]["nodes"][0]["attrs"].update(attrs)
    bad = tmp_path / "bad.pth"
    torch.save(payload, bad)
    return src, bad


@pytest.mark.slow
@pytest.mark.parametrize("attrs", [{"stride": [0, 0]}, {"stride": "2"}, {"kernel": [2, -2]}, {"padding": [1e9, 0]}])
def test_a_crafted_pooling_geometry_is_an_input_error(tmp_path, attrs):
    src, bad = generic_pool_file(tmp_path, **attrs)
    assert_input_error(cli("parity", src, bad, "--input-size", "1,4,4"), "bad.pth", "attrs.")


def test_a_legacy_raw_pickle_checkpoint_loads_weights_only(tmp_path):
    from t7convert import api

    src = tm.save(tmp_path, "lin", tm.sequential(tm.linear(4, 3)))
    out = tmp_path / "lin.pth"
    api.convert(str(src), str(out))
    legacy = tmp_path / "legacy.pth"
    torch.save(torch.load(out, weights_only=True), legacy, _use_new_zipfile_serialization=False)
    import t7convert

    x = torch.randn(2, 4)
    with torch.no_grad():
        assert torch.equal(t7convert.load(str(legacy))(x), t7convert.load(str(out))(x))


@pytest.fixture
def full_disk(tmp_path):
    """A 256 KiB tmpfs: a real ENOSPC (mounting one needs root)."""
    folder = tmp_path / "small"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


@pytest.mark.parametrize("name", ["big.pth", "big.safetensors"])
def test_a_full_disk_is_an_input_error_and_leaves_nothing(tmp_path, full_disk, name):
    from t7convert import api

    src = tm.save(tmp_path, "big", tm.sequential(tm.linear(400, 300)))
    with pytest.raises(T7ConvertError, match="no space left on the device"):
        api.convert(str(src), str(full_disk / name), verify=False)
    assert os.listdir(full_disk) == []


# --- verification memory plan --------------------------------------------------------------------
@pytest.mark.slow
def test_a_convolution_padded_by_15000_is_refused_before_the_verification_runs(tmp_path):
    """3x30224x30224 float64 padded input alone is 22 GB: the OOM killer ended the run with no message."""
    src = tm.save(tmp_path, "pad", tm.sequential(tm.conv(3, 4, 3, 3, pw=15000, ph=15000)))
    assert src.stat().st_size < 2000
    r = cli(src, "-o", tmp_path / "pad.pth")
    assert_input_error(r, "verification on a 1x3x4x4 input would need", "GB", "--no-verify", "--input")
    assert not (tmp_path / "pad.pth").exists()
    assert_input_error(cli("parity", src, "--input-size", "3,8,8"), "would need", "--memory-limit")
    assert cli(src, "-o", tmp_path / "pad.pth", "--no-verify").returncode == 0


@pytest.mark.slow
def test_the_memory_limit_is_an_option_of_convert_and_parity(tmp_path):
    from t7convert import api

    src = tm.save(tmp_path, "ok", tm.sequential(tm.conv(3, 8, 3, 3, pw=1, ph=1), tm.relu()))
    with pytest.raises(T7ConvertError, match=r"would need 0\.\d MB \(the limit is 0\.0 MB\)"):
        api.convert(str(src), str(tmp_path / "ok.pth"), input_shape=(3, 32, 32), memory_limit=10_000)
    assert api.convert(str(src), str(tmp_path / "ok.pth"), input_shape=(3, 32, 32),
                       memory_limit=1 << 30).verification.ok
    with pytest.raises(T7ConvertError, match="would need"):
        api.parity(str(src), input_shape=(3, 32, 32), memory_limit=10_000)
    assert_input_error(cli(src, "-o", tmp_path / "o.pth", "--memory-limit", "lots"), "--memory-limit")


@pytest.mark.slow
def test_a_guessed_input_too_large_for_memory_falls_back_to_the_largest_that_fits(tmp_path):
    """A 2048-plane convolution before a padded 112x112 average pooling: the 112x112 its kernel asks for
    would need 1.3 GB; under a 500 MB limit the verification runs on 56x56 (the largest halving that
    fits) and says so; a size the user gives is never changed."""
    from t7convert import api

    src = tm.save(tmp_path, "wide", tm.sequential(tm.conv(2048, 2048, 1, 1, cls="nn.SpatialConvolution"),
                                                  tm.avgpool(112, 112, 1, 1, 56, 56)))
    report = api.convert(str(src), memory_limit=500_000_000)
    assert report.verification.ok and report.input_shape == (2048, 56, 56)
    assert any("verified on a 1x2048x56x56 input: 1x2048x112x112 would need" in n for n in report.converted.notes)
    with pytest.raises(T7ConvertError, match="verification on a 1x2048x224x224 input would need"):
        api.convert(str(src), input_shape=(2048, 224, 224), memory_limit=500_000_000)
    assert api.parity(str(src), memory_limit=500_000_000).ok
    with pytest.raises(T7ConvertError, match="no smaller input the model accepts fits"):
        api.convert(str(src), memory_limit=1000)


def test_the_plan_counts_padding_columns_and_every_output():
    from t7convert.conversion.context import convert_graph
    from t7convert.conversion.dag import lower
    from t7convert.conversion.model import ConvertedModel
    from t7convert.parity.memory import plan_bytes

    node, _ = convert_graph(tm.sequential(tm.conv(3, 4, 3, 3, pw=1, ph=1), tm.relu()))
    dag, state = lower(node)
    info = ConvertedModel(kind="generic", state=state, graph=node, dag=dag).info()
    outputs = 2 * 4 * 10 * 10                     # conv and relu outputs, 4 planes of 10x10
    window = 8 * (3 * 12 * 12 + 3 * 9 * 10 * 10)  # float64 padded input and its 3*3x3 columns
    assert plan_bytes(info, state, (1, 3, 10, 10)) == 12 * outputs + 12 * 300 + window


# --- inputs changing underneath -------------------------------------------------------------------
def test_an_input_rewritten_during_the_conversion_is_not_saved(tmp_path, monkeypatch):
    """The weights are written from the memory-mapped input: a rewrite between verification and save
    (all-zero weights, "PASS") must not reach the output."""
    import time

    from t7convert import api
    from t7convert.parity import compare

    src = tm.save(tmp_path, "lin", tm.sequential(tm.linear(4, 3)))
    real = compare.verify

    def verify_then_rewrite(*args, **kwargs):
        report = real(*args, **kwargs)
        time.sleep(0.01)
        data = bytearray(src.read_bytes())
        data[-12:] = bytes(12)
        src.write_bytes(bytes(data))
        return report

    monkeypatch.setattr(compare, "verify", verify_then_rewrite)
    out = tmp_path / "lin.pth"
    with pytest.raises(T7ConvertError, match=r"changed while it was being converted .*; nothing was written"):
        api.convert(str(src), str(out), input_shape=(4,))
    assert not out.exists() and not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def cli_patched(patch: str, *args: str) -> subprocess.CompletedProcess:
    """The command line, with ``patch`` (Python run first, in the process that does the work) standing in
    for what happens to the files meanwhile."""
    code = f"import os, sys, time, signal\n{textwrap.dedent(patch)}\nfrom t7convert.cli import main\n" \
           "sys.argv = ['t7convert', *sys.argv[1:]]\nmain()\n"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=TIMEOUT)


WHILE_WRITING = """
from t7convert.pytorch import files
real = files._write
def _write(converted, state, tmp, fmt, *rest):
    {action}
    real(converted, state, tmp, fmt, *rest)
files._write = _write
"""


@pytest.mark.slow
def test_an_input_truncated_while_it_is_read_is_one_line_not_sigbus(tmp_path):
    """The input is memory-mapped: its pages past a new end raise SIGBUS when the weights are written
    from them. The command line reports it in one line and leaves no temporary behind."""
    src = tm.save(tmp_path, "wide", tm.sequential(tm.linear(512, 512), tm.relu(), tm.linear(512, 512)))
    out = tmp_path / "wide.pth"
    r = cli_patched(WHILE_WRITING.format(action="os.truncate(sys.argv[1], 100)"), src, "-o", out)
    assert_input_error(r, str(src), "changed while it was being read", "SIGBUS", "nothing was written")
    assert not out.exists() and not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


@pytest.mark.slow
def test_a_conversion_killed_for_memory_is_one_line(tmp_path):
    src, out = small_model(tmp_path), tmp_path / "out.pth"
    r = cli_patched(WHILE_WRITING.format(action="os.kill(os.getpid(), signal.SIGKILL)"), src, "-o", out)
    assert_input_error(r, "killed (SIGKILL)", "memory", "nothing was written")
    assert not out.exists() and not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


@pytest.mark.slow
def test_sigterm_sent_to_the_command_reaches_the_work_and_leaves_nothing(tmp_path):
    import signal

    src, out = small_model(tmp_path), tmp_path / "out.pth"
    action = "print('writing', flush=True); time.sleep(60)"
    code = f"import os, sys, time, signal\n{textwrap.dedent(WHILE_WRITING.format(action=action))}\n" \
           "from t7convert.cli import main\nsys.argv = ['t7convert', *sys.argv[1:]]\nmain()\n"
    proc = subprocess.Popen([sys.executable, "-c", code, str(src), "-o", str(out), "--no-verify"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]  # the temporary exists now
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGTERM, proc.stderr.read()
    assert not out.exists() and not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]


def test_an_input_rewritten_in_place_keeping_its_size_and_time_is_not_saved(tmp_path, monkeypatch):
    """The bytes written must be the bytes verified, even when the rewrite restores the file's time."""
    from t7convert import api
    from t7convert.parity import compare

    linear = tm.linear(4, 3)
    src = tm.save(tmp_path, "lin", tm.sequential(linear))
    weight_at = src.read_bytes().index(linear.fields["weight"].tobytes())
    real = compare.verify

    def verify_then_rewrite(*args, **kwargs):
        report = real(*args, **kwargs)
        st = src.stat()
        with open(src, "r+b") as f:  # in place: the mapping sees it
            f.seek(weight_at)
            f.write(bytes(48))
        os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
        return report

    monkeypatch.setattr(compare, "verify", verify_then_rewrite)
    out = tmp_path / "lin.pth"
    with pytest.raises(T7ConvertError, match=r"changed while it was being converted .*; nothing was written"):
        api.convert(str(src), str(out), input_shape=(4,))
    assert not out.exists()


# --- what inspect and messages print ----------------------------------------------------------------
@pytest.mark.slow
def test_a_view_of_two_to_the_25_sizes_is_refused_and_inspected_in_one_short_line(tmp_path):
    """A zero-stride LongTensor of 2**25 ones: 256 MiB once read, a few bytes in the file."""
    import numpy as np

    from t7convert.conversion.inspection import MAX_DESCRIPTION, describe

    sizes = np.lib.stride_tricks.as_strided(np.ones(1, np.int64), (1 << 25,), (0,))
    view = tm.module("nn.View", size=sizes)
    src = tm.save(tmp_path, "view", tm.sequential(view))
    assert src.stat().st_size < 2000
    r = cli("inspect", src, timeout=30)
    assert r.returncode == 0, r.stderr
    assert max(map(len, r.stdout.splitlines())) < MAX_DESCRIPTION + 40, r.stdout[:500]
    text = describe(view)
    assert text.startswith("nn.View(1, 1, 1") and len(text) <= MAX_DESCRIPTION
    assert_input_error(cli(src, "-o", tmp_path / "v.pth", timeout=30), "size", "33,554,432 sizes")
