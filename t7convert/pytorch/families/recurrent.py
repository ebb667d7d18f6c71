"""torch-rnn's LSTM and VanillaRNN as ``torch.nn.LSTM`` / ``torch.nn.RNN`` (the exact mapping and the
gate permutation are stated in the converter's family file), batch first: N x T x D in, the N x T x H
hidden states out, from zero states. ``step`` runs the same on given states and returns the new ones
(what torch-rnn's ``remember_states`` does between calls, for sampling)."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from t7convert.conversion.records import Record
from t7convert.pytorch.families import builds, builds_module


class TorchRNNLSTM(nn.LSTM):
    """torch-rnn's ``nn.LSTM``: the hidden states of every step (its ``output``)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x)[0]

    def step(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        return super().forward(x, state)

    def _get_name(self) -> str:
        return "TorchRNNLSTM"


class TorchRNNVanilla(nn.RNN):
    """torch-rnn's ``nn.VanillaRNN``: tanh(x Wx + h Wh + b) at every step."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, batch_first=True, nonlinearity="tanh")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x)[0]

    def step(self, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        return super().forward(x, state)

    def _get_name(self) -> str:
        return "TorchRNNVanilla"


builds_module("TorchRNNLSTM", TorchRNNLSTM)
builds_module("TorchRNNVanilla", TorchRNNVanilla)


class FoldSteps(nn.Module):
    """torch-rnn's ``bn_view_in``, BatchNormalization, ``bn_view_out``: the N x T x H steps folded into
    the batch (N*T x H), normalised, and viewed back as N x T x H."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.add_module("0", module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"torch-rnn's batch-normalised layer expects N x T x H, got {tuple(x.shape)}")
        n, t = x.shape[:2]
        return self._modules["0"](x.reshape(n * t, -1)).reshape(n, t, -1)


@builds("FoldSteps")
def build_fold_steps(a: Record, children: list[nn.Module]) -> nn.Module:
    return FoldSteps(children[0])
