"""Parity says where the Torch7 model itself breaks down, instead of blaming the conversion."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch7_models as tm


def _negative_variance_model(tmp_path):
    bn = tm.batchnorm(4)
    bn.fields["running_var"] = np.array([1.0, -0.5, 1.0, 1.0], np.float32)  # a damaged checkpoint
    return tm.save(tmp_path, "nanbn", tm.sequential(tm.conv(3, 4, 3, 3, 1, 1, 1, 1), bn, tm.relu(), tm.maxpool(2, 2, 2, 2)))


def _t7convert(*args):
    return subprocess.run([sys.executable, "-m", "t7convert", *map(str, args)], capture_output=True, text=True)


@pytest.mark.slow
def test_nan_in_torch7s_own_model_is_an_input_problem_at_its_first_stage(tmp_path):
    src = _negative_variance_model(tmp_path)
    for args in (["parity", src, "--input-size", "3,8,8"], [src, "-o", tmp_path / "m.pth", "--input-size", "3,8,8"]):
        r = _t7convert(*args)
        assert r.returncode == 2, (r.stdout, r.stderr)
        line = r.stderr.strip()
        assert len(line.splitlines()) == 1 and "Torch7's own model yields NaN at modules[2]" in line, r.stderr
        assert "running_var is negative" in line and "RuntimeWarning" not in r.stderr
    assert not (tmp_path / "m.pth").exists()


def _dump_like_torch7(model, x):
    """What reference/dump_reference.lua writes: the input, the output, each top-level module's
    output after the forward pass (a module before an in-place one holds its result): o[1] when
    batched, a 1-D output whole."""
    from t7convert.interpreter import run

    execution = run(model, x)
    stages = []
    for i in range(1, len(model.modules) + 1):
        o = np.asarray(execution.final[f"modules[{i}]"], np.float32)
        stages.append(o if o.ndim == 1 else o[0])
    return {"input": x, "output": np.asarray(execution.output, np.float32), "stages": stages}


@pytest.mark.slow
def test_a_batch_of_one_whose_view_drops_the_batch_passes_against_torch7(tmp_path):
    """conv -> ReLU(true) -> View(n) -> Linear at batch 1: the View's output is 1-D (Torch7 drops the
    batch of one), so that stage is compared whole, and the in-place ReLU's alias is followed."""
    import t7convert

    relu = tm.relu()
    relu.fields["inplace"] = True
    model = tm.sequential(tm.conv(2, 3, 3, 3, 1, 1, 1, 1), relu, tm.view(3 * 4 * 4), tm.linear(48, 5))
    src = tm.save(tmp_path, "m", model)
    ref = tmp_path / "m.ref.t7"
    t7convert.write(ref, _dump_like_torch7(t7convert.read(src), tm.f32(1, 2, 4, 4)))
    r = _t7convert("parity", str(src), "--reference", str(ref), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    import json
    stages = {s["path"]: s for s in json.loads(r.stdout)["comparisons"][0]["stages"]}
    assert stages["modules[3]"]["shape"] == [48] and stages["modules[3]"]["ok"]
