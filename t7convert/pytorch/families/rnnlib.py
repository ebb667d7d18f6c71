"""Element-Research rnn's FastLSTM as ``torch.nn.LSTMCell`` (mapping in the converter's family file) and
the Sequencer applying a step module to each tensor of a list. FastLSTM cells keep their state between
steps, as rnn's AbstractRecurrent modules do; a Sequencer's ``forward`` starts them from zeros (as after
``forget()``), ``remember`` continues from where the last call left them (sampling)."""
from __future__ import annotations

import json
import math
from typing import Any

import torch
from torch import nn

from t7convert.conversion.records import Record
from t7convert.conversion.tree import Node
from t7convert.pytorch.families import builds, builds_module


def zero_rows(first: Any, n_input_dim: int) -> torch.Tensor:
    """MaskZero's mask from the first tensor of its input (``input[1][1]...``): per sample (shape (B,))
    when it has ``n_input_dim + 1`` dimensions, one value when it has ``n_input_dim``; true where all
    zero (its 2-norm is 0: a NaN keeps the row)."""
    while isinstance(first, (list, tuple)):
        first = first[0]
    if first.dim() == n_input_dim:
        return ~(first != 0).any().reshape(())
    if first.dim() == n_input_dim + 1:
        return ~(first.reshape(first.shape[0], -1) != 0).any(1)
    raise ValueError(f"nn.MaskZero: nInputDim error: {first.dim()}, {n_input_dim}")


def masked(value: Any, zero: torch.Tensor) -> Any:
    """MaskZero:recursiveMask: every tensor of ``value`` with the masked rows (or all of it) set to 0."""
    if isinstance(value, (list, tuple)):
        return [masked(v, zero) for v in value]
    if zero.dim() == 1 and (value.dim() == 0 or value.shape[0] != zero.shape[0]):
        raise ValueError(f"nn.MaskZero: an output of {tuple(value.shape)} for {zero.shape[0]} input rows")
    mask = zero.reshape(zero.shape + (1,) * (value.dim() - zero.dim()))
    return torch.where(mask, torch.zeros((), dtype=value.dtype, device=value.device), value)


class MaskZeroApply(nn.Module):
    """``nn.MaskZero``: its module's output (first argument) masked by its input's zero rows."""

    def __init__(self, n_input_dim: int) -> None:
        super().__init__()
        self.n_input_dim = n_input_dim

    def forward(self, y, x):
        return masked(y, zero_rows(x, self.n_input_dim))


class FastLSTM(nn.LSTMCell):
    def __init__(self, input_size: int, hidden_size: int, mask_zero: int | None = None) -> None:
        super().__init__(input_size, hidden_size)
        self.state: Any = None
        self.mask_zero = mask_zero

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        self.state = super().forward(x, self.state)
        if self.mask_zero is not None:  # its recurrentModule is a MaskZero: {h, c} zeroed for zero inputs
            self.state = tuple(masked(list(self.state), zero_rows(x, self.mask_zero)))
        return self.state[0]

    def _get_name(self) -> str:
        return "FastLSTM"


class Sequencer(nn.Module):
    """``nn.Sequencer(step)``: ``[step(x_1), step(x_2), ...]`` with the recurrent states carried."""

    def __init__(self, step: nn.Module) -> None:
        super().__init__()
        for name, sub in step.named_children():  # state_dict keys: the step module's own (0.weight_ih)
            self.add_module(name, sub)
        # a step that is one layer (Sequencer(FastLSTM)) keeps its tensors at the top (weight_ih): they are
        # this module's, handed to the step before each run (loading may replace the tensor objects)
        # (a public field: the source folder rebuilds a module from its public fields)
        self.own_params = [name for name, _ in step.named_parameters(recurse=False)]
        for name in self.own_params:
            self.register_parameter(name, getattr(step, name))
        object.__setattr__(self, "_step", step)  # runs the children registered above; not a submodule itself
        for sub in step.modules():
            if isinstance(sub, RNNStep):
                sub.carry = True
        self.remembering = False

    def forget(self) -> None:
        for sub in [self._step, *self.modules()]:  # the step itself is not a submodule
            if isinstance(sub, (FastLSTM, RNNStep)):
                sub.state = None

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        for name in self.own_params:
            setattr(self._step, name, getattr(self, name))
        if not self.remembering:
            self.forget()
        return [self._step(x) for x in xs]


class SeqLSTM(nn.LSTM):
    """rnn's ``nn.SeqLSTM``: T x N x D (N x T x D when ``batch_first``) in, every step's h out, from zero
    states; ``mask_zero``: at a step where a sample's input is all zeros its h and c become 0."""

    def __init__(self, input_size: int, hidden_size: int, batch_first: bool, mask_zero: bool) -> None:
        super().__init__(input_size, hidden_size, batch_first=batch_first)
        self.mask_zero = mask_zero

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if x.dim() != 3:
            raise ValueError(f"nn.SeqLSTM only supports batch mode (a 3-D input), got {tuple(x.shape)}")
        if not self.mask_zero:
            return super().forward(x)[0]
        steps = x.transpose(0, 1) if self.batch_first else x
        h = steps.new_zeros(steps.shape[1], self.hidden_size)
        c = torch.zeros_like(h)
        outs = []
        for xt in steps:
            gates = xt @ self.weight_ih_l0.T + self.bias_ih_l0 + h @ self.weight_hh_l0.T + self.bias_hh_l0
            i, f, g, o = gates.chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            h, c = masked([h, c], zero_rows(xt, 1))
            outs.append(h)
        out = torch.stack(outs)
        return out.transpose(0, 1) if self.batch_first else out

    def _get_name(self) -> str:
        return "SeqLSTM"


class SeqGRU(nn.Module):
    """rnn's ``nn.SeqGRU`` in its own layout (weight (D + H) x 3H: r, u, candidate), step by step."""

    def __init__(self, input_size: int, hidden_size: int, batch_first: bool, mask_zero: bool) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.batch_first, self.mask_zero = batch_first, mask_zero
        self.weight = nn.Parameter(torch.empty(input_size + hidden_size, 3 * hidden_size))
        self.bias = nn.Parameter(torch.empty(3 * hidden_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"nn.SeqGRU only supports batch mode (a 3-D input), got {tuple(x.shape)}")
        d, hs = self.input_size, self.hidden_size
        wx, wh = self.weight[:d], self.weight[d:]
        steps = x.transpose(0, 1) if self.batch_first else x
        h = steps.new_zeros(steps.shape[1], hs)
        outs = []
        for xt in steps:
            a = self.bias + xt @ wx
            ru = torch.sigmoid(a[:, : 2 * hs] + h @ wh[:, : 2 * hs])
            r, u = ru[:, :hs], ru[:, hs:]
            hc = torch.tanh(a[:, 2 * hs:] + (r * h) @ wh[:, 2 * hs:])
            h = (1 - u) * hc + u * h
            if self.mask_zero:
                h = masked(h, zero_rows(xt, 1))
            outs.append(h)
        out = torch.stack(outs)
        return out.transpose(0, 1) if self.batch_first else out


class SeqLSTMP(nn.Module):
    """rnn's ``nn.SeqLSTMP`` in its own layout (weight (D + R) x 4H: i, f, o, g; weightO H x R), step by
    step: the cell's ``o * tanh(c)`` projected by weightO is the output and the next step's h."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int, batch_first: bool, mask_zero: bool) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.batch_first, self.mask_zero = batch_first, mask_zero
        self.weight = nn.Parameter(torch.empty(input_size + output_size, 4 * hidden_size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size))
        self.weightO = nn.Parameter(torch.empty(hidden_size, output_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"nn.SeqLSTMP only supports batch mode (a 3-D input), got {tuple(x.shape)}")
        d, hs = self.input_size, self.hidden_size
        wx, wh = self.weight[:d], self.weight[d:]
        steps = x.transpose(0, 1) if self.batch_first else x
        h = steps.new_zeros(steps.shape[1], self.output_size)
        c = steps.new_zeros(steps.shape[1], hs)
        outs = []
        for xt in steps:
            gates = self.bias + xt @ wx + h @ wh
            i, f, o = (torch.sigmoid(gates[:, k * hs:(k + 1) * hs]) for k in range(3))
            c = f * c + i * torch.tanh(gates[:, 3 * hs:])
            h = (o * torch.tanh(c)) @ self.weightO
            if self.mask_zero:
                h, c = masked([h, c], zero_rows(xt, 1))
            outs.append(h)
        out = torch.stack(outs)
        return out.transpose(0, 1) if self.batch_first else out


builds_module("SeqLSTMP", SeqLSTMP)


class RecurrentAttention(nn.Module):
    """rnn's RecurrentAttention around an ``nn.Recurrent`` (mapping and Torch7's buffer sharing in the
    converter's family file): the action from zeros, then from the last output; the output table is
    step 1's value, then the last step's for every later step."""

    def __init__(self, n_step: int, hidden_size: list[int], rnn: nn.Module, action: nn.Module) -> None:
        super().__init__()
        self.n_step, self.hidden_size = n_step, list(hidden_size)
        self.add_module("0", rnn)
        self.add_module("1", action)
        for sub in self.modules():
            if isinstance(sub, RNNStep):
                sub.carry = True

    def forward(self, x):
        for sub in self.modules():  # rnn:forget(), action:forget()
            if isinstance(sub, (RNNStep, FastLSTM)):
                sub.state = None
        rnn, action = self._modules["0"], self._modules["1"]
        first = x
        while isinstance(first, (list, tuple)):
            first = first[0]
        prev = first.new_zeros([first.shape[0], *self.hidden_size])
        outs = []
        for _ in range(self.n_step):
            prev = rnn([x, action(prev)])
            outs.append(prev)
        return [outs[0]] + [outs[-1]] * (self.n_step - 1)


@builds("RecurrentAttention")
def build_recurrent_attention(a: Record, children: list[nn.Module]) -> nn.Module:
    return RecurrentAttention(a.n_step, a.hidden_size, children[0], children[1])


class SpatialGlimpse(nn.Module):
    """dpnn's SpatialGlimpse with its average pooling (mapping in the converter's family file): the crop
    offsets depend on the location values, so each sample is cut with Python integers (as the Lua does)."""

    def __init__(self, height: int, width: int, depth: int, scale: float) -> None:
        super().__init__()
        self.height, self.width, self.depth, self.scale = height, width, depth, scale

    def forward(self, xs):
        if not isinstance(xs, (list, tuple)) or len(xs) < 2:
            raise ValueError("nn.SpatialGlimpse expects {image, location}")
        image, loc = xs[0], xs[1]
        image = image.unsqueeze(0) if image.dim() == 3 else image
        online = loc.dim() == 1
        loc = loc.unsqueeze(0) if online else loc
        if image.dim() != 4 or loc.dim() != 2 or loc.shape[1] < 2 or loc.shape[0] < image.shape[0]:
            raise ValueError(f"nn.SpatialGlimpse: image {tuple(image.shape)} and location {tuple(loc.shape)}")
        n, c, ih, iw = image.shape
        samples = []
        for i in range(n):
            # a shape-only run (meta tensors) has no values: any offset gives the same shapes
            y, x = (0.0, 0.0) if loc.is_meta else ((float(loc[i, 0]) + 1) / 2, (float(loc[i, 1]) + 1) / 2)
            gh, gw = self.height, self.width
            parts = []
            for d in range(self.depth):
                if d > 0:
                    gh, gw = math.floor(gh * self.scale), math.floor(gw * self.scale)
                ph, pw = (gh - 1) // 2, (gw - 1) // 2
                padded = torch.nn.functional.pad(image[i], (pw, pw, ph, ph))
                h, w = padded.shape[1] - gh, padded.shape[2] - gw
                if h < 0 or w < 0:
                    raise ValueError(f"nn.SpatialGlimpse: a {gh}x{gw} glimpse of a {ih}x{iw} image")
                y0, x0 = math.floor(min(h, max(0.0, y * h))), math.floor(min(w, max(0.0, x * w)))
                crop = padded[:, y0:y0 + gh, x0:x0 + gw]
                if d > 0:
                    kh, kw = gh // self.height, gw // self.width
                    crop = torch.nn.functional.avg_pool2d(crop.unsqueeze(0), (kh, kw), (kh, kw)).squeeze(0)
                parts.append(crop)
            samples.append(torch.cat(parts, 0))
        out = torch.stack(samples)
        if online:
            if n != 1:
                raise ValueError("nn.SpatialGlimpse: one location for several images")
            out = out.squeeze(0)
        return out


builds_module("SpatialGlimpse", SpatialGlimpse)


@builds("Repeater")
def build_repeater(a: Record, children: list[nn.Module]) -> nn.Module:
    """A Repeater inside a step tree: a Sequencer of its module on the input repeated ``rho`` times."""
    return Repeater(a.rho, children[0])


class Repeater(nn.Module):
    """``nn.Repeater(module, rho)`` built as a tree: ``[module(x) for rho steps]`` from zero states."""

    def __init__(self, rho: int, step: nn.Module) -> None:
        super().__init__()
        self.rho = rho
        self.add_module("0", Sequencer(step))

    def forward(self, x):
        return self._modules["0"]([x] * self.rho)
builds_module("SeqGRU", SeqGRU)
builds_module("SeqLSTM", SeqLSTM)
builds_module("FastLSTM", FastLSTM)


class MaskZero(nn.Module):
    """``nn.MaskZero(module)`` built as a tree (inside a Sequencer's step): ``module(x)``, masked."""

    def __init__(self, n_input_dim: int, module: nn.Module) -> None:
        super().__init__()
        self.n_input_dim = n_input_dim
        self.add_module("0", module)

    def forward(self, x):
        return masked(self._modules["0"](x), zero_rows(x, self.n_input_dim))


@builds("MaskZero")
def build_mask_zero_tree(a: Record, children: list[nn.Module]) -> nn.Module:
    return MaskZero(a.n_input_dim, children[0])


class ReverseTable(nn.Module):
    """dpnn's ReverseTable: the list reversed."""

    def forward(self, xs):
        if not isinstance(xs, (list, tuple)):
            raise ValueError("nn.ReverseTable expects a table")
        return list(xs)[::-1]


class ReinforceMAP(nn.Module):
    """dpnn's Reinforce* in evaluate mode: the input (ReinforceNormal: the mean of a {mean, stdev} table)."""

    def __init__(self, table: bool) -> None:
        super().__init__()
        self.table = table

    def forward(self, x):
        if isinstance(x, (list, tuple)):
            if not self.table or len(x) != 2:
                raise ValueError("a Reinforce module got a table (ReinforceNormal takes {mean, stdev})")
            x = x[0]
        return x.clone()


builds_module("ReinforceMAP", ReinforceMAP)


class SeqReverse(nn.Module):
    """rnn's SeqReverseSequence(dim): ``torch.flip`` along the 1-based ``dim``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x):
        if x.dim() < max(self.dim, 1):
            raise ValueError(f"nn.SeqReverseSequence({self.dim}) got a {x.dim()}-D input")
        return torch.flip(x, [self.dim - 1])


builds_module("SeqReverse", SeqReverse)
builds_module("ReverseTable", ReverseTable)
builds_module("MaskZeroApply", MaskZeroApply)


@builds("Sequencer")
def build_sequencer(a: Record, children: list[nn.Module]) -> nn.Module:
    from t7convert.conversion.description import check_tree
    from t7convert.pytorch.modules import build
    spec = json.loads(a.step)
    check_tree(spec, "Sequencer.step")
    return Sequencer(build(Node.from_spec(spec), "Sequencer.step"))


class RNNStep(nn.Module):
    """rnn's ``nn.LSTM``, ``nn.GRU`` and ``nn.Recurrence``: the step module run on ``[x, *states]``; it
    gives the new states (LSTM: ``[h, c]``, the output h; the others: the output itself). The states are
    kept from call to call as Torch7's module keeps them; ``state = None`` (a Sequencer's forward, as
    ``forget()``) starts again from zeros of ``state_shape``, the batch first when the (first) input
    tensor has ``n_input_dim + 1`` dimensions."""

    def __init__(self, kind: str, n_states: int, state_shape: list[int], n_input_dim: int, step: nn.Module,
                 initial: nn.Module | None = None) -> None:
        super().__init__()
        self.kind, self.n_states = kind, n_states
        self.state_shape, self.n_input_dim = list(state_shape), n_input_dim
        self.add_module("0", step)
        if initial is not None:  # Recurrent's initialModule: the first step, on x alone
            self.add_module("1", initial)
        self.state: Any = None
        #: carry the states from call to call (inside a Sequencer, or inside another RNNStep's step);
        #: else every call is a fresh copy's first step, as converted models are run
        self.carry = False
        for sub in step.modules():
            if isinstance(sub, RNNStep):
                sub.carry = True

    def _zeros(self, x: Any) -> list[torch.Tensor]:
        first = x
        while isinstance(first, (list, tuple)):
            first = first[0]
        if first.dim() == self.n_input_dim + 1:
            shape = [first.shape[0], *self.state_shape]
        elif first.dim() == self.n_input_dim:
            shape = list(self.state_shape)
        else:
            raise ValueError(f"nn.{self.kind}: a {first.dim()}-D input (nInputDim {self.n_input_dim})")
        return [first.new_zeros(shape) for _ in range(self.n_states)]

    def forward(self, x):
        if not self.carry:  # a fresh copy: this module and every recurrent one inside it forgotten
            for sub in self.modules():
                if isinstance(sub, (RNNStep, FastLSTM)):
                    sub.state = None
        if self.state is None and "1" in self._modules:
            out = self._modules["1"](x)
            self.state = [out]
            return out
        state = self.state if self.state is not None else self._zeros(x)
        out = self._modules["0"]([x, *state])
        if self.n_states > 1:
            if not isinstance(out, (list, tuple)) or len(out) != self.n_states:
                raise ValueError(f"nn.{self.kind}: its step module did not give {self.n_states} states")
            self.state = list(out)
            return out[0]
        self.state = [out]
        return out

    def _get_name(self) -> str:
        return self.kind


@builds("RNNStep")
def build_rnn_step(a: Record, children: list[nn.Module]) -> nn.Module:
    return RNNStep(a.kind, a.n_states, a.state_shape, a.n_input_dim, *children[:2])


class SAdd(nn.Module):
    """rnn's SAdd: ``x + addend``, negated when ``negate``."""

    def __init__(self, addend: float, negate: bool) -> None:
        super().__init__()
        self.addend, self.negate = addend, negate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + self.addend
        return -y if self.negate else y


builds_module("SAdd", SAdd)
