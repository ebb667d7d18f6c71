"""``t7convert convert a.t7 b.t7 ... -o OUTDIR/`` (or a folder): many files, ``-j N`` at a time.

Users hold whole training runs of checkpoints (char-rnn's ``cv/lm_lstm_epoch*.t7``). Each file is
converted by its own ``t7convert convert FILE -o OUT --json`` process: one file's failure (a refused
layer, a failed verification, a file cut short that kills its process by SIGBUS, memory) stops none of
the others, and each keeps the single-file command's guarantees (verification, atomic output, guarded
reading). The parent only schedules them, draws a progress bar over the files on a terminal, and ends
with a table: each file converted (what it was recognised as, the output) or refused, and why. The exit
status is the worst of theirs: 0 when every file converted, 1 when a verification failed, 2 for bad
input, 3 for a bug.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO, Any

import click

#: what a folder given as an input contributes: Torch7's usual names for saved objects
TORCH7_SUFFIXES = (".t7", ".net", ".th")


@dataclass
class Job:
    source: str
    output: str
    process: subprocess.Popen | None = None
    out: IO[bytes] | None = None
    err: IO[bytes] | None = None
    code: int | None = None
    report: dict[str, Any] | None = None
    why: str = ""
    seconds: float = 0.0
    started: float = field(default=0.0, repr=False)


def wants_batch(paths: tuple[str, ...], output: str | None) -> bool:
    """Several inputs, a folder among them, or one input with an output written as a folder (``OUTDIR/``):
    the many-files path. One input and ``-o`` an existing folder without the slash stays the single-file
    command, which refuses to replace a folder."""
    if len(paths) != 1:
        return True
    return os.path.isdir(paths[0]) or (output is not None and output.endswith(("/", os.sep)))


def expand(paths: tuple[str, ...]) -> list[str]:
    """The files to convert: each file as given, each folder's Torch7 files (sorted, not recursive)."""
    files: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(os.path.join(p, n) for n in os.listdir(p)
                           if n.lower().endswith(TORCH7_SUFFIXES) and os.path.isfile(os.path.join(p, n)))
            if not found:
                raise click.UsageError(f"{p}: a folder without .t7, .net or .th files")
            files.extend(found)
        else:
            files.append(p)
    seen: set[str] = set()
    unique = []
    for f in files:  # a file named twice (a glob and its folder) is converted once
        key = os.path.realpath(f)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def plan(files: list[str], output: str | None, fmt: str | None) -> list[Job]:
    """Each input's output: in ``output`` (a folder, created when missing) or beside the input, named
    after it. Two inputs that would write one output are both kept apart by their folder's name."""
    suffix = {"safetensors": ".safetensors", "onnx": ".onnx", "pt2": ".pt2", "source": "_source"}.get(fmt or "pth", ".pth")
    if output is not None:
        os.makedirs(output, exist_ok=True)
    names: dict[str, int] = {}
    for f in files:
        stem = os.path.splitext(os.path.basename(f))[0]
        names[stem] = names.get(stem, 0) + 1
    jobs = []
    for f in files:
        stem = os.path.splitext(os.path.basename(f))[0]
        if output is not None and names[stem] > 1:  # cv1/model.t7 and cv2/model.t7 into one folder
            parent = os.path.basename(os.path.dirname(os.path.abspath(f))) or "root"
            stem = f"{parent}_{stem}"
        folder = output if output is not None else os.path.dirname(f)
        jobs.append(Job(f, os.path.join(folder, stem + suffix)))
    return jobs


def convert_many(paths: tuple[str, ...], output: str | None, *, jobs: int, options: list[str],
                 fmt: str | None, as_json: bool) -> None:
    """Convert every file, ``jobs`` at a time; print the table (or JSON); exit with the worst status."""
    files = expand(paths)
    if output is not None and os.path.exists(output) and not os.path.isdir(output):
        raise click.UsageError(f"-o {output}: with several inputs, -o names a folder (OUTDIR/)")
    todo = plan(files, output, fmt)
    bar = _bar(len(todo), quiet=as_json)
    pending, running, done = list(todo), [], []
    try:
        while pending or running:
            while pending and len(running) < jobs:
                job = pending.pop(0)
                _start(job, options)
                running.append(job)
            time.sleep(0.05)
            for job in [j for j in running if j.process is not None and j.process.poll() is not None]:
                running.remove(job)
                _finish(job)
                done.append(job)
                if bar is not None:
                    bar.set_postfix_str(os.path.basename(job.source), refresh=False)
                    bar.update(1)
    except KeyboardInterrupt:
        _stop(running)
        raise
    finally:
        if bar is not None:
            bar.close()
    order = {id(j): i for i, j in enumerate(todo)}
    done.sort(key=lambda j: order[id(j)])
    if as_json:
        click.echo(json.dumps([_row_json(j) for j in done], indent=1, default=str))
    else:
        click.echo(table(done))
    codes = [j.code for j in done if j.code]
    sys.exit(max(codes) if codes else 0)


def _bar(total: int, quiet: bool):
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc="t7convert", unit=" files", file=sys.stderr, leave=False)


def _start(job: Job, options: list[str]) -> None:
    job.out, job.err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    argv = [sys.executable, "-m", "t7convert", "convert", job.source, "-o", job.output, "--json", *options]
    job.started = time.monotonic()
    job.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=job.out, stderr=job.err)


def _finish(job: Job) -> None:
    assert job.process is not None and job.out is not None and job.err is not None
    job.seconds = time.monotonic() - job.started
    job.code = job.process.returncode
    job.out.seek(0)
    job.err.seek(0)
    out = job.out.read().decode("utf-8", "replace")
    err = job.err.read().decode("utf-8", "replace")
    job.out.close()
    job.err.close()
    if job.code == 0:
        try:
            job.report = json.loads(out)
        except ValueError:
            job.report = None
        return
    if job.code < 0:  # killed by a signal the child did not turn into a line of its own
        job.code = 3
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("t7convert:")] or err.strip().splitlines()
    why = lines[-1] if lines else f"exit status {job.code}"
    for prefix in ("t7convert: error: ", "t7convert: "):
        why = why.removeprefix(prefix)
    job.why = why.removeprefix(f"{job.source}: ").removeprefix(f"{job.source}, ")


def _stop(running: list[Job]) -> None:
    """Ctrl-C: the children (in our process group, on a terminal, already have it) are asked to stop
    and remove their temporaries; none is left running."""
    import signal

    for job in running:
        if job.process is not None and job.process.poll() is None:
            try:
                job.process.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    for job in running:
        if job.process is None:
            continue
        try:
            job.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            job.process.kill()
            job.process.wait()


def _status(job: Job) -> str:
    return {0: "converted", 1: "failed verification", 2: "refused", 3: "t7convert bug"}.get(job.code or 0, "failed")


def _row_json(job: Job) -> dict[str, Any]:
    return {"source": job.source, "output": job.output if job.code == 0 else None, "status": _status(job),
            "exit_code": job.code, "why": job.why or None, "seconds": round(job.seconds, 2), "report": job.report}


def table(jobs: list[Job]) -> str:
    """One row per file: the file, what became of it, and the output or the reason."""
    rows = []
    for j in jobs:
        if j.code == 0:
            title = (j.report or {}).get("title") or "converted"
            what = f"{title} -> {j.output}"
        else:
            what = j.why
        rows.append((j.source, _status(j), what))
    width = max([len("file")] + [len(r[0]) for r in rows])
    status_width = max([len("result")] + [len(r[1]) for r in rows])
    lines = [f"{'file':<{width}}  {'result':<{status_width}}  output / why"]
    lines += [f"{a:<{width}}  {b:<{status_width}}  {c}" for a, b, c in rows]
    converted = sum(1 for j in jobs if j.code == 0)
    lines.append(f"{converted} of {len(jobs)} file{'' if len(jobs) == 1 else 's'} converted"
                 + ("" if converted == len(jobs) else f", {len(jobs) - converted} not"))
    return "\n".join(lines)
