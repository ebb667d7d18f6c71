"""``t7convert sample CHECKPOINT``: text from a char-rnn, torch-rnn or Element-Research rnn language model,
streamed."""
from __future__ import annotations

import sys

import click

from t7convert.cli import cli


@cli.command("sample", short_help="Text from a char-rnn, torch-rnn or rnn language model.")
@click.argument("path", metavar="CHECKPOINT", type=click.Path(dir_okay=False))
@click.option("--primetext", "--start-text", "primetext", default="",
              help="Text fed first (char-rnn echoes it; torch-rnn counts it in --length).")
@click.option("--length", type=click.IntRange(min=0), default=2000, show_default=True,
              help="Characters to generate (torch-rnn: in all, the start text included).")
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True)
@click.option("--sample", "sample_on", type=click.Choice(["0", "1"]), default="1", show_default=True,
              help="0: arg-max at each step (exactly the text Torch7's sample.lua prints); 1: draw.")
@click.option("--seed", type=int, default=123, show_default=True,
              help="Seed of torch's generator for --sample 1 (Torch7's own random stream cannot be "
                   "reproduced, so drawn text differs from Torch7's).")
@click.option("--key", default=None, metavar="PATH",
              help="Which model of a checkpoint: its name in the project's layout (decoder, best_model) or a "
                   "dotted path (protos.rnn, 1.2); default: the project's main one (inspect lists them).")
def sample_command(path: str, primetext: str, length: int, temperature: float, sample_on: str, seed: int,
                   key: str | None) -> None:
    """Generate text from a char-rnn, torch-rnn or rnn (evaluate-rnnlm.lua) CHECKPOINT (.t7, or the file
    t7convert made of it)."""
    from t7convert.api import sample

    pieces = sample(path, primetext=primetext, length=length, temperature=temperature,
                    sample=sample_on == "1", seed=seed, key=key)
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
