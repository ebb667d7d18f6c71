"""How the golden files were written; not run by the tests (they only read what it wrote).

``PYTHONPATH=CHECKOUT python tests/golden/make_golden.py tests/golden TAG`` writes ``mlp.t7``, ``conv.t7``
and their conversions ``NAME-TAG.pth`` / ``NAME-TAG.safetensors`` with the t7convert of CHECKOUT:

* ``v1-tree``: ``git archive c13ad85`` (t7convert 0.1: ``"format": 1``, the module tree)
* ``v2-tree``: ``git archive 5cd541a`` (``"format_version": 2``, still the module tree)
* ``v2-dag``: 3d63895 (``"format_version": 2``, the DAG)

``expected.json`` holds the reference execution's output (float64) of each ``.t7`` on its seeded input.
A new format version adds its files here with a new TAG, and the old ones stay.
"""
from __future__ import annotations

import os
import sys

import numpy as np


def models() -> dict:
    from t7convert.torch7.format import T7Object, as_storage

    def m(cls, version=1, **fields):
        fields.setdefault("output", np.empty(0, np.float32))
        fields.setdefault("train", False)
        return T7Object(cls, version, fields)

    rng = np.random.default_rng(19)

    def f(*s, scale=1.0):
        return (rng.standard_normal(s) * scale).astype(np.float32)

    mlp = m("nn.Sequential", modules=[
        m("nn.Linear", weight=f(8, 6, scale=0.4), bias=f(8, scale=0.1)),
        m("nn.ReLU", threshold=0, val=0, inplace=False),
        m("nn.Linear", weight=f(3, 8, scale=0.35), bias=f(3, scale=0.1)),
        m("nn.SoftMax")])
    conv = m("nn.Sequential", modules=[
        m("nn.SpatialConvolution", nInputPlane=2, nOutputPlane=4, kW=3, kH=3, dW=1, dH=1, padW=1, padH=1,
          weight=f(4, 2, 3, 3, scale=0.3), bias=f(4, scale=0.1)),
        m("nn.SpatialBatchNormalization", 2, eps=1e-5, momentum=0.1, affine=True, running_mean=f(4, scale=0.1),
          running_var=rng.uniform(0.5, 2, 4).astype(np.float32), weight=rng.uniform(0.5, 1.5, 4).astype(np.float32),
          bias=f(4, scale=0.1)),
        m("nn.ReLU", threshold=0, val=0, inplace=False),
        m("nn.SpatialMaxPooling", kW=2, kH=2, dW=2, dH=2, padW=0, padH=0, ceil_mode=False),
        m("nn.View", size=as_storage(np.array([36], np.int64)), numElements=36),
        m("nn.Linear", weight=f(5, 36, scale=0.2), bias=f(5, scale=0.1))])
    return {"mlp": (mlp, (2, 6)), "conv": (conv, (2, 2, 6, 6))}


def main(out: str, tag: str) -> None:
    import t7convert

    os.makedirs(out, exist_ok=True)
    for name, (model, shape) in models().items():
        src = os.path.join(out, f"{name}.t7")
        t7convert.write(src, model)
        for suffix in (".pth", ".safetensors"):
            dst = os.path.join(out, f"{name}-{tag}{suffix}")
            if os.path.exists(dst):
                os.remove(dst)
            t7convert.convert(src, dst, input_shape=shape[1:])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
