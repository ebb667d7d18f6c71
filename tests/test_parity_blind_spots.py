"""Parity says where the Torch7 model itself breaks down, instead of blaming the conversion."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch7_models as tm


def _negative_variance_model(tmp_path):
    bn = tm.batchnorm(4)
    bn.fields["running_var"] = np.array([1.0, -0.5, 1.0, 1.0], np.float32)  # a damaged checkpoint
    return tm.save(tmp_path, "nanbn", tm.sequential(tm.conv(3, 4, 3, 3, 1, 1, 1, 1), bn, tm.relu(), tm.maxpool(2, 2, 2, 2)))


def _t7convert(*args):
    return subprocess.run([sys.executable, "-m", "t7convert", *map(str, args)], capture_output=True, text=True)


def test_nan_in_torch7s_own_model_is_an_input_problem_at_its_first_stage(tmp_path):
    src = _negative_variance_model(tmp_path)
    for args in (["parity", src, "--input-size", "3,8,8"], [src, "-o", tmp_path / "m.pth", "--input-size", "3,8,8"]):
        r = _t7convert(*args)
        assert r.returncode == 2, (r.stdout, r.stderr)
        line = r.stderr.strip()
        assert len(line.splitlines()) == 1 and "Torch7's own model yields NaN at modules[2]" in line, r.stderr
        assert "running_var is negative" in line and "RuntimeWarning" not in r.stderr
    assert not (tmp_path / "m.pth").exists()
