"""Small Torch7 models built in Python the way nn's Lua constructors build them, written with t7convert's
own writer: the always-available counterpart of the shared fixtures written by real Torch7."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import numpy as np

import t7convert
from t7convert.torch7.format import T7Object, as_storage

T = TypeVar("T")


class _NoGenerator:
    """Stands for the generator outside a test: a draw there (a test module's constants, a parametrize
    list) would depend on which modules were imported before it, so it is refused."""

    def __getattr__(self, name: str):
        raise RuntimeError("torch7_models drew random numbers outside a test: tests get a generator seeded "
                           "from their own id (conftest); module-level constants draw inside "
                           "`with torch7_models.drawing_from(seed):`")


_generator: np.random.Generator | _NoGenerator = _NoGenerator()


def seed(value: int | None) -> None:
    """Start the helpers' generator afresh: ``conftest`` calls it before every test with a seed derived
    from the test's own id, so the weights a test builds never depend on which tests ran before it
    (``None``: no generator, as outside a test)."""
    global _generator
    _generator = _NoGenerator() if value is None else np.random.default_rng(value)


def generator() -> np.random.Generator:
    """The generator the helpers draw from (seeded per test)."""
    return _generator  # type: ignore[return-value]


@contextlib.contextmanager
def drawing_from(value: int) -> Iterator[np.random.Generator]:
    """The helpers draw from a generator of this seed inside the block (a test module's constants and
    parametrize lists, built at import), whatever was imported or drawn before it."""
    global _generator
    saved, _generator = _generator, np.random.default_rng(value)
    try:
        yield _generator
    finally:
        _generator = saved


def drawn(value: int, build: Callable[[], T]) -> T:
    """``build()`` drawing from a generator of seed ``value`` (a parametrize list built at import)."""
    with drawing_from(value):
        return build()


def f32(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (_generator.standard_normal(shape) * scale).astype(np.float32)


def module(class_name: str, version: int | None = 1, **fields) -> T7Object:
    fields.setdefault("output", np.empty(0, np.float32))
    fields.setdefault("train", False)
    return T7Object(class_name, version, fields)


def sequential(*mods: T7Object) -> T7Object:
    return module("nn.Sequential", modules=list(mods))


def conv(n_in: int, n_out: int, kw: int, kh: int, dw: int = 1, dh: int = 1, pw: int = 0, ph: int = 0, *,
         groups: int = 1, bias: bool = True, cls: str = "cudnn.SpatialConvolution") -> T7Object:
    fields = dict(nInputPlane=n_in, nOutputPlane=n_out, kW=kw, kH=kh, dW=dw, dH=dh, padW=pw, padH=ph,
                  weight=f32(n_out, n_in // groups, kh, kw, scale=(2.0 / (kh * kw * n_in)) ** 0.5))
    if groups != 1:
        fields["groups"] = groups
    if bias:
        fields["bias"] = f32(n_out, scale=0.1)
    return module(cls, **fields)


def batchnorm(n: int, *, eps: float = 1e-5, affine: bool = True, legacy_std: bool = False,
              spatial: bool = True) -> T7Object:
    mean, var = f32(n, scale=0.1), _generator.uniform(0.5, 2.0, n).astype(np.float32)
    fields: dict = dict(eps=eps, momentum=0.1, affine=affine, running_mean=mean)
    if legacy_std:
        fields["running_std"] = (1.0 / np.sqrt(var + eps)).astype(np.float32)
    else:
        fields["running_var"] = var
    if affine:
        fields.update(weight=_generator.uniform(0.5, 1.5, n).astype(np.float32), bias=f32(n, scale=0.1))
    cls = "nn.SpatialBatchNormalization" if spatial else "nn.BatchNormalization"
    return module(cls, 1 if legacy_std else 2, **fields)


def relu(threshold: float = 0, val: float = 0, cls: str = "nn.ReLU") -> T7Object:
    return module(cls, threshold=threshold, val=val, inplace=False)


def maxpool(kw: int, kh: int, dw: int, dh: int, pw: int = 0, ph: int = 0, ceil: bool = False,
            cls: str = "nn.SpatialMaxPooling") -> T7Object:
    return module(cls, kW=kw, kH=kh, dW=dw, dH=dh, padW=pw, padH=ph, ceil_mode=ceil)


def avgpool(kw: int, kh: int, dw: int, dh: int, pw: int = 0, ph: int = 0, ceil: bool = False,
            count_include_pad: bool = True, divide: bool = True, cls: str = "nn.SpatialAveragePooling") -> T7Object:
    return module(cls, kW=kw, kH=kh, dW=dw, dH=dh, padW=pw, padH=ph, ceil_mode=ceil,
                  count_include_pad=count_include_pad, divide=divide)


def view(*sizes: int, num_input_dims: int | None = None) -> T7Object:
    fields: dict = dict(size=as_storage(np.array(sizes, np.int64)), numElements=int(np.prod([s for s in sizes if s > 0])))
    if num_input_dims is not None:
        fields["numInputDims"] = num_input_dims
    return module("nn.View", **fields)


def linear(n_in: int, n_out: int, bias: bool = True) -> T7Object:
    fields = dict(weight=f32(n_out, n_in, scale=n_in ** -0.5))
    if bias:
        fields["bias"] = f32(n_out, scale=0.1)
    return module("nn.Linear", **fields)


def save(tmp: Path, name: str, model: T7Object) -> Path:
    path = tmp / f"{name}.t7"
    t7convert.write(path, model)
    return path
