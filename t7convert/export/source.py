"""``--format source``: a folder of ``model.py`` and ``model.safetensors`` that needs torch (and safetensors)
only, never t7convert.

``model.py`` holds one ``Model(nn.Module)``: ``__init__`` builds named submodules, with the standard
``torch.nn`` layer wherever the converted module is one (``nn.Conv2d(3, 64, kernel_size=(7, 7), ...)``), and
``forward`` follows the Torch7 graph node by node (a comment names each node's Torch7 path); the few modules
with Torch7's own semantics (ceil-mode pooling rules, nn.View's batch inference...) are written into the same
file from their source, with the helpers they use. A module whose constructor cannot be read back from its
fields is rebuilt field by field (``_restore``). ``load()`` returns the model in eval mode with the weights of
``model.safetensors`` beside it. No pickle, no lambda, no absolute path; verified by importing the file in a
fresh interpreter where t7convert cannot be imported.
"""
from __future__ import annotations

import ast
import builtins
import dataclasses
import inspect
import json
import math
import operator
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import types
from typing import Any, Callable

import numpy as np
import torch
from torch import fx, nn

from t7convert.common.errors import T7ConvertError
from t7convert.export.common import as_tensors, check_close, first_line, model_dtype
from t7convert.export.provenance import KEY, dumps

_SKIP_ATTRS = {"training", "t7_source", "t7convert_info", "data_config", "t7_stages"}


class _Emitter:
    """Collects the classes, helpers and imports model.py needs, and the constructor of each module."""

    def __init__(self) -> None:
        self.imports: dict[str, str] = {}          # name -> import line
        self.defs: dict[str, tuple[Any, str]] = {}  # name -> (object, source), in dependency order
        self.restore_used = False
        self.std_classes: set[str] = set()

    # --- values ------------------------------------------------------------------------------------
    def literal(self, v: Any) -> str:
        if v is None or isinstance(v, (bool, str)):
            return repr(v)
        if isinstance(v, int):
            return repr(int(v))
        if isinstance(v, float):
            if math.isnan(v):
                self.imports["math"] = "import math"
                return "math.nan"
            if math.isinf(v):
                self.imports["math"] = "import math"
                return "math.inf" if v > 0 else "-math.inf"
            return repr(v)
        if isinstance(v, torch.Size):
            return repr(tuple(int(s) for s in v))
        if isinstance(v, tuple):
            inner = ", ".join(self.literal(e) for e in v)
            return f"({inner},)" if len(v) == 1 else f"({inner})"
        if isinstance(v, list):
            return "[" + ", ".join(self.literal(e) for e in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{self.literal(k)}: {self.literal(e)}" for k, e in v.items()) + "}"
        if isinstance(v, torch.dtype):
            return str(v)
        if isinstance(v, np.generic):
            return self.literal(v.item())
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            name = self.use_class(type(v))
            return f"{name}(" + ", ".join(f"{f.name}={self.literal(getattr(v, f.name))}"
                                          for f in dataclasses.fields(v) if f.init) + ")"
        if isinstance(v, np.ndarray):
            self.imports["np"] = "import numpy as np"
            return f"np.array({self.literal(v.tolist())}, dtype=np.{v.dtype.name})"
        raise T7ConvertError(f"cannot write a {type(v).__name__} value into model.py")

    # --- classes and their dependencies -----------------------------------------------------------
    def use_class(self, cls: type) -> str:
        """The name model.py knows ``cls`` by: ``nn.X`` for torch's own, else its source is written in."""
        if cls.__module__.startswith("torch."):
            mod = sys.modules[cls.__module__]
            if getattr(nn, cls.__name__, None) is cls:
                self.imports["nn"] = "from torch import nn"
                return f"nn.{cls.__name__}"
            self.imports[cls.__name__] = f"from {mod.__name__} import {cls.__name__}"
            return cls.__name__
        self._define(cls.__name__, cls)
        return cls.__name__

    def _define(self, name: str, obj: Any) -> None:
        if name in self.defs:
            if self.defs[name][0] is not obj:
                raise T7ConvertError(f"two different definitions named {name} would be written into model.py")
            return
        if isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__.startswith("t7convert."):
            self.defs[name] = (obj, f"class {name}(ValueError):\n    \"\"\"An input the model cannot take.\"\"\"\n")
            return
        self.defs[name] = (obj, "")  # placeholder first: recursive references end here
        source = textwrap.dedent(inspect.getsource(obj))
        tree = ast.parse(source)
        if isinstance(obj, type):
            for base in obj.__bases__:
                if base is not object:
                    self.use_class(base)
        module = sys.modules[obj.__module__]
        annotations = _annotation_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and id(node) not in annotations:
                self._global(node.id, module)
        del self.defs[name]
        self.defs[name] = (obj, _strip_decorators(source, tree))

    def _global(self, ident: str, module: types.ModuleType) -> None:
        if ident not in vars(module):
            return  # a local name or a builtin
        value = vars(module)[ident]
        if isinstance(value, types.ModuleType):
            if value.__name__.startswith("t7convert"):
                raise T7ConvertError(f"model.py would need t7convert's {value.__name__}")
            top = value.__name__
            self.imports[ident] = f"import {top}" if top == ident else (
                f"from {top.rsplit('.', 1)[0]} import {top.rsplit('.', 1)[1]}" if "." in top and top.rsplit('.', 1)[1] == ident
                else f"import {top} as {ident}")
            return
        if isinstance(value, (type, types.FunctionType)):
            origin = getattr(value, "__module__", "") or ""
            if origin.startswith("t7convert"):
                self._define(ident, value)
                return
            if origin in ("typing", "__future__"):
                return  # annotations only (model.py has ``from __future__ import annotations``)
            if getattr(sys.modules.get(origin), getattr(value, "__name__", ""), None) is value:
                self.imports[ident] = f"from {origin} import {value.__name__}" + (
                    f" as {ident}" if value.__name__ != ident else "")
                return
            raise T7ConvertError(f"model.py would need {ident} from {origin}")
        if isinstance(value, (int, float, str, bool, tuple, frozenset, type(None))) or \
                isinstance(value, (list, dict)) and ident.isupper():
            if isinstance(value, frozenset):
                value = set(value)
            self.defs.setdefault(ident, (value, f"{ident} = {self.literal(value)}\n"))
            return
        if getattr(value, "__module__", "") == "typing" or ident in ("annotations", "TYPE_CHECKING"):
            return
        raise T7ConvertError(f"model.py would need the {type(value).__name__} {ident}")

    # --- modules -----------------------------------------------------------------------------------
    def constructor(self, m: nn.Module) -> str:
        """An expression that builds a module like ``m`` (tensors of the right shapes; values from the file)."""
        cls = type(m)
        if isinstance(m, nn.Sequential) and cls is nn.Sequential:
            self.imports["nn"] = "from torch import nn"
            kids = ", ".join(self.constructor(c) for c in m)
            return f"nn.Sequential({kids})"
        if cls is nn.ModuleList:
            self.imports["nn"] = "from torch import nn"
            return "nn.ModuleList([" + ", ".join(self.constructor(c) for c in m) + "])"
        name = self.use_class(cls)
        call = self._by_signature(m, name)
        if call is not None:
            return call
        return self._restore(m, name)

    def _by_signature(self, m: nn.Module, name: str) -> str | None:
        """``Cls(a=..., b=...)`` when every constructor argument is a same-named field of plain value and the
        module built so has the same fields, submodules and tensor shapes; else None."""
        try:
            sig = inspect.signature(type(m).__init__)
        except (TypeError, ValueError):
            return None
        args = []
        values = {}
        for p in list(sig.parameters.values())[1:]:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in ("device", "dtype"):
                continue
            if not hasattr(m, p.name):
                if p.default is p.empty:
                    return None
                continue
            v = getattr(m, p.name)
            if isinstance(v, (nn.Parameter, torch.Tensor)) and p.name == "bias":
                v = True
            elif v is None and p.name == "bias" and isinstance(p.default, bool):
                v = False
            if isinstance(v, (nn.Module, torch.Tensor)):
                return None
            try:
                text = self.literal(v)
            except T7ConvertError:
                return None
            values[p.name] = v
            try:
                default = p.default is not p.empty and type(p.default) is type(v) and p.default == v
            except Exception:  # noqa: BLE001 - values that do not compare
                default = False
            if not default:  # only what differs from the constructor's defaults
                args.append(f"{p.name}={text}")
        try:
            with torch.device("meta"):
                built = type(m)(**values)
        except Exception:  # noqa: BLE001 - the fields do not rebuild it
            return None
        if not _same_module(built, m):
            return None
        return f"{name}({', '.join(args)})"

    def _restore(self, m: nn.Module, name: str) -> str:
        self.restore_used = True
        attrs = {k: v for k, v in vars(m).items() if not k.startswith("_") and k not in _SKIP_ATTRS}
        fields = ", ".join(f"{k!r}: {self.literal(v)}" for k, v in attrs.items())
        kids = ", ".join(f"{k!r}: {self.constructor(c) if c is not None else 'None'}" for k, c in m._modules.items())
        params = ", ".join(f"{k!r}: {None if p is None else self._shape(p)}" for k, p in m._parameters.items())
        persistent = {k for k in m._buffers if k not in m._non_persistent_buffers_set}
        if len(persistent) != len(m._buffers):
            raise T7ConvertError(f"{type(m).__name__} has buffers a state_dict does not keep")
        buffers = ", ".join(f"{k!r}: {None if b is None else self._shape(b)}" for k, b in m._buffers.items())
        shared = []  # a module kept as a plain field that runs the children (nn.Sequencer's step)
        for k, v in vars(m).items():
            if k.startswith("_") and isinstance(v, nn.Module):
                if v._parameters or v._buffers or list(v._modules.items()) != list(m._modules.items()):
                    raise T7ConvertError(f"{type(m).__name__}.{k} is a module model.py cannot rebuild")
                inner = {a: b for a, b in vars(v).items() if not a.startswith("_") and a not in _SKIP_ATTRS}
                shared.append(f"{k!r}: ({self.use_class(type(v))}, "
                              f"{{{', '.join(f'{a!r}: {self.literal(b)}' for a, b in inner.items())}}})")
        more = f", shared={{{', '.join(shared)}}}" if shared else ""
        return f"_restore({name}, {{{fields}}}, {{{kids}}}, {{{params}}}, {{{buffers}}}{more})"

    def _shape(self, t: torch.Tensor) -> str:
        return f"({self.literal(tuple(t.shape))}, {t.dtype})"


def _same_module(a: nn.Module, b: nn.Module) -> bool:
    """Same class, plain fields, submodule names and tensor shapes (what rebuilding must give)."""
    if type(a) is not type(b):
        return False
    fa = {k: v for k, v in vars(a).items() if not k.startswith("_") and k not in _SKIP_ATTRS}
    fb = {k: v for k, v in vars(b).items() if not k.startswith("_") and k not in _SKIP_ATTRS}
    if fa.keys() != fb.keys():
        return False
    for k in fa:
        va, vb = fa[k], fb[k]
        if isinstance(va, (torch.Tensor, np.ndarray)) or isinstance(vb, (torch.Tensor, np.ndarray)):
            return False
        try:
            if va != vb and not (isinstance(va, float) and isinstance(vb, float) and math.isnan(va) and math.isnan(vb)):
                return False
        except Exception:  # noqa: BLE001 - values that do not compare
            return False
    sa = {k: (tuple(v.shape), v.dtype) for k, v in a.state_dict().items()}
    sb = {k: (tuple(v.shape), v.dtype) for k, v in b.state_dict().items()}
    return sa == sb and list(a._modules) == list(b._modules) and \
        all(_same_module(x, y) for x, y in zip(a.children(), b.children()))


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """ids of the AST nodes inside annotations (names there are never evaluated: postponed annotations)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        anns = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            anns.append(node.returns)
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
                if arg is not None:
                    anns.append(arg.annotation)
        elif isinstance(node, ast.AnnAssign):
            anns.append(node.annotation)
        for ann in anns:
            if ann is not None:
                out.update(id(n) for n in ast.walk(ann))
    return out


def _strip_decorators(source: str, tree: ast.Module) -> str:
    """A function's source without registry decorators (``@builds(...)``); classes keep theirs."""
    top = tree.body[0]
    if isinstance(top, ast.FunctionDef) and top.decorator_list:
        lines = source.splitlines(keepends=True)
        return "".join(lines[top.lineno - 1:]) if hasattr(top, "lineno") else source
    return source


_RESTORE = '''
def _restore(cls, fields, children, parameters, buffers, shared=None):
    """A module rebuilt field by field (its constructor's arguments are not all kept as fields); its
    tensors get their values from model.safetensors. ``shared``: fields holding a module that runs this
    module's children (not registered twice)."""
    m = cls.__new__(cls)
    nn.Module.__init__(m)
    for name, value in fields.items():
        object.__setattr__(m, name, value)
    for name, child in children.items():
        m.add_module(name, child)
    for name, spec in parameters.items():
        m.register_parameter(name, None if spec is None else nn.Parameter(torch.empty(spec[0], dtype=spec[1]),
                                                                          requires_grad=False))
    for name, spec in buffers.items():
        m.register_buffer(name, None if spec is None else torch.empty(spec[0], dtype=spec[1]))
    for name, (kind, kind_fields) in (shared or {}).items():
        runner = kind.__new__(kind)
        nn.Module.__init__(runner)
        for key, value in kind_fields.items():
            object.__setattr__(runner, key, value)
        for key, child in m._modules.items():
            runner.add_module(key, child)
        object.__setattr__(m, name, runner)
    return m
'''


def _forward_of_graph(gm: fx.GraphModule, em: _Emitter, body: list[str]) -> list[str]:
    """``forward``'s lines from the fx graph: one line per node, in the graph's order."""
    from t7convert.pytorch.graph_module import make_table

    names: dict[fx.Node, str] = {}
    lines: list[str] = []
    arg_names: list[str] = []

    def ref(a: Any) -> str:
        if isinstance(a, fx.Node):
            return names[a]
        return em.literal(a)

    tables = 0
    for n in gm.graph.nodes:
        var = n.name
        if n.op == "placeholder":
            var = "x"
        elif n.op == "call_function" and n.target is make_table:
            tables += 1
            var = f"table{tables}"
        elif n.op == "call_function" and n.target is operator.getitem:
            var = f"{names[n.args[0]]}_{n.args[1] + 1}"  # Lua's 1-based element
        names[n] = var
        if n.op == "placeholder":
            arg_names.append(var)
        elif n.op == "call_module":
            sub = gm.get_submodule(n.target)
            where = getattr(sub, "t7_source", "")
            comment = f"  # {where}" if where else ""
            lines.append(f"{var} = self.{n.target}({', '.join(ref(a) for a in n.args)}){comment}")
        elif n.op == "call_function" and n.target is make_table:
            lines.append(f"{var} = [{', '.join(ref(a) for a in n.args)}]")
        elif n.op == "call_function" and n.target is operator.getitem:
            lines.append(f"{var} = {ref(n.args[0])}[{ref(n.args[1])}]")
        elif n.op == "output":
            lines.append(f"return {ref(n.args[0])}")
        else:
            raise T7ConvertError(f"model.py cannot express the graph node {n.op} {n.target}")
    sig = ", ".join(["self", *arg_names])
    return [f"    def forward({sig}):"] + [f"        {line}" for line in lines]


def model_source(module: nn.Module, provenance: dict[str, str], aliases: dict[str, str]) -> str:
    """model.py's text; ``aliases``: {key: stored key} of tensors stored once for several keys."""
    em = _Emitter()
    em.imports["torch"] = "import torch"
    em.imports["nn"] = "from torch import nn"
    init: list[str] = []
    if isinstance(module, fx.GraphModule):
        for name, sub in module.named_children():
            init.append(f"        self.{name} = {em.constructor(sub)}")
        forward = _forward_of_graph(module, em, init)
        doc = "The Torch7 graph, node by node (the comments name each node's Torch7 path)."
    else:
        init.append(f"        self.net = {em.constructor(module)}")
        forward = ["    def forward(self, x):", "        return self.net(x)"]
        doc = "The converted model."
    header = ["# Written by t7convert " + provenance.get("t7convert", "") + " from " + provenance.get("source", "?"),
              f"# source sha256: {provenance.get('source_sha256', '')}",
              f"# verified on: {provenance.get('verified_on', '')}; worst relative error against the reference "
              f"execution: {provenance.get('max_rel_error', '')}",
              "# Needs torch and safetensors only. load() returns the model in eval mode with model.safetensors' weights.",
              f"PROVENANCE = {json.dumps(provenance, sort_keys=True)!r}"]
    out = ['"""A Torch7 model as plain PyTorch: ``load()`` returns it (eval mode, weights from model.safetensors)."""',
           *header[:4], "from __future__ import annotations", ""]
    out += sorted(set(em.imports.values()), key=lambda s: (not s.startswith("import"), s))
    out += ["", header[4], ""]
    for _name, (_obj, src) in em.defs.items():
        out += ["", src.rstrip(), ""]
    if em.restore_used:
        out += [_RESTORE.rstrip(), ""]
    out += ["", f"ALIASES = {json.dumps(aliases, sort_keys=True)}", "",
            "", "class Model(nn.Module):", f'    """{doc}"""', "", "    def __init__(self):",
            "        super().__init__()", *init, "", *forward, ""]
    out += ["", "def load(device=None):",
            '    """The model in eval mode, with the weights of model.safetensors beside this file."""',
            "    import os", "", "    from safetensors.torch import load_file", "",
            "    with torch.device(\"meta\"):", "        model = Model()",
            "    state = load_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), \"model.safetensors\"))",
            "    for alias, key in ALIASES.items():  # one tensor Torch7 shared between modules, stored once",
            "        state[alias] = state[key]",
            "    model.load_state_dict(state, strict=True, assign=True)",
            "    model.eval()", "    return model if device is None else model.to(device)", ""]
    return "\n".join(out)


def _wrapper_state(module: nn.Module) -> dict[str, torch.Tensor]:
    state = module.state_dict()
    if not isinstance(module, fx.GraphModule):
        state = {f"net.{k}": v for k, v in state.items()}
    return state


_CHILD = r'''
import importlib.util, sys
class _NoT7convert:
    def find_spec(self, name, path=None, target=None):
        if name == "t7convert" or name.startswith("t7convert."):
            raise ModuleNotFoundError("t7convert is not importable here", name=name)
sys.meta_path.insert(0, _NoT7convert())
import torch
folder, inputs, outputs = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("t7convert_source_check", folder + "/model.py")
mod = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = mod
spec.loader.exec_module(mod)
model = mod.load()
if any(m.training for m in model.modules()):
    sys.exit("load() returned a module in training mode")
saved = torch.load(inputs, weights_only=True)
def rebuild(s, leaves):
    return leaves[s] if isinstance(s, int) else [rebuild(e, leaves) for e in s]
def flat(v):
    return [t for e in v for t in flat(e)] if isinstance(v, (list, tuple)) else [v]
with torch.no_grad():
    y = model(rebuild(saved["struct"], saved["args"]))
torch.save({"outputs": [t.detach().cpu() for t in flat(y)]}, outputs)
'''


def write(module: nn.Module, x: Any, reference: Any, output: str, *, provenance: dict[str, str], force: bool = False,
          before_publish: Callable[[], None] | None = None) -> tuple[int, float, list[str]]:
    """Write the folder beside ``output`` under a temporary name, import it in a fresh interpreter without
    t7convert and run it on ``x`` against ``reference``, then put it in place. Returns (bytes, error, notes)."""
    from safetensors.torch import save_file

    from t7convert.pytorch.files import _unshared

    record = dict(provenance, format="source")
    state, aliases = _unshared(_wrapper_state(module))
    parent = os.path.dirname(os.path.abspath(output))
    tmp = tempfile.mkdtemp(prefix=f".t7convert-{os.getpid()}-", suffix=".tmpdir", dir=parent)
    try:
        args, struct = as_tensors(x, model_dtype(module))
        for final in (False, True):  # once to measure, then with the measured error in its provenance
            with open(os.path.join(tmp, "model.py"), "w", encoding="utf-8") as f:
                f.write(model_source(module, record, aliases))
            save_file(state, os.path.join(tmp, "model.safetensors"), metadata={KEY: dumps(record)})
            if not final:
                err = _run_fresh(tmp, args, struct, reference)
                record["max_rel_error"] = f"{err:.3e}"
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        for name in os.listdir(tmp):
            os.chmod(os.path.join(tmp, name), 0o666 & ~umask)
        if before_publish is not None:
            before_publish()
        if os.path.lexists(output):
            if not force:
                raise T7ConvertError(f"{output} exists; pass --force to overwrite it")
            if not os.path.isdir(output) or os.path.islink(output):
                raise T7ConvertError(f"{output} exists and is not a folder; the source format writes a folder")
            shutil.rmtree(output)
        os.rename(tmp, output)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    size = sum(os.path.getsize(os.path.join(output, n)) for n in os.listdir(output))
    return size, err, []


def _run_fresh(folder: str, args: list[torch.Tensor], struct: Any, reference: Any) -> float:
    """model.py imported by a new interpreter in which importing t7convert fails, run on the input."""
    with tempfile.TemporaryDirectory(prefix="t7convert-source-check-") as work:
        inputs, outputs = os.path.join(work, "in.pt"), os.path.join(work, "out.pt")
        torch.save({"args": args, "struct": struct}, inputs)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
        p = subprocess.run([sys.executable, "-I", "-B", "-c", _CHILD, folder, inputs, outputs], capture_output=True,
                           text=True, env=env, cwd=work, stdin=subprocess.DEVNULL)
        if p.returncode != 0 or not os.path.exists(outputs):
            tail = [line for line in (p.stderr or p.stdout or "").strip().splitlines() if line.strip()]
            raise T7ConvertError("the written model.py fails in a fresh interpreter without t7convert: "
                                 f"{tail[-1][:300] if tail else f'exit {p.returncode}'}; nothing was written")
        got = torch.load(outputs, weights_only=True)["outputs"]
    return check_close("the written model.py", got, reference)


__all__ = ["write", "model_source", "first_line", "builtins"]
