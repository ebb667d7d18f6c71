"""Feedback during long commands, on a terminal only."""
from __future__ import annotations

import sys


class StepBar:
    """A tqdm bar on stderr when it is a terminal (nothing in logs): the steps of a long command, and the
    layers of a reference execution as it goes."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.bar = None

    def __call__(self, message: str, done: int | None = None, total: int | None = None) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if self.bar is None or (total is not None and self.bar.total != total):
            self.close()
            self.bar = tqdm(total=total, desc="t7convert", unit=" layers" if total else "it", file=sys.stderr,
                            leave=False, bar_format=None if total else "{desc}")
        if done is not None:
            self.bar.n = done
            self.bar.refresh()
        if total:
            self.bar.set_postfix_str(message, refresh=True)
        else:  # a step without a count: its words, not tqdm's ", "-joined postfix ("t7convert: , reading")
            self.bar.set_description_str(f"t7convert: {message}" if message else "t7convert", refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
