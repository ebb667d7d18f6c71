"""``t7convert convert a.t7 b.t7 ... -o OUTDIR/`` and ``t7convert convert FOLDER``: many files, ``-j N`` at
a time in their own processes, one failure stopping none of the others, and a final table."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch7_models as tm
from click.testing import CliRunner

import t7convert
from t7convert.cli import cli


def _model(seed: int):
    rng = np.random.default_rng(seed)
    return tm.sequential(tm.module("nn.Linear", weight=rng.standard_normal((3, 4)).astype(np.float32),
                                   bias=rng.standard_normal(3).astype(np.float32)), tm.relu())


def _run_of_checkpoints(folder, n: int = 3):
    """A training run: cv/lm_epoch1.t7 ... and one file cut short (a run killed while saving)."""
    folder.mkdir()
    for i in range(1, n + 1):
        t7convert.write(folder / f"lm_epoch{i}.t7", _model(i))
    whole = (folder / "lm_epoch1.t7").read_bytes()
    (folder / "lm_epoch9.t7").write_bytes(whole[: len(whole) // 2])
    return folder


@pytest.mark.slow
def test_many_files_convert_in_parallel_into_a_folder_one_failure_not_stopping_the_others(tmp_path):
    cv = _run_of_checkpoints(tmp_path / "cv")
    files = sorted(str(p) for p in cv.iterdir())
    out = tmp_path / "converted"
    result = CliRunner().invoke(cli, ["convert", *files, "-o", f"{out}/", "-j", "2"])
    assert result.exit_code == 2, result.output  # the worst of the files' statuses: bad input
    lines = result.output.strip().splitlines()
    assert lines[0].split() == ["file", "result", "output", "/", "why"]
    rows = {line.split()[0]: line for line in lines[1:-1]}
    for i in (1, 2, 3):
        assert "converted" in rows[str(cv / f"lm_epoch{i}.t7")] and (out / f"lm_epoch{i}.pth").exists()
    assert "refused" in rows[str(cv / "lm_epoch9.t7")] and "truncated" in rows[str(cv / "lm_epoch9.t7")]
    assert lines[-1] == "3 of 4 files converted, 1 not"
    assert not (out / "lm_epoch9.pth").exists() and not [n for n in os.listdir(out) if n.endswith(".tmp")]
    x = np.random.default_rng(5).standard_normal((2, 4)).astype(np.float32)
    import torch
    for i in (1, 2, 3):
        want = t7convert.load(str(cv / f"lm_epoch{i}.t7"))(torch.from_numpy(x))
        assert torch.equal(t7convert.load(str(out / f"lm_epoch{i}.pth"))(torch.from_numpy(x)), want)


@pytest.mark.slow
def test_a_folder_converts_each_of_its_torch7_files_beside_them_with_a_json_table(tmp_path):
    cv = _run_of_checkpoints(tmp_path / "cv", n=2)
    (cv / "notes.txt").write_text("not a checkpoint")
    result = CliRunner().invoke(cli, ["convert", str(cv), "--json", "--no-verify"])
    rows = json.loads(result.output)
    assert [os.path.basename(r["source"]) for r in rows] == ["lm_epoch1.t7", "lm_epoch2.t7", "lm_epoch9.t7"]
    assert [r["status"] for r in rows] == ["converted", "converted", "refused"]
    assert rows[0]["output"] == str(cv / "lm_epoch1.pth") and (cv / "lm_epoch1.pth").exists()
    assert result.exit_code == 2


def test_several_inputs_with_an_output_file_instead_of_a_folder_are_refused_in_one_line(tmp_path):
    t7convert.write(tmp_path / "a.t7", _model(1))
    t7convert.write(tmp_path / "b.t7", _model(2))
    (tmp_path / "out.pth").write_bytes(b"x")
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "a.t7"), str(tmp_path / "b.t7"),
                                      "-o", str(tmp_path / "out.pth")])
    assert result.exit_code == 2 and "-o names a folder" in result.output
