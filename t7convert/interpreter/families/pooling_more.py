"""THNN's other poolings, from the C kernels: dilated and volumetric max, volumetric average, max
unpooling, fractional max, SpatialLPPooling (a Sequential), FeatureLPPooling, adaptive max/average,
temporal max and dynamic k-max pooling.

Max pooling (SpatialDilatedMaxPooling.c, VolumetricDilatedMaxPooling.c) visits, for output ``o``, the taps
``start + z*dilation`` from ``start = o*d - pad`` moved up by whole dilations to >= 0. The spatial kernel
stops at ``min(o*d - pad + (k-1)*dil + 1, size)``; the volumetric one runs ``min(k, k + o*d - pad)`` taps and
skips those past the end. A value wins with ``val > max`` from ``-THInf`` (``-FLT_MAX`` for float: an empty
window, or one of -inf only, gives ``-FLT_MAX`` and index -1; SpatialAdaptiveMaxPooling starts from
``-FLT_MAX`` whatever the type), so NaN never wins and the first maximum in scan order is the index. Output
sizes: ``floor_or_ceil((n - (dil*(k-1)+1) + 2p) / d) + 1``, one fewer (only when padded) when the last window
starts at or past ``n + p``.

Max unpooling reads, through the engine's per-run module state, the input its pooling module (the
same object, the ``pooling`` field) received earlier in this forward, and locates the maxima as that
pooling's THNN kernel records them (flat plane index for spatial; per-axis kernel offsets, re-based on
the pooling's stride and padding, for volumetric).
"""
from __future__ import annotations

import math

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import FLT_MAX, array_input, flag, integer, number, th_inf
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


class _Pool:
    """A max pooling's fields, in the Lua names' order (T,) W, H."""

    def __init__(self, m: T7Object, call: Call, axes: str, *, dilated: bool) -> None:
        w = call.where
        self.axes = axes  # e.g. "HW" or "THW": the order of the input's last dimensions
        self.k = [integer(m, w, f"k{a}") for a in axes]
        self.d = [integer(m, w, f"d{a}", default=k) for a, k in zip(axes, self.k)]
        self.p = [integer(m, w, f"pad{a}", default=0) for a in axes]
        self.dil = [integer(m, w, f"dilation{a}", default=1) if dilated else 1 for a in axes]
        self.ceil = flag(m, "ceil_mode")
        if len(axes) == 3 and (m.version or 0) < 2:  # VolumetricMaxPooling:read
            self.ceil = False
        if min(self.k + self.d + self.dil) <= 0:
            raise call.fail(f"kernel {self.k}, stride {self.d} and dilation {self.dil} must be positive")
        if any(k // 2 < p for k, p in zip(self.k, self.p)):
            raise call.fail(f"pad {self.p} should be smaller than half of kernel size {self.k}")

    def out_sizes(self, sizes: list[int], call: Call) -> list[int]:
        outs = []
        for n, k, d, p, dil in zip(sizes, self.k, self.d, self.p, self.dil):
            q = (n - (dil * (k - 1) + 1) + 2 * p) / d
            o = int(math.ceil(q) if self.ceil else math.floor(q)) + 1
            if any(self.p) and (o - 1) * d >= n + p:
                o -= 1
            outs.append(o)
        if min(outs) < 1:
            raise call.fail(f"input {sizes} gives output {outs}: output size is too small")
        return outs

    def taps(self, axis: int, o: int, n: int) -> tuple[list[int], list[int]]:
        """(input positions, offsets within the kernel THNN records) of window ``o`` along ``axis``."""
        k, d, p, dil = self.k[axis], self.d[axis], self.p[axis], self.dil[axis]
        start = o * d - p
        first = start
        while first < 0:
            first += dil
        if len(self.axes) == 2:
            end = min(start + (k - 1) * dil + 1, n)
            pos = list(range(first, end, dil))
            return pos, pos
        count = min(k, k + start)
        pos = [first + z * dil for z in range(count) if first + z * dil < n]
        return pos, [z + (k - count) for z in range(count) if first + z * dil < n]


def _max_pool(g: _Pool, x: np.ndarray, outs: list[int], lowest: float) -> tuple[np.ndarray, np.ndarray]:
    """(values, where the max is) for a batch (N, C, *spatial): the second is the flat plane index
    (spatial) or the per-axis kernel offsets (volumetric, last axis), -1 where nothing won (nothing
    above ``lowest``, THNN's ``-THInf``)."""
    nd = len(g.axes)
    sizes = list(x.shape[2:])
    out = np.full(x.shape[:2] + tuple(outs), lowest)
    where = np.full(x.shape[:2] + tuple(outs) + ((nd,) if nd == 3 else ()), -1, np.int64)
    windows = [[g.taps(a, o, sizes[a]) for o in range(outs[a])] for a in range(nd)]
    for cell in np.ndindex(*outs):
        pos = [windows[a][cell[a]][0] for a in range(nd)]
        if min(len(q) for q in pos) == 0:
            continue
        vals = x[(slice(None), slice(None)) + np.ix_(*pos)].reshape(x.shape[0], x.shape[1], -1)
        best = np.fmax.reduce(vals, axis=-1, initial=lowest)
        hit = (vals == best[..., None]) & (best[..., None] > lowest)
        first = np.where(hit.any(-1), hit.argmax(-1), -1)
        out[(slice(None), slice(None)) + cell] = best
        grid = np.stack(np.meshgrid(*pos, indexing="ij"), -1).reshape(-1, nd)
        if nd == 2:
            flat = grid[:, 0] * sizes[1] + grid[:, 1]
            where[(slice(None), slice(None)) + cell] = np.where(first >= 0, flat[first], -1)
        else:
            offs = np.stack(np.meshgrid(*[windows[a][cell[a]][1] for a in range(nd)], indexing="ij"), -1).reshape(-1, nd)
            where[(slice(None), slice(None)) + cell] = np.where(first[..., None] >= 0, offs[first], -1)
    return out, where


def _run_max(m: T7Object, x, call: Call, axes: str, *, dilated: bool) -> np.ndarray:
    nd = len(axes)
    x = array_input(x, m, where=call.where, ndims=(nd + 1, nd + 2))
    g = _Pool(m, call, axes, dilated=dilated)
    xb = x if x.ndim == nd + 2 else x[None]
    out, _ = _max_pool(g, xb, g.out_sizes(list(xb.shape[2:]), call), -th_inf(m))
    if m.class_name == "nn.VolumetricMaxPooling":
        call.engine.module_state[id(m)] = {"input": x.copy()}
    return out if x.ndim == nd + 2 else out[0]


@layer("nn.SpatialDilatedMaxPooling")
def spatial_dilated_max(m: T7Object, x, call: Call) -> np.ndarray:
    return _run_max(m, x, call, "HW", dilated=True)


@layer("nn.VolumetricMaxPooling")
def volumetric_max(m: T7Object, x, call: Call) -> np.ndarray:
    return _run_max(m, x, call, "THW", dilated=False)


@layer("nn.VolumetricDilatedMaxPooling")
def volumetric_dilated_max(m: T7Object, x, call: Call) -> np.ndarray:
    return _run_max(m, x, call, "THW", dilated=True)


@layer("nn.VolumetricAveragePooling")
def volumetric_average(m: T7Object, x, call: Call) -> np.ndarray:
    """THNN with padding 0, floor mode, padding counted: the mean of each whole window."""
    x = array_input(x, m, where=call.where, ndims=(4, 5))
    k = [integer(m, call.where, f"k{a}") for a in "THW"]
    d = [integer(m, call.where, f"d{a}", default=kk) for a, kk in zip("THW", k)]
    if min(k + d) <= 0:
        raise call.fail(f"kernel {k} and stride {d} must be positive")
    sizes = x.shape[-3:]
    outs = [(n - kk) // dd + 1 for n, kk, dd in zip(sizes, k, d)]
    if min(outs) < 1 or min(n - kk for n, kk in zip(sizes, k)) < 0:
        raise call.fail(f"input {list(sizes)} is smaller than the kernel {k}")
    out = np.zeros(x.shape[:-3] + tuple(outs))
    for t, i, j in np.ndindex(*outs):
        block = x[..., t * d[0]: t * d[0] + k[0], i * d[1]: i * d[1] + k[1], j * d[2]: j * d[2] + k[2]]
        out[..., t, i, j] = block.sum(axis=(-3, -2, -1)) / (k[0] * k[1] * k[2])
    return out


# --- unpooling -----------------------------------------------------------------------------------
_UNPOOLING = {"nn.SpatialMaxUnpooling": ("nn.SpatialMaxPooling", "HW"),
              "nn.VolumetricMaxUnpooling": ("nn.VolumetricMaxPooling", "THW")}


@layer(*_UNPOOLING)
def max_unpooling(m: T7Object, x, call: Call) -> np.ndarray:
    pool_class, axes = _UNPOOLING[m.class_name]
    nd = len(axes)
    pooling = m.get("pooling")
    if not isinstance(pooling, T7Object) or pooling.class_name != pool_class:
        raise call.fail(f"field 'pooling' should be the {pool_class} it reads")
    g = _Pool(pooling, call, axes, dilated=False)
    if g.k != g.d:
        raise call.fail(f"the pooling's kernel {g.k} must equal its stride {g.d}")
    state = call.engine.module_state.get(id(pooling))
    if state is None:
        raise call.fail("its pooling module has not run in this forward (Torch7 would read stale indices)")
    pin = state["input"]
    x = array_input(x, m, where=call.where, ndims=(nd + 1, nd + 2))
    pb = pin if pin.ndim == nd + 2 else pin[None]
    _, where = _max_pool(g, pb, g.out_sizes(list(pb.shape[2:]), call), -th_inf(pooling))
    xb = x if x.ndim == nd + 2 else x[None]
    if pin.ndim != x.ndim or xb.shape != where.shape[: nd + 2]:
        raise call.fail(f"input {x.shape} does not match its pooling's indices {where.shape[:nd + 2]}")
    osz = list(pb.shape[2:])
    out = np.zeros(xb.shape[:2] + (math.prod(osz),))
    flat_x = xb.reshape(xb.shape[0], xb.shape[1], -1)
    if nd == 2:
        idx = where.reshape(xb.shape[0], xb.shape[1], -1)
    else:  # VolumetricMaxUnpooling.c: (o*d - pad + offset) per axis
        outs = where.shape[2:5]
        grid = np.stack(np.meshgrid(*[np.arange(o) for o in outs], indexing="ij"), -1)
        pos = grid * np.array(g.d) - np.array(g.p) + where
        bad = ((pos < 0) | (pos >= np.array(osz))).any(-1) | (where < 0).any(-1)
        idx = np.where(bad, -1, (pos[..., 0] * osz[1] + pos[..., 1]) * osz[2] + pos[..., 2])
        idx = idx.reshape(xb.shape[0], xb.shape[1], -1)
    if (idx < 0).any() or (idx >= out.shape[-1]).any():
        raise call.fail("found an invalid max index (a pooling window held no maximum)")
    np.put_along_axis(out, idx, flat_x, axis=-1)  # windows do not overlap (kernel == stride): no index twice
    out = out.reshape(xb.shape[:2] + tuple(osz))
    return out if x.ndim == nd + 2 else out[0]


# --- fractional ----------------------------------------------------------------------------------
def _intervals(u, n_in: int, n_out: int, pool: int) -> np.ndarray:
    """generateIntervals in the samples' precision (``real``): starts of the windows along one axis."""
    real = type(u)
    alpha = real(n_in - pool) / real(n_out - 1) if n_out > 1 else real(0)
    seq = [int(real(real(i) + u) * alpha) - int(u * alpha) for i in range(n_out - 1)]
    return np.array(seq + [n_in - pool], np.int64)


@layer("nn.SpatialFractionalMaxPooling", "nn.VolumetricFractionalMaxPooling")
def fractional_max(m: T7Object, x, call: Call) -> np.ndarray:
    """THNN's layout: spatial (N, C, H, W) with samples (W, H); volumetric (N, C, H, W, T) with samples
    (T, W, H). The samples are the file's only when ``newRandomPool`` holds and their batch and plane
    count are the input's (``initSampleBuffer_``); otherwise Torch7 draws new ones."""
    spatial = m.class_name == "nn.SpatialFractionalMaxPooling"
    axes, sample_of = ("HW", {"W": 0, "H": 1}) if spatial else ("HWT", {"T": 0, "W": 1, "H": 2})
    nd = len(axes)
    x = array_input(x, m, where=call.where, ndims=(nd + 1, nd + 2))
    xb = x if x.ndim == nd + 2 else x[None]
    raw = m.get("randomSamples")
    if raw is None or not flag(m, "newRandomPool"):
        raise call.fail("draws random pooling regions at every forward (no fixPoolingRegions() with randomSamples)")
    samples = np.asarray(raw)
    if samples.ndim != 3 or samples.shape[:2] != xb.shape[:2] or samples.shape[2] != nd:
        raise call.fail(f"randomSamples {samples.shape} are not for a {xb.shape[0]}x{xb.shape[1]} input: "
                        "Torch7 would draw new random ones")
    pool = [integer(m, call.where, f"poolSize{a}") for a in axes]
    sizes = list(xb.shape[2:])
    if m.get(f"out{axes[0]}") is not None:
        outs = [integer(m, call.where, f"out{a}") for a in axes]
    else:
        outs = [math.floor(n * number(m, call.where, f"ratio{a}")) for n, a in zip(sizes, axes)]
    if min(outs) < 1 or any(o + p - 1 >= n for o, p, n in zip(outs, pool, sizes)):
        raise call.fail(f"poolSize {pool} too large for output {outs} of input {sizes}")
    real = np.float32 if samples.dtype == np.float32 else np.float64
    out = np.empty(xb.shape[:2] + tuple(outs))
    for n, c in np.ndindex(*xb.shape[:2]):
        starts = [_intervals(real(samples[n, c, sample_of[a]]), sizes[i], outs[i], pool[i]) for i, a in enumerate(axes)]
        for cell in np.ndindex(*outs):
            block = xb[(n, c) + tuple(slice(s[o], s[o] + p) for s, o, p in zip(starts, cell, pool))]
            out[(n, c) + cell] = np.fmax.reduce(block.reshape(-1), initial=-th_inf(m))
    return out if x.ndim == nd + 2 else out[0]


# --- LP, adaptive, temporal ----------------------------------------------------------------------
@layer("nn.SpatialLPPooling")
def spatial_lp(m: T7Object, x, call: Call):
    """A Sequential: its children (Square/Power, average pooling, MulConstant, Sqrt/Power) in order."""
    for i in range(len(call.children)):
        x = call.child(i, x)
    return x


@layer("nn.FeatureLPPooling")
def feature_lp(m: T7Object, x, call: Call) -> np.ndarray:
    batch = flag(m, "batch_mode")
    x = array_input(x, m, where=call.where, ndims=(2, 3, 4) if batch else (1, 2, 3))
    width, stride = integer(m, call.where, "width"), integer(m, call.where, "stride")
    power = float(number(m, call.where, "power"))
    if not (2 <= width <= 16 and 1 <= stride <= 4):
        raise call.fail(f"width {width} must be within 2..16 and stride {stride} within 1..4")
    f = np.moveaxis(x, 1 if batch else 0, 0)
    if f.shape[0] < width:
        raise call.fail(f"feature dimension {f.shape[0]} must be >= width {width}")
    n_out = (f.shape[0] - width) // stride + 1
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = np.stack([np.power(np.power(f[o * stride: o * stride + width], power).sum(0), 1.0 / power)
                        for o in range(n_out)])
    return np.moveaxis(out, 0, 1 if batch else 0)


@layer("nn.SpatialAdaptiveMaxPooling", "nn.SpatialAdaptiveAveragePooling")
def spatial_adaptive(m: T7Object, x, call: Call) -> np.ndarray:
    """Bins in float32 as the C computes them: max ``floor((float)i/o*n)``..``ceil((float)(i+1)/o*n)``;
    average ``floor((float)(i*n)/o)``..``ceil((float)((i+1)*n)/o)``, ``sum / kW / kH``."""
    x = array_input(x, m, where=call.where, ndims=(3, 4))
    oh, ow = integer(m, call.where, "H"), integer(m, call.where, "W")
    if min(oh, ow) < 1:
        raise call.fail(f"output size {ow}x{oh} must be positive")
    is_max = m.class_name == "nn.SpatialAdaptiveMaxPooling"
    f = np.float32

    def edges(i: int, o: int, n: int) -> tuple[int, int]:
        if is_max:
            return math.floor(f(i) / f(o) * f(n)), math.ceil(f(i + 1) / f(o) * f(n))
        return math.floor(f(i * n) / f(o)), math.ceil(f((i + 1) * n) / f(o))

    H, W = x.shape[-2:]
    out = np.empty(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        y0, y1 = edges(i, oh, H)
        for j in range(ow):
            x0, x1 = edges(j, ow, W)
            block = x[..., y0:y1, x0:x1]
            if is_max:
                out[..., i, j] = np.fmax.reduce(block.reshape(block.shape[:-2] + (-1,)), axis=-1, initial=-FLT_MAX)
            else:
                out[..., i, j] = block.sum(axis=(-2, -1)) / (x1 - x0) / (y1 - y0)
    return out


@layer("nn.TemporalMaxPooling")
def temporal_max(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(2, 3))
    k = integer(m, call.where, "kW")
    d = integer(m, call.where, "dW", default=k)
    if min(k, d) <= 0:
        raise call.fail(f"kernel {k} and stride {d} must be positive")
    t = x.shape[-2]
    if t < k:
        raise call.fail(f"input sequence length {t} is smaller than the kernel {k}")
    return np.stack([np.fmax.reduce(x[..., o * d: o * d + k, :], axis=-2, initial=-th_inf(m))
                     for o in range((t - k) // d + 1)], axis=-2)


@layer("nn.TemporalDynamicKMaxPooling")
def dynamic_k_max(m: T7Object, x, call: Call) -> np.ndarray:
    x = array_input(x, m, where=call.where, ndims=(2, 3))
    min_k = integer(m, call.where, "minK")
    factor = number(m, call.where, "factor", default=0)
    axis = x.ndim - 2
    length = x.shape[axis]
    k = max(min_k, math.ceil(factor * length))
    if length < min_k or k > length:
        raise call.fail(f"input sequence length ({length}) too small for desired k value ({k})")
    order = np.argsort(-x, axis=axis, kind="stable")
    keep = np.sort(np.take(order, np.arange(k), axis=axis), axis=axis)
    return np.take_along_axis(x, keep, axis=axis)
