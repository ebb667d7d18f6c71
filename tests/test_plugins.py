"""A user's own Torch7 class converts through a plugin package: the converter, the builder and the
independent reference twin, registered under t7convert's entry points, with no change to t7convert."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch7_models as tm

PLUGIN = {
    "setup.py": """
        from setuptools import setup
        setup(name="mylab-t7", version="0.1", py_modules=["mylab_convert", "mylab_build", "mylab_reference"],
              entry_points={"t7convert.converters": ["mylab = mylab_convert"],
                            "t7convert.builders": ["mylab = mylab_build"],
                            "t7convert.reference": ["mylab = mylab_reference"]})
    """,
    # MyLab.FancyLayer: y = scale * x + shift, per element
    "mylab_convert.py": """
        from t7convert.conversion.fields import number
        from t7convert.conversion.registry import converts
        from t7convert.conversion.tree import Node

        @converts("MyLab.FancyLayer")
        def fancy(m, ctx):
            return Node("MyLabFancy", {"scale": float(number(m, ctx, "scale")), "shift": float(number(m, ctx, "shift"))})
    """,
    "mylab_build.py": """
        from torch import nn
        from t7convert.pytorch.families import builds

        class Fancy(nn.Module):
            def __init__(self, scale, shift):
                super().__init__()
                self.scale, self.shift = scale, shift
            def forward(self, x):
                return x * self.scale + self.shift

        @builds("MyLabFancy")
        def build(a, children):
            return Fancy(a["scale"], a["shift"])
    """,
    "mylab_reference.py": """
        from t7convert.interpreter.fields import number
        from t7convert.interpreter.registry import layer

        @layer("MyLab.FancyLayer")
        def fancy(m, x, call):
            return x * number(m, call.where, "scale") + number(m, call.where, "shift")
    """,
}


@pytest.mark.slow
def test_a_plugin_package_adds_a_class_that_converts_verifies_and_loads(tmp_path):
    src_dir = tmp_path / "mylab-t7"
    src_dir.mkdir()
    for name, text in PLUGIN.items():
        (src_dir / name).write_text(textwrap.dedent(text))
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(site), str(src_dir)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    model = tm.save(tmp_path, "m", tm.sequential(tm.linear(4, 3), tm.module("MyLab.FancyLayer", scale=2.5, shift=-1.0)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "m.pth"
    r = subprocess.run([sys.executable, "-m", "t7convert", str(model), "-o", str(out)], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "PASS" in r.stdout  # verified against the plugin's reference twin
    check = ("import sys, torch, t7convert\n"
             "m = t7convert.load(sys.argv[1]); x = torch.ones(2, 4)\n"
             "lin = m.get_submodule('m1')\n"
             "print(float((m(x) - (lin(x) * 2.5 - 1.0)).abs().max()))")
    r = subprocess.run([sys.executable, "-c", check, str(out)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) == 0.0


@pytest.mark.slow
def test_without_the_plugin_the_refusal_says_how_to_write_one(tmp_path):
    model = tm.save(tmp_path, "m", tm.sequential(tm.module("MyLab.FancyLayer", scale=2.5, shift=-1.0)))
    r = subprocess.run([sys.executable, "-m", "t7convert", str(model), "-o", str(tmp_path / "m.pth")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "MyLab.FancyLayer" in r.stderr and "t7convert.converters" in r.stderr and "Your own layers" in r.stderr
