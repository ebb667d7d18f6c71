"""Element-Research rnn's FastLSTM as ``torch.nn.LSTMCell`` (mapping in the converter's family file) and
the Sequencer applying a step module to each tensor of a list. FastLSTM cells keep their state between
steps, as rnn's AbstractRecurrent modules do; a Sequencer's ``forward`` starts them from zeros (as after
``forget()``), ``remember`` continues from where the last call left them (sampling)."""
from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

from t7convert.conversion.records import Record
from t7convert.conversion.tree import Node
from t7convert.pytorch.families import builds, builds_module


class FastLSTM(nn.LSTMCell):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.state: Any = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        self.state = super().forward(x, self.state)
        return self.state[0]

    def _get_name(self) -> str:
        return "FastLSTM"


class Sequencer(nn.Module):
    """``nn.Sequencer(step)``: ``[step(x_1), step(x_2), ...]`` with the recurrent states carried."""

    def __init__(self, step: nn.Module) -> None:
        super().__init__()
        for name, sub in step.named_children():  # state_dict keys: the step module's own (0.weight_ih)
            self.add_module(name, sub)
        object.__setattr__(self, "_step", step)  # runs the children registered above; not a submodule itself
        self.remembering = False

    def forget(self) -> None:
        for sub in self.modules():
            if isinstance(sub, FastLSTM):
                sub.state = None

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        if not self.remembering:
            self.forget()
        return [self._step(x) for x in xs]


builds_module("FastLSTM", FastLSTM)


@builds("Sequencer")
def build_sequencer(a: Record, children: list[nn.Module]) -> nn.Module:
    from t7convert.conversion.description import check_tree
    from t7convert.pytorch.modules import build
    spec = json.loads(a.step)
    check_tree(spec, "Sequencer.step")
    return Sequencer(build(Node.from_spec(spec), "Sequencer.step"))
