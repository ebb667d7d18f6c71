"""Damaged files: every read ends in a value or a T7FormatError naming the file, a byte offset and an
object path; never another exception, a crash, a hang or a memory blow-up.

Corruptions are generated: truncation at every offset and extreme integers planted at every 4-byte
position of small files, seeded random byte changes of every file, and hypothesis. The seeds are files
t7convert writes itself (binary, ascii, 4-byte longs; these always run) and, when T7CONVERT_FIXTURES is
set, every file written by real Torch7.

The cases run in a forked child under an address-space limit (RLIMIT_AS, 1 GiB above what the process
already maps) with a per-case alarm, like the acceptance check 02, and each successful read is walked
entirely (every tensor's data copied) so that a view outside its storage would crash the child.

T7CONVERT_FUZZ_CASES=N adds N more seeded random cases per seed file and extends the exhaustive
sweeps to files up to 16 KB (the default run keeps this file under a minute on two cores).
"""
from __future__ import annotations

import itertools
import json
import os
import random
import resource
import signal
import struct
import time
import traceback
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from t7_compare import canonical

import t7convert
from t7convert import T7FormatError
from t7convert.torch7.format import T7Function, T7Object, T7Table, TdsHash, TdsVec, as_storage, dumps, read_document

FUZZ_CASES = int(os.environ.get("T7CONVERT_FUZZ_CASES", "0"))
EXHAUSTIVE_LIMIT = 16_384 if FUZZ_CASES else 4_096   # bytes: truncate everywhere, plant everywhere
CASE_SECONDS = 10
EXTREMES = [struct.pack("<i", v) for v in (2**31 - 1, -1, -2**31, 2**30, 0, 1, 2, 3, 4, 8, 0x7FF00000)] + [
    struct.pack("<q", v) for v in (2**63 - 1, 2**62, -2**40, 2**40)]
ASCII_TOKENS = [b"-1", b"0", b"2147483648", b"99999999999999999999", b"-9223372036854775809", b"1e308", b"nan",
                b"9" * 5000, b"\n", b" ", b"", b"4", b"3", b"V 1"]


# --- seed files ---------------------------------------------------------------------------------------

def _sample_object():
    """A small checkpoint-like object with every construct the reader knows."""
    flat = np.linspace(-1, 1, 60).astype(np.float32)
    grad = np.zeros(60, np.float32)
    conv = T7Object("nn.SpatialConvolution", 1, T7Table(
        weight=flat[:36].reshape(4, 1, 3, 3), bias=flat[36:40], gradWeight=grad[:36].reshape(4, 1, 3, 3),
        gradBias=grad[36:40], kW=3, kH=3, train=False, padW=1))
    lin = T7Object("nn.Linear", 1, T7Table(weight=flat[40:56].reshape(4, 4), bias=flat[56:60],
                                           gradWeight=grad[40:56].reshape(4, 4), gradBias=grad[56:60]))
    view = T7Object("nn.View", 1, T7Table(size=as_storage(np.array([-1], np.int64)), numElements=4))
    pool = T7Object("nn.SpatialMaxPooling", 1, T7Table(indices=np.arange(8, dtype=np.int64).reshape(2, 4),
                                                      ceil_mode=True))
    model = T7Object("nn.Sequential", 1, T7Table(modules=[conv, pool, view, lin], output=np.empty(0, np.float32),
                                                 train=False))
    model.fields["_self"] = model
    shared = T7Table(tag="shared")
    return T7Table({
        "model": model, "a": shared, "b": shared, "list": [1, 2.5, "three", b"\xff\x00", None, True],
        "tds": TdsHash({1: 2, "k": TdsVec([3, 4])}),
        "f": T7Function(b"\x1bLJ\x02code\x00", [T7Table(name="u", value=1)]),
        "types": [np.arange(3).astype(t) for t in ("u1", "i1", "i2", "i4", "i8", "f2", "f8")],
        "t": flat[::7], "nested": {"x": {"y": {"z": [[], {}]}}}, "legacy": T7Object("Old", None, T7Table(v=1)),
    })


def _own_seeds() -> dict[str, bytes]:
    x = _sample_object()
    return {"own.binary.t7": dumps(x), "own.ascii.t7": dumps(x, encoding="ascii"),
            "own.long4.t7": dumps(x, long_size=4)}


#: folders of many small cases (one per layer class, one per checkpoint kind): a spread sample of each is
#: swept by default (every small file is truncated at every offset, so all 400 would take an hour),
#: all of them when T7CONVERT_FUZZ_CASES is set
_SAMPLED_FOLDERS = {"torch7/catalog": 16, "torch7/graphs": 6}


def _fixture_seeds(root: Path) -> dict[str, bytes]:
    files = sorted(root.rglob("*.t7"))
    chosen = []
    for folder, keep in _SAMPLED_FOLDERS.items():
        inside = [p for p in files if str(p.relative_to(root)).startswith(folder + "/")]
        step = 1 if FUZZ_CASES else max(1, len(inside) // keep)
        chosen += inside[::step]
    chosen += [p for p in files if not any(str(p.relative_to(root)).startswith(f + "/") for f in _SAMPLED_FOLDERS)]
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(chosen)}


# --- corruptions --------------------------------------------------------------------------------------

def _cases(name: str, data: bytes, rng: random.Random, extra: int):
    """Truncations, planted extreme integers (or ascii tokens) and random changes of one file: at every
    offset for small files, at sampled ones for large files (whose every read costs milliseconds).

    A generator: each damaged copy exists only while it is being read (a few hundred copies of an 8 MB
    model would not fit in memory)."""
    n = len(data)
    small = n <= EXHAUSTIVE_LIMIT
    sample = 40 if FUZZ_CASES else 10
    ascii_file = data[:1].isdigit()
    for c in range(n) if small else sorted(rng.sample(range(n), sample)):
        yield f"cut{c}", data[:c]
    if not ascii_file:
        extremes = EXTREMES if FUZZ_CASES else EXTREMES[:3] + EXTREMES[4:5] + EXTREMES[-4:-2]
        for pos in range(0, n, 4) if small else sorted(rng.sample(range(0, n, 4), sample)):
            for e in extremes if small else rng.sample(EXTREMES, 2):
                yield f"plant{e.hex()}@{pos}", data[:pos] + e + data[pos + len(e):]
    else:
        lines = [i + 1 for i, b in enumerate(data) if b == 0x0A][:-1]
        for pos in lines if small else rng.sample(lines, min(sample * 3, len(lines))):
            end = data.find(b"\n", pos)
            tok = rng.choice(ASCII_TOKENS)
            yield f"token{tok[:8]!r}@{pos}", data[:pos] + tok + data[end:]
    for i in range((60 if small else sample) + extra):
        b = bytearray(data)
        for _ in range(rng.choice((1, 1, 1, 2, 4))):
            pos = rng.randrange(n)
            if rng.random() < 0.5:
                b[pos] = rng.randrange(256)
            else:
                e = rng.choice(EXTREMES)
                b[pos:pos + len(e)] = e
        if rng.random() < 0.1:
            b = b[:rng.randrange(len(b) + 1)]
        yield f"mut{i}", bytes(b)


def _case_stream(seeds: dict[str, bytes], seed: int):
    """Every case of every seed file, deterministically (each file has its own random stream)."""
    for name, data in seeds.items():
        for tag, blob in _cases(name, data, random.Random(f"{seed}:{name}"), FUZZ_CASES):
            yield name, tag, blob


# --- running cases in a bounded child ---------------------------------------------------------------------

def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _check_one(path: str) -> str | None:
    """Read ``path``; None when it ends well (a value, fully walked, or a proper T7FormatError)."""
    try:
        doc = read_document(path)
        canonical(doc.root)  # touches every tensor's and storage's data, every table
        repr(doc.root)
    except T7FormatError as e:
        msg = str(e)
        if e.path != path or path not in msg:
            return f"error does not name the file: {msg[:200]}"
        if e.offset is None or f"byte {e.offset}" not in msg or not 0 <= e.offset <= os.path.getsize(path):
            return f"error has no valid byte offset: {msg[:200]}"
        if not e.object_path or f"at {e.object_path}" not in msg:
            return f"error names no object path: {msg[:200]}"
        if len(msg) > 3000:
            return f"error message of {len(msg)} characters"
        return None
    except RecursionError:
        return "RecursionError"
    except BaseException as e:  # noqa: BLE001 - anything else is the bug being looked for
        return f"{type(e).__name__}: {str(e)[:150]} | {traceback.format_exc(limit=-3)[-400:]}"
    return None


def _run_bounded(cases, workdir: Path, skip: int = 0) -> tuple[int, list[tuple[str, str, str]]]:
    """Run the cases (an iterable, consumed in the child) after the first ``skip``, in a forked child
    under RLIMIT_AS and a per-case alarm; the number of cases run and the problems found."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(r)
            limit = _vm_size() + (1 << 30)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            out = os.fdopen(w, "w")
            scratch = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else workdir  # tmpfs: fast rewrites
            path = str(scratch / f"t7convert-case-{os.getpid()}.t7")

            def alarm(*_):
                raise TimeoutError(f"a read took over {CASE_SECONDS} s")
            signal.signal(signal.SIGALRM, alarm)
            for seed, tag, blob in itertools.islice(cases, skip, None):
                with open(path, "wb") as f:
                    f.write(blob)
                del blob
                out.write(json.dumps([seed, tag]) + "\n")  # the case being run, in case it crashes
                out.flush()
                signal.alarm(CASE_SECONDS)
                try:
                    problem = _check_one(path)
                except TimeoutError as e:
                    problem = str(e)
                finally:
                    signal.alarm(0)
                if problem:
                    out.write(json.dumps([seed, tag, problem]) + "\n")
            if os.path.exists(path):
                os.unlink(path)
            out.write(json.dumps(["done"]) + "\n")
            out.close()
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    ran = 0
    problems: list[tuple[str, str, str]] = []
    last: list = ["?", "?"]
    finished = False
    with os.fdopen(r) as f:
        for line in f:
            x = json.loads(line)
            if x == ["done"]:
                finished = True
            elif len(x) == 2:
                ran, last = ran + 1, x
            else:
                problems.append(tuple(x))
    _, status = os.waitpid(pid, 0)
    if not finished:
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
        problems.append((last[0], last[1], f"the reading child died ({how})"))
    return ran, problems


def _show(problems: list[tuple[str, str, str]], n: int | None = None) -> str:
    head = f"{len(problems)} of {n} cases:\n" if n is not None else ""
    return head + "\n".join(f"{s} {t}: {p}" for s, t, p in problems[:20])


def _sweep(seeds: dict[str, bytes], seed: int, tmp_path: Path) -> tuple[int, list[tuple[str, str, str]]]:
    problems: list[tuple[str, str, str]] = []
    done = 0
    while True:  # a crash ends one child: go on with the case after the one that killed it
        ran, found = _run_bounded(_case_stream(seeds, seed), tmp_path, skip=done)
        done += ran
        problems += found
        if not any("child died" in p[2] for p in found) or ran == 0:
            return done, problems


# --- tests --------------------------------------------------------------------------------------------

def test_own_files_read_back_first(tmp_path):
    seeds = _own_seeds()
    values = [canonical(_sample_object())]
    for name, data in seeds.items():
        (tmp_path / name).write_bytes(data)
        values.append(canonical(t7convert.read(tmp_path / name)))
    assert all(v == values[0] for v in values)


@pytest.mark.slow
def test_corrupted_own_files(tmp_path):
    t = time.perf_counter()
    n, problems = _sweep(_own_seeds(), 1, tmp_path)
    assert not problems, _show(problems, n)
    assert n > 5000
    print(f"{n} corruptions of t7convert-written files in {time.perf_counter() - t:.1f} s")


@pytest.mark.slow
def test_corrupted_torch7_files(torch7_fixtures, tmp_path):
    t = time.perf_counter()
    n, problems = _sweep(_fixture_seeds(torch7_fixtures), int(os.environ.get("CORRUPT_SEED", "7")), tmp_path)
    assert not problems, _show(problems, n)
    print(f"{n} corruptions of Torch7-written files in {time.perf_counter() - t:.1f} s")


_SEED_BLOBS = list(_own_seeds().items())


@settings(max_examples=3000 if FUZZ_CASES else 300, deadline=2000,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@pytest.mark.slow
@given(st.data())
def test_hypothesis_mutations(tmp_path_factory, data):
    name, blob = data.draw(st.sampled_from(_SEED_BLOBS))
    b = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(b) - 1))
        kind = data.draw(st.sampled_from(["byte", "int", "long", "delete", "insert", "cut"]))
        if kind == "byte":
            b[pos] = data.draw(st.integers(0, 255))
        elif kind == "int":
            b[pos:pos + 4] = struct.pack("<i", data.draw(st.integers(-2**31, 2**31 - 1)))
        elif kind == "long":
            b[pos:pos + 8] = struct.pack("<q", data.draw(st.integers(-2**63, 2**63 - 1)))
        elif kind == "delete":
            del b[pos:pos + data.draw(st.integers(1, 16))]
        elif kind == "insert":
            b[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            del b[pos:]
        if not b:
            b = bytearray(b"\x00")
    path = tmp_path_factory.getbasetemp() / f"hyp-{os.getpid()}.t7"
    path.write_bytes(bytes(b))
    problem = _check_one(str(path))
    assert problem is None, f"{name}: {problem}"


@pytest.mark.slow
def test_check02_style_corruptions(torch7_fixtures, tmp_path):
    """The acceptance check's own recipe (40 cuts, 80 mutations of six torchfile files) for several seeds."""
    names = ("floattensor.t7", "recursive_class.t7", "list_table.t7", "function_upvals.t7",
             "gmodule_with_linear_identity.t7", "tds_hash.t7")
    extremes = [b"\xff\xff\xff\x7f", b"\xff\xff\xff\xff", b"\x00\x00\x00\x80", b"\x00\x00\x00\x40",
                b"\x00\x00\x00\x00", b"\xff\xff\xff\xff\xff\xff\xff\x7f", b"\x00\x00\x00\x00\x00\x00\x00\x40"]
    cases = []
    for seed in range(1, 6):
        rng = random.Random(seed)
        for name in names:
            data = (torch7_fixtures / "torchfile" / name).read_bytes()
            n = len(data)
            for cut in sorted(set(rng.randrange(0, n) for _ in range(40))):
                cases.append((name, f"s{seed}cut{cut}", data[:cut]))
            for i in range(80):
                b = bytearray(data)
                pos = rng.randrange(0, n)
                if i % 2:
                    e = rng.choice(extremes)
                    b[pos:pos + len(e)] = e
                else:
                    b[pos] = rng.randrange(256)
                cases.append((name, f"s{seed}mut{i}@{pos}", bytes(b)))
    _, problems = _run_bounded(iter(cases), tmp_path)
    assert not problems, _show(problems)
