"""reference/dump_reference.lua is for users who still have Torch7; here it can at least be parsed."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "reference" / "dump_reference.lua"


def test_dump_reference_lua_is_valid_lua():
    luac = shutil.which("luac5.1") or shutil.which("luac") or shutil.which("luajit")
    if luac is None:
        pytest.skip("no Lua compiler here (apt install lua5.1 to check reference/dump_reference.lua)")
    flag = ["-bl"] if luac.endswith("luajit") else ["-p"]
    result = subprocess.run([luac, *flag, str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
