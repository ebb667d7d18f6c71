"""Every registered layer class, through the user's journey: convert with verification against the
reference execution, save, load the file with ``weights_only``, and run it; the loaded module and the
reference agree on a fresh input. A class registered without a case here fails the coverage test."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch7_models as tm
from layer_cases import all_cases, covered_classes

import t7convert
from t7convert import api
from t7convert.conversion.context import supported_classes as converted_classes
from t7convert.interpreter import run as reference_run
from t7convert.interpreter import supported_classes as executed_classes

CASES = all_cases()


def _inputs(case, rng):
    x = _draw(case.input, rng, case.positive)
    if case.indices:  # token indices (LookupTable first): 1..indices, as float, the way Torch7 scripts feed them
        first = rng.integers(1, case.indices + 1, np.shape(x[0] if isinstance(x, list) else x)).astype(np.float32)
        x = [first, *x[1:]] if isinstance(x, list) else first
    return x


def _draw(spec, rng, positive: bool):
    """A shape (batch first), a list of specs (a Lua table, nested as it is), or ``{shape, dtype, low,
    high}`` for an integer tensor (indices, a mask)."""
    if isinstance(spec, list):
        return [_draw(s, rng, positive) for s in spec]
    if isinstance(spec, dict):
        return rng.integers(spec["low"], spec["high"] + 1, size=tuple(spec["shape"])).astype(spec["dtype"])
    return (rng.uniform(0.1, 2.0, spec) if positive else rng.standard_normal(spec)).astype(np.float32)


def _torch(x):
    return [_torch(v) for v in x] if isinstance(x, list) else torch.from_numpy(x)


def _flat(value):
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _flat(v)]
    return [np.asarray(value.detach().numpy() if torch.is_tensor(value) else value, np.float64)]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_the_layer_converts_verifies_loads_and_runs_like_the_reference(tmp_path, case):
    model = case.build()
    src = tm.save(tmp_path, "m", model)
    out = tmp_path / "m.pth"
    shape = case.input if isinstance(case.input, tuple) else None  # a table input: the model's own hint
    report = api.convert(str(src), str(out), input_shape=shape[1:] if shape else None,
                         batch=shape[0] if shape else 1, force=True)
    assert report.verification.ok, report.verification.summary()
    torch.load(out, weights_only=True)

    x = _inputs(case, np.random.default_rng(7))
    want = _flat(reference_run(t7convert.read(src), x).output)
    module = t7convert.load(str(out))
    with torch.no_grad():
        got = _flat(module(_torch(x)))
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.shape == b.shape
        scale = max(float(np.nanmax(np.abs(b))) if b.size else 0.0, 1e-12)
        with np.errstate(invalid="ignore"):
            diff = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b))
        assert float(diff.max(initial=0.0)) / scale <= case.tol


@pytest.mark.slow
def test_every_registered_class_has_a_layer_case():
    covered = set().union(*(covered_classes(c) for c in CASES))
    assert set(converted_classes()) - covered == set(), "registered converters without a layer case"
    assert set(executed_classes()) - covered == set(), "reference layers without a layer case"
