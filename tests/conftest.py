"""Shared test set-up.

Fixtures written by real Torch7 live outside the repository; tests find them through the
T7CONVERT_FIXTURES environment variable (``.ci/run`` sets it) and are skipped, loudly, without it.
Tests that must always run build their own small ``.t7`` files with t7convert's writer.
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Iterator

import pytest
import torch
import torch7_models

FIXTURES_ENV = "T7CONVERT_FIXTURES"
_skipped_for_fixtures: list[str] = []


def fixtures_root() -> Path | None:
    value = os.environ.get(FIXTURES_ENV)
    return Path(value) if value else None


@pytest.fixture(scope="session")
def torch7_fixtures(request) -> Path:
    """The shared Torch7 fixtures folder; skips the test (and says so at the end) when unset."""
    root = fixtures_root()
    if root is None:
        _skipped_for_fixtures.append(request.node.nodeid)
        pytest.skip(f"{FIXTURES_ENV} is not set: tests against files written by real Torch7 did not run")
    if not root.is_dir():
        pytest.fail(f"{FIXTURES_ENV}={root} is not a directory")
    return root


@pytest.fixture(autouse=True)
def _each_test_seeds_its_own_generators(request) -> Iterator[None]:
    """Every test starts the shared model helpers' generator and torch's from a seed of its own id:
    its weights and random inputs are the same alone, in the suite, or in random order. Outside a test
    the helpers have no generator (a draw at import would depend on the import order)."""
    seed = zlib.crc32(request.node.nodeid.rsplit("/", 1)[-1].encode())  # file::test[params]
    torch7_models.seed(seed)
    torch.manual_seed(seed)
    yield
    torch7_models.seed(None)


def pytest_report_header(config):
    root = fixtures_root()
    return f"Torch7 fixtures: {root if root else f'NOT SET ({FIXTURES_ENV}); tests against real Torch7 files will skip'}"


def pytest_terminal_summary(terminalreporter):
    if fixtures_root() is None:
        terminalreporter.write_sep("!", f"{FIXTURES_ENV} not set: tests against real Torch7 output were SKIPPED",
                                   red=True)
