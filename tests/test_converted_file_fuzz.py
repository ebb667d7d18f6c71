"""Fuzzing converted files: hypothesis-generated descriptions and state_dicts, loaded and compared.

The seeds are a real generic conversion (convolution, pooling, view, linear) and a canonical ResNet
state_dict; hypothesis changes attributes (huge, negative, wrong-typed values), ops, references,
canonical architecture fields, and tensors (shapes, dtypes, expanded or overlapping layouts, missing and
extra keys). ``t7convert.load`` and ``api.parity`` must end in a result or a one-line T7ConvertError.

The examples run in a child process under a memory cap and a timeout, so that a description asking for
unbounded work fails the test instead of the machine. ``T7CONVERT_FUZZ_CASES=N`` runs N examples
(default 40: about a minute).
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch7_models as tm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import t7convert
from t7convert import T7ConvertError, api

CASES = int(os.environ.get("T7CONVERT_FUZZ_CASES", "40"))
CHILD = os.environ.get("T7CONVERT_FUZZ_CHILD") == "1"
MEMORY_CAP = 6 << 30
TIMEOUT = 300


@pytest.mark.slow
def test_fuzzed_converted_files_end_in_a_result_or_a_one_line_error_within_bounds():
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__, "-k",
                        "child_examples"], capture_output=True, text=True, timeout=TIMEOUT, preexec_fn=cap,
                       env={**os.environ, "T7CONVERT_FUZZ_CHILD": "1"}, cwd=Path(__file__).parent.parent)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert "1 passed" in r.stdout, r.stdout[-2000:]


# --- the child: hypothesis examples ------------------------------------------------------------------
_HUGE = st.one_of(st.integers(-3, 40), st.integers(-(1 << 63), (1 << 63) - 1), st.sampled_from([0, 1 << 24, 10 ** 8]))
_VALUES = st.one_of(_HUGE, st.text(max_size=5), st.floats(allow_nan=True), st.none(), st.booleans(),
                    st.lists(_HUGE, max_size=5))


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    with tm.drawing_from(53):  # built once for the module: its weights are not the first test's to choose
        src = tm.save(tmp, "seed", tm.sequential(tm.conv(1, 2, 3, 3, pw=1, ph=1), tm.relu(), tm.maxpool(2, 2, 2, 2),
                                                 tm.view(8), tm.linear(8, 3)))
    out = tmp / "seed.pth"
    api.convert(str(src), str(out), input_shape=(1, 4, 4))
    generic = torch.load(out, weights_only=True)
    from t7convert.conversion.resnet_spec import ResNetSpec
    from t7convert.pytorch.resnet import ResNet

    spec = ResNetSpec(block="basic", layers=[1], widths=[2], num_classes=3, stem="cifar", stem_width=2)
    return src, generic, ResNet(spec).state_dict(), spec.to_dict(), tmp


def _tensor(data: st.DataObject, like: torch.Tensor) -> torch.Tensor:
    shape = data.draw(st.one_of(st.just(tuple(like.shape)), st.lists(st.integers(0, 6), max_size=4).map(tuple)))
    kind = data.draw(st.sampled_from(["plain", "expanded", "transposed", "overlapping", "int", "double"]))
    n = max(1, int(torch.tensor(shape).prod()) if shape else 1)
    if kind == "expanded":
        return torch.zeros(1).expand(*shape) if shape else torch.zeros(())
    if kind == "transposed" and len(shape) >= 2:
        return torch.zeros(shape[::-1]).transpose(0, -1)
    if kind == "overlapping" and len(shape) == 2 and shape[0] > 1:
        return torch.zeros(n).as_strided(shape, (1, 1))
    dtype = {"int": torch.int64, "double": torch.float64}.get(kind, torch.float32)
    return torch.zeros(shape, dtype=dtype)


def _mutate_generic(data: st.DataObject, payload: dict) -> dict:
    info, state = payload["t7convert"], dict(payload["state_dict"])
    nodes = info["graph"]["nodes"]
    from t7convert.pytorch.modules import BUILDERS

    for _ in range(data.draw(st.integers(1, 3))):
        what = data.draw(st.sampled_from(["attr", "op", "args", "tensor", "drop", "duplicate", "top", "share",
                                          "checkpoint", "name"]))
        node = nodes[data.draw(st.integers(0, len(nodes) - 1))]
        if what == "attr" and node.get("attrs"):
            key = data.draw(st.sampled_from(sorted(node["attrs"])))
            node["attrs"][key] = data.draw(_VALUES)
        elif what == "op":
            node["op"] = data.draw(st.sampled_from(sorted(BUILDERS.names())))
        elif what == "args":
            node["args"] = data.draw(st.lists(st.lists(st.sampled_from(["input", "m1", "m2", "m9"]), min_size=1,
                                                       max_size=2), max_size=3))
        elif what == "tensor" and state:
            key = data.draw(st.sampled_from(sorted(state)))
            state[key] = _tensor(data, state[key])
        elif what == "drop" and state:
            state.pop(data.draw(st.sampled_from(sorted(state))))
        elif what == "duplicate":
            nodes.append(dict(node))
        elif what == "top":
            info[data.draw(st.sampled_from(["source", "data_config", "format_version", "title"]))] = data.draw(_VALUES)
        elif what == "share":  # pickle keeps shared references: one list (or node) met in several places
            shared = data.draw(st.sampled_from([[0] * 8, [["input"]] * 3, {"op": "Identity"}]))
            place = data.draw(st.sampled_from(["attrs", "args", "children", "data_config", "nodes"]))
            if place == "attrs":
                node.setdefault("attrs", {})["shared"] = [shared, shared]
            elif place == "args":
                for other in nodes:
                    other["args"] = node["args"]
            elif place == "children":
                node["children"] = [shared, shared]
            elif place == "data_config":
                info["data_config"] = {"mean": shared, "std": shared}
            else:
                nodes.append(node)
        elif what == "checkpoint":  # what sample reads: a project, tokens and options
            info["checkpoint"] = {"project": data.draw(st.sampled_from(["char-rnn", "torch-rnn", "rnn", None])),
                                  "tokens": data.draw(st.one_of(st.lists(st.text(max_size=2), max_size=4), _VALUES)),
                                  "num_layers": data.draw(_VALUES), "rnn_size": data.draw(_VALUES),
                                  "model": data.draw(st.sampled_from(["lstm", "rnn", 3]))}
        elif what == "name":
            node["name"] = data.draw(st.one_of(st.text(max_size=6), st.sampled_from(
                ["\uff4d2", "class", "None", "forward", "code", "__init__", "m", "m1_v2"])))
    return {"t7convert": info, "state_dict": state}


def _mutate_canonical(data: st.DataObject, state: dict, spec: dict) -> dict:
    spec, state = dict(spec), dict(state)
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(sorted(spec)))
        spec[key] = data.draw(st.one_of(_VALUES, st.lists(_HUGE, min_size=1, max_size=3)))
    if data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(state)))
        state[key] = _tensor(data, state[key])
    if data.draw(st.booleans()):  # a bare state_dict: the architecture is derived from its keys
        name = data.draw(st.sampled_from(["layer1.99999999.conv1.weight", "layer7.0.conv1.weight",
                                          "layer1.1.bn1.weight", "fc.weight"]))
        state[name] = _tensor(data, state["fc.weight"])
        return state
    return {"t7convert": {"format_version": 2, "kind": "canonical", "resnet": spec}, "state_dict": state}


def _one_line(error: T7ConvertError) -> None:
    assert "\n" not in str(error).strip() and len(str(error)) < 2000, str(error)


@pytest.mark.skipif(not CHILD, reason="runs in the capped child process of the test above")
@settings(max_examples=CASES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_child_examples(seeds, data):
    src, generic, canonical_state, canonical_spec, tmp = seeds
    import copy

    if data.draw(st.booleans()):
        payload = _mutate_generic(data, copy.deepcopy(generic))
    else:
        payload = _mutate_canonical(data, canonical_state, canonical_spec)
    fmt = data.draw(st.sampled_from(["pth", "safetensors"]))  # json expands shared references: small ones here
    path = tmp / f"case.{fmt}"
    if fmt == "pth":
        torch.save(payload, path)
    else:
        import json

        from safetensors.torch import save_file
        state = payload.get("state_dict", payload)
        meta = {"t7convert": json.dumps(payload["t7convert"], default=str)} if "t7convert" in payload else None
        try:
            save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata=meta)
        except Exception:  # noqa: BLE001 - what safetensors cannot store is not a case
            return
    try:
        module = t7convert.load(str(path))
    except T7ConvertError as e:
        _one_line(e)
        return
    assert isinstance(module, torch.nn.Module)
    if isinstance(payload.get("t7convert"), dict) and "checkpoint" in payload["t7convert"]:
        try:
            "".join(api.sample(str(path), length=3, sample=data.draw(st.booleans())))
        except T7ConvertError as e:
            _one_line(e)
    try:
        result = api.parity(str(src), str(path), input_shape=(1, 4, 4), memory_limit=1 << 30)
    except T7ConvertError as e:
        _one_line(e)
        return
    assert isinstance(result.ok, bool)
