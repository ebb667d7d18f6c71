"""Reference execution of the other 2-D convolutions: nn.SpatialDilatedConvolution,
nn.SpatialDepthWiseConvolution, nn.SpatialConvolutionLocal, nn.SpatialConvolutionMap,
nn.SpatialFullConvolutionMap and nn.SpatialSubSampling, with the N-d helpers the temporal,
volumetric and full convolutions use too.

Written from THNN's C code (nn 8726825). Its convolutions unfold the zero-padded input into columns
(``im2col``: each kernel offset picks ``x[o*d - pad + k*dilation]``) and multiply by the weight; here
the same sum is taken one kernel offset at a time over strided slices of the padded input. Full
convolutions (``col2im``) scatter ``x[i] * w[k]`` to ``i*d - pad + k``: here each kernel offset adds a
strided slice of a zero buffer, whose padding border is then cut off.

- SpatialDepthWiseConvolution's updateOutput reads ``inputHeight = size[3]``, ``inputWidth = size[2]``:
  each contiguous H x W plane is unfolded as W rows of H values (a reshape; square inputs are
  unaffected), weight (m, nIn, kH, kW) transposed to (nIn, m, ...), bias (m, nIn) likewise; output
  plane ``i*m + j`` is input plane i through weight[j, i].
- SpatialConvolutionLocal: ``out[o, y, x] = bias[o, y, x] + sum weight[y, x, o, c, ky, kx] *
  xpad[c, y*dH + ky, x*dW + kx]``; checkInputSize refuses any input but nIn x iH x iW.
- SpatialConvolutionMap: output plane p = bias[p] + the valid cross-correlation (validXCorr2Dptr,
  stride dH, dW) of each connTable row (i, p)'s input plane with its kernel; SpatialFullConvolutionMap
  the full convolution (fullConv2Dptr: ``out[y*dH + ky, x*dW + kx] += in[y, x] * k[ky, kx]``), 3-D
  input only.
- SpatialSubSampling: ``weight[c] * sum(window) + bias[c]``.
"""
from __future__ import annotations

import numpy as np

from t7convert.interpreter.engine import Call
from t7convert.interpreter.fields import array_input, integer, tensor
from t7convert.interpreter.registry import layer
from t7convert.torch7.format import T7Object


def shaped(m: T7Object, call: Call, name: str, shape: tuple[int, ...], *, required: bool = True
           ) -> np.ndarray | None:
    """A tensor field in the shape THNN views it in (the same elements in another rank are the same
    memory, as the Lua code's views and resizes treat them; the same rank with other sizes is not)."""
    v = tensor(m, call.where, name, required=required)
    if v is None:
        return None
    if v.size != int(np.prod(shape)) or (v.ndim == len(shape) and v.shape != shape):
        raise call.fail(f"{name} has shape {'x'.join(map(str, v.shape))}, expected {'x'.join(map(str, shape))}")
    return v.reshape(shape)


def at_least(m: T7Object, call: Call, name: str, minimum: int, default=None) -> int:
    value = integer(m, call.where, name) if default is None else integer(m, call.where, name, default=default)
    if value < minimum:
        raise call.fail(f"field {name} is {value}, must be at least {minimum}")
    return value


def axes_fields(m: T7Object, call: Call, prefix: str, axes: str, minimum: int, default=None) -> tuple[int, ...]:
    """``prefix`` + each axis letter (``kH, kW``), in the order of ``axes``."""
    return tuple(at_least(m, call, prefix + a, minimum, default) for a in axes)


def _offset_slices(offsets, steps, counts, strides) -> tuple[slice, ...]:
    return tuple(slice(k * st, k * st + (n - 1) * s + 1, s) for k, st, n, s in zip(offsets, steps, counts, strides))


def correlate(x: np.ndarray, w: np.ndarray, stride, pad, dilation, call: Call) -> np.ndarray:
    """x (N, C, *S) with w (O, C, *K): ``out[n, o, p] = sum_c,k w[o, c, k] * xpad[n, c, p*stride + k*dilation]``."""
    sizes, kernel = x.shape[2:], w.shape[2:]
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if any(s + 2 * p < r for s, p, r in zip(sizes, pad, reach)):
        raise call.fail(f"input {'x'.join(map(str, sizes))} padded by {'x'.join(map(str, pad))} is smaller than "
                        f"the kernel's reach {'x'.join(map(str, reach))}")
    counts = [(s + 2 * p - r) // st + 1 for s, p, r, st in zip(sizes, pad, reach, stride)]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    out = np.zeros((x.shape[0], w.shape[0], *counts))
    for k in np.ndindex(*kernel):
        patch = xp[(slice(None), slice(None)) + _offset_slices(k, dilation, counts, stride)]
        out += np.einsum("oc,nc...->no...", w[(slice(None), slice(None)) + k], patch)
    return out


def full_convolve(x: np.ndarray, w: np.ndarray, stride, pad, adj, call: Call) -> np.ndarray:
    """x (N, C, *S) with w (C, O, *K): ``x[n, c, i] * w[c, o, k]`` lands at ``i*stride - pad + k``; the
    output is ``(S - 1)*stride - 2*pad + K + adj``."""
    sizes, kernel = x.shape[2:], w.shape[2:]
    out_sizes = [(s - 1) * st - 2 * p + k + a for s, st, p, k, a in zip(sizes, stride, pad, kernel, adj)]
    if any(o < 1 for o in out_sizes):
        raise call.fail(f"output size {'x'.join(map(str, out_sizes))} is too small")
    buffer = np.zeros((x.shape[0], w.shape[1], *[(s - 1) * st + k + a for s, st, k, a in
                                                 zip(sizes, stride, kernel, adj)]))
    for k in np.ndindex(*kernel):
        target = buffer[(slice(None), slice(None)) + _offset_slices(k, [1] * len(k), sizes, stride)]
        target += np.einsum("co,nc...->no...", w[(slice(None), slice(None)) + k], x)
    return buffer[(slice(None), slice(None)) + tuple(slice(p, p + o) for p, o in zip(pad, out_sizes))]


def batch_of(x, m: T7Object, call: Call, ndims: tuple[int, ...]) -> tuple[np.ndarray, bool]:
    """The input as float64 with a batch dimension, and whether it had one (``ndims``: the unbatched
    rank, and the batched one where the layer takes batches)."""
    x = np.asarray(array_input(x, m, where=call.where, ndims=ndims), dtype=np.float64)
    batched = len(ndims) > 1 and x.ndim == ndims[1]
    return (x if batched else x[None]), batched


def check_planes(call: Call, x: np.ndarray, want: int) -> None:
    if x.shape[1] != want:
        raise call.fail(f"input has {x.shape[1]} planes, expected {want}")


@layer("nn.SpatialDilatedConvolution")
def spatial_dilated_convolution(m: T7Object, x, call: Call) -> np.ndarray:
    xb, batched = batch_of(x, m, call, (3, 4))
    n_in, n_out = at_least(m, call, "nInputPlane", 1), at_least(m, call, "nOutputPlane", 1)
    kernel = axes_fields(m, call, "k", "HW", 1)
    w = shaped(m, call, "weight", (n_out, n_in, *kernel))
    b = shaped(m, call, "bias", (n_out,), required=False)
    check_planes(call, xb, n_in)
    out = correlate(xb, w, axes_fields(m, call, "d", "HW", 1, 1), axes_fields(m, call, "pad", "HW", 0, 0),
                    axes_fields(m, call, "dilation", "HW", 1, 1), call)
    if b is not None:
        out += b.reshape(1, -1, 1, 1)
    return out if batched else out[0]


@layer("nn.SpatialDepthWiseConvolution")
def spatial_depthwise_convolution(m: T7Object, x, call: Call) -> np.ndarray:
    xb, batched = batch_of(x, m, call, (3, 4))
    n_in, mult = at_least(m, call, "nInputPlane", 1), at_least(m, call, "nOutputPlane", 1)
    kh, kw = axes_fields(m, call, "k", "HW", 1)
    w = shaped(m, call, "weight", (mult, n_in, kh, kw))
    b = shaped(m, call, "bias", (mult, n_in), required=False)
    if m.get("padding") is not None:
        pad = (at_least(m, call, "padding", 0),) * 2
    else:
        pad = axes_fields(m, call, "pad", "HW", 0, 0)
    check_planes(call, xb, n_in)
    n, _, h, wd = xb.shape
    planes = np.ascontiguousarray(xb).reshape(n, n_in, wd, h)  # THNN's swapped height and width
    stride = axes_fields(m, call, "d", "HW", 1, 1)
    outs = []
    for i in range(n_in):
        y = correlate(planes[:, i:i + 1], w[:, i:i + 1], stride, pad, (1, 1), call)  # N, m, oH, oW
        if b is not None:
            y += b[:, i].reshape(1, -1, 1, 1)
        outs.append(y)
    out = np.concatenate(outs, axis=1)
    return out if batched else out[0]


@layer("nn.SpatialConvolutionLocal")
def spatial_convolution_local(m: T7Object, x, call: Call) -> np.ndarray:
    xb, batched = batch_of(x, m, call, (3, 4))
    n_in, n_out = at_least(m, call, "nInputPlane", 1), at_least(m, call, "nOutputPlane", 1)
    (kh, kw), (dh, dw) = axes_fields(m, call, "k", "HW", 1), axes_fields(m, call, "d", "HW", 1, 1)
    ph, pw = axes_fields(m, call, "pad", "HW", 0, 0)
    ih, iw = axes_fields(m, call, "i", "HW", 1)
    oh, ow = (ih + 2 * ph - kh) // dh + 1, (iw + 2 * pw - kw) // dw + 1
    if oh < 1 or ow < 1:
        raise call.fail("illegal configuration: output width or height less than 1")
    if xb.shape[1:] != (n_in, ih, iw):
        raise call.fail(f"input {'x'.join(map(str, np.shape(x)))} is inconsistent with the expected "
                        f"{n_in}x{ih}x{iw}")
    w = shaped(m, call, "weight", (oh, ow, n_out, n_in, kh, kw))
    b = shaped(m, call, "bias", (n_out, oh, ow))
    xp = np.pad(xb, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.broadcast_to(b, (xb.shape[0], n_out, oh, ow)).copy()
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, :, ky:ky + (oh - 1) * dh + 1:dh, kx:kx + (ow - 1) * dw + 1:dw]
            out += np.einsum("yxoc,ncyx->noyx", w[:, :, :, :, ky, kx], patch)
    return out if batched else out[0]


def _connections(m: T7Object, call: Call) -> np.ndarray:
    table = m.get("connTable")
    if not isinstance(table, np.ndarray) or table.ndim != 2 or table.shape[1] != 2:
        raise call.fail("connTable should be a connections x 2 tensor of (input, output) planes")
    rows = np.asarray(table, np.float64)
    if not np.all(np.isfinite(rows)) or np.any(rows != np.round(rows)) or rows.size == 0 or rows.min() < 1:
        raise call.fail("connTable should hold 1-based plane numbers")
    return rows.astype(np.int64) - 1


def _map_convolution(m: T7Object, x, call: Call, *, full: bool) -> np.ndarray:
    xb, batched = batch_of(x, m, call, (3,) if full else (3, 4))
    rows = _connections(m, call)
    n_in, n_out = at_least(m, call, "nInputPlane", 1), at_least(m, call, "nOutputPlane", 1)
    if rows[:, 0].max() >= n_in or rows[:, 1].max() >= n_out:
        raise call.fail(f"connTable names planes beyond nInputPlane={n_in} / nOutputPlane={n_out}")
    kernel = axes_fields(m, call, "k", "HW", 1)
    stride = axes_fields(m, call, "d", "HW", 1, 1)
    w = shaped(m, call, "weight", (rows.shape[0], *kernel))
    b = shaped(m, call, "bias", (n_out,))
    if xb.shape[1] < n_in or (batched and xb.shape[1] != n_in):
        raise call.fail(f"input has {xb.shape[1]} planes, the connection table uses {n_in}")
    out = None
    for k, (i, o) in enumerate(rows):
        plane, kern = xb[:, i:i + 1], w[k][None, None]
        y = full_convolve(plane, kern, stride, (0, 0), (0, 0), call) if full else \
            correlate(plane, kern, stride, (0, 0), (1, 1), call)
        if out is None:
            out = np.broadcast_to(b.reshape(1, -1, 1, 1), (xb.shape[0], n_out, *y.shape[2:])).copy()
        out[:, o] += y[:, 0]
    return out if batched else out[0]


@layer("nn.SpatialConvolutionMap")
def spatial_convolution_map(m: T7Object, x, call: Call) -> np.ndarray:
    return _map_convolution(m, x, call, full=False)


@layer("nn.SpatialFullConvolutionMap")
def spatial_full_convolution_map(m: T7Object, x, call: Call) -> np.ndarray:
    return _map_convolution(m, x, call, full=True)


@layer("nn.SpatialSubSampling")
def spatial_subsampling(m: T7Object, x, call: Call) -> np.ndarray:
    xb, batched = batch_of(x, m, call, (3, 4))
    n = at_least(m, call, "nInputPlane", 1)
    w, b = shaped(m, call, "weight", (n,)), shaped(m, call, "bias", (n,))
    check_planes(call, xb, n)
    ones = np.ones((1, 1, *axes_fields(m, call, "k", "HW", 1)))
    sums = correlate(xb.reshape(-1, 1, *xb.shape[2:]), ones, axes_fields(m, call, "d", "HW", 1, 1), (0, 0),
                     (1, 1), call)
    out = sums.reshape(xb.shape[0], n, *sums.shape[2:]) * w.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)
    return out if batched else out[0]
