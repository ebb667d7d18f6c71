"""Which input a converted model takes, found from the file (verification, parity, ``data_config``).

The sources, in order; the first that decides is named in the summary (:class:`FoundInput`):

1. What the file remembers. A module saved without ``clearState()`` keeps the ``gradInput`` of the last
   batch it was trained on: the root's has exactly the shape (or the table of shapes) of that input; an
   nngraph gModule also keeps its input in its input node. Whether its first dimension was a batch is
   asked of the model (a shape-only run on the meta device), not assumed.
   1b. Such a module also keeps the ``output`` of its last forward pass, the root's and every stage's
   (each Torch7 module the DAG maps, :data:`dag["stages"]`): the input whose shape-only run reproduces
   every recorded shape is the one Torch7 last ran (:class:`_OutputFit`). Its structure comes from the
   pick of the sources below, the layers' declarations and the ranks near the root output's; the batch
   (the recorded outputs' common first size) stays in front; every other size is searched one at a
   time, kept when it brings the outputs closer. The sources' pick is taken when it reproduces them,
   else the smallest match; a kept input (1) that does not reproduce them gives way; when nothing
   reproduces them, the order is as without them. A model that maps a batch to a batch is verified
   per sample (a recorded batch of 128 images: a small batch of those images).
2. What the checkpoint's options say (char-rnn's ``rnn_size`` for the state inputs no layer declares).
3. What the layers imply. Each family declares what its op takes (``@expects_input``: a feature
   vector, planes, a sequence of frames, a table); every such declaration along the DAG is a candidate
   (an op after pointwise or padding layers sees the model's input unchanged), and what it leaves free
   (spatial sizes, a sequence's length) is searched for, checked by a shape-only run that must map a
   batch to a batch; ``View``/``Reshape``/``Linear`` after convolutions then fix the spatial size, as a
   final average pooling does (:func:`t7convert.conversion.input_plan.planned_size`).
4. Where the file leaves a size free (a fully convolutional net), the smallest size at which every
   kernel tap of every layer meets the input (a 1x1 input through a padded 3x3 kernel proves only its
   centre), and the summary says so.

When nothing decides, one line says what was tried and what to give (``--input``).

A layer may fix the batch itself: deepmask's trunk ends in ``nn.View(config.batch, n)`` (an
``nn.Reshape`` of fixed sizes likewise), which takes exactly that batch and refuses a batch of 1. When the
DAG holds such a View or Reshape (two sizes or more, the first B > 1), the sources above are asked first at
batch B; their first pick is taken at B (:attr:`FoundInput.batch`, the summary names the layer) when a
shape-only run maps a batch of B to B rows and refuses it at batch 1. A pick that runs at batch 1 shows
the View is per sample (DCGAN's ``View(512, 4, 4)``): the model is then searched as any other, and
verified on a batch of 1. Models without such a layer pay nothing for this.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.dag import TABLE_OP
from t7convert.conversion.input_plan import planned_size
from t7convert.conversion.input_spec import MAX_ELEMENTS as MAX_SPEC_ELEMENTS
from t7convert.conversion.input_spec import InputSpec, from_hint
from t7convert.conversion.model import ConvertedModel
from t7convert.conversion.registry import input_hint, node_input_hint
from t7convert.torch7.format import T7Object
from t7convert.torch7.format.values import at_path

#: sources, as the summary names them
FROM_MEMORY = "the input the file kept (gradInput of the last batch it saw)"
FROM_OUTPUTS = "the outputs the file recorded (Torch7's last forward)"
FROM_GRAPH_MEMORY = "the input the gModule kept"
FROM_OPTIONS = "the checkpoint's options"
FROM_LAYERS = "what the layers declare"
FROM_TAPS = "the smallest size at which every kernel tap is exercised (the file leaves the size free)"
FROM_FREE = "a small size (the file leaves it free, and no layer has a kernel)"
FROM_CANONICAL = "fb.resnet.torch's data config"
FROM_UNCHECKED = "a small input of a common rank (no layer declares one, and a shape-only run cannot tell)"
FROM_USER = "given"
FREE_FLOOR = 4  # a size no layer constrains: large enough that H and W, rows and columns, are told apart
_SEARCH_SECONDS = 45.0  # CPU seconds of shape-only runs (a loaded machine finds the same input)
_FIXED_SECONDS = 20.0  # CPU seconds searching at the batches layers fix (all of them together)
_OUTPUT_SECONDS = 8.0  # CPU seconds fitting an input to the recorded outputs (source 1b)
_MAX_SIDE = 4096  # a size above this (from a recorded output) is never tried
_MAX_ELEMENTS = 1 << 24  # an input found from the recorded outputs (per sample when batched) is at most this
_MAX_RECORDED = 512  # stages whose recorded outputs are compared
_MATCHES = 2  # inputs from the recorded outputs offered to the verification (it tries 6 in all)
_MISMATCH = 1_000_000  # the distance of an output of another rank or table length


@dataclass(frozen=True)
class FoundInput:
    spec: InputSpec
    source: str
    batch: int | None = None  # the batch a layer fixes (the verification runs at it); None: free (1)
    fixed_by: str = ""  # that layer: ``modules[1].modules[5] (nn.View(32, 12800))``


def default_input_shape(converted: ConvertedModel) -> InputSpec:
    """The input the model takes (see :func:`find_input`); kept under its old name for the API."""
    return find_input(converted).spec


def find_input(converted: ConvertedModel) -> FoundInput:
    """The model's input and the source that decided it (the module docstring's order)."""
    return next(input_candidates(converted))


def input_candidates(converted: ConvertedModel) -> Iterator[FoundInput]:
    """The inputs the file implies, best first (a verification whose reference execution refuses one
    goes on to the next: a shape-only run of the converted module is more lenient than Torch7); the
    first is :func:`find_input`'s. Raises the one-line refusal when there is none at all."""
    if converted.spec is not None:
        size = 224 if converted.spec.stem == "imagenet" else 32
        yield FoundInput(InputSpec.tensor(3, size, size), FROM_CANONICAL)
        return
    assert converted.graph is not None and converted.dag is not None
    finder = _Finder(converted)
    seen: set[InputSpec] = set()
    fixed = finder.fixed_batch_input()
    if fixed is not None:
        seen.add(fixed.spec)
        yield fixed
    finder.deadline = time.process_time() + _SEARCH_SECONDS
    for found in finder.all():
        if found.spec not in seen:
            seen.add(found.spec)
            yield found
    if not seen:
        raise T7ConvertError(f"could not find an input size this model accepts (tried {finder.tried()}); "
                             "give one with --input, e.g. --input 3x32x32, --input 784, --input '{13, 128x3}' "
                             "or --input 'idx[1..100] x 5'")


def fixed_batch(converted: ConvertedModel, spec: InputSpec) -> tuple[int, str] | None:
    """(B, the layer) when a View or Reshape fixes the batch of ``spec`` (a given input): a shape-only run
    refuses it at batch 1 and maps a batch of B to B rows; None otherwise (nothing is run for a model
    without such a layer)."""
    if converted.dag is None or converted.spec is not None:
        return None
    fixers = _batch_fixers(converted.dag)
    if not fixers or not any(leaf.batched for leaf in spec.leaves()):
        return None
    finder = _Finder(converted)
    if finder._run(spec, batch=1) is not None:
        return None
    for b, node in fixers:
        finder.batch = b
        if finder.accepts(spec):
            return b, _describe_fixer(node)
    return None


def _batch_fixers(dag: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(B, node) for each View or Reshape that may fix the batch to B: fixed sizes (no -1), two or more of
    them, the first above 1; not a View with setNumInputDims nor a Reshape in batch mode (those are per
    sample). One node per B, in DAG order."""
    out: dict[int, dict[str, Any]] = {}
    for node in dag["nodes"]:
        if node["op"] not in ("View", "Reshape"):
            continue
        attrs = node.get("attrs", {})
        sizes = attrs.get("sizes") or []
        if len(sizes) < 2 or not all(isinstance(v, int) and v >= 1 for v in sizes) or sizes[0] < 2:
            continue
        if attrs.get("num_input_dims") is not None or attrs.get("batch_mode") is True:
            continue
        out.setdefault(int(sizes[0]), node)
    return list(out.items())


def _describe_fixer(node: dict[str, Any]) -> str:
    """``modules[1].modules[5] (nn.View(32, 12800))``: where the layer is and what it is."""
    sizes = ", ".join(str(v) for v in node.get("attrs", {}).get("sizes", []))
    where = node.get("source") or node["name"]
    return f"{where} (nn.{node['op']}({sizes}))"


def resolve(converted: ConvertedModel, spec: InputSpec) -> InputSpec:
    """A given spec with its batch dimension decided: ``96x1`` is a batch of 96x1 samples when the model
    maps such a batch to a batch, else one 96x1 sample (Torch7 models take both). Plain sizes given to
    a model whose input is indices (a LookupTable or OneHot first) are indices of that shape, in the
    range the layers declare."""
    if converted.spec is not None:
        return spec if spec.resolved else spec.with_batched(True)
    spec = _index_kind(converted, spec)
    if spec.resolved:
        return spec
    finder = _Finder(converted)
    for batched in (True, False):
        candidate = spec.with_batched(batched)
        if finder.accepts(candidate):
            return candidate
    return spec.with_batched(True)  # neither runs: the verification says why, on a batch


def _index_kind(converted: ConvertedModel, spec: InputSpec) -> InputSpec:
    """``spec`` with the index range of the model's declared index input when it is a plain float
    tensor (sizes only) and the model takes one tensor of indices."""
    if spec.is_table or spec.is_index or spec.dtype != "float32":
        return spec
    declared = None
    if converted.inputs is not None and not converted.inputs["table"]:
        first = converted.inputs["inputs"][0]
        if first.get("index"):
            declared = InputSpec((), True, "float32", 1, int(first["index"]))
    if declared is None:
        declared = from_hint(node_input_hint(converted.graph)) if converted.graph is not None else None
    if declared is None or declared.is_table or not declared.is_index:
        return spec
    return InputSpec(spec.shape, spec.batched, declared.dtype, declared.low, declared.high)


class _Finder:
    """Shape-only runs of one converted model on the meta device, built once when first needed."""

    def __init__(self, converted: ConvertedModel) -> None:
        self.converted = converted
        self.dag = converted.dag
        self._module: torch.nn.Module | None = None
        self._tried: list[str] = []
        self.raised_on_meta = False
        self.deadline = time.process_time() + _SEARCH_SECONDS
        self.batch = 2  # the batch of the shape-only runs: a layer's fixed batch while that is searched for
        self.fixed = False

    @property
    def module(self) -> torch.nn.Module:
        if self._module is None:
            from t7convert.pytorch.graph_module import build_graph_module
            with torch.device("meta"):
                self._module = build_graph_module(self.dag).eval()
        return self._module

    def tried(self) -> str:
        kinds = list(dict.fromkeys(self._tried))
        return ", ".join(kinds[:6]) if kinds else "nothing: no layer declares an input"

    # --- running ------------------------------------------------------------------------------------
    def _run(self, spec: InputSpec, batch: int | None = None, hooks: dict | None = None) -> Any:
        batch = self.batch if batch is None else batch

        def tensors(s: InputSpec) -> Any:
            if s.items is not None:
                return [tensors(i) for i in s.items]
            dtype = getattr(torch, s.dtype) if s.dtype != "float32" else torch.float32
            return torch.empty(s.full_shape(batch), dtype=dtype, device="meta")
        try:  # built outside the run's guard: a builder's exception other than an input error is a bug of ours
            module = self.module
        except T7ConvertError:
            return None  # the conversion's own build says what is wrong with the file
        handles = []
        if hooks is not None:
            for name, sub in module.named_children():
                handles.append(sub.register_forward_pre_hook(
                    lambda _m, args, name=name: hooks.__setitem__(name, _shapes(args))))
        try:
            with torch.no_grad():
                return module(tensors(spec))
        except Exception as e:  # noqa: BLE001 - a shape this graph rejects
            self.raised_on_meta = "meta" in str(e)  # a layer that reads values: no shape-only run for it
            return None
        finally:
            for h in handles:
                h.remove()

    def accepts(self, spec: InputSpec, strict: bool = True) -> bool:
        """A shape-only run maps it to an output (``strict``, for a batched spec: a batch of 2, or of the
        batch a layer fixes, to as many rows; nn.View infers a batch from the element count, so a wrong
        size can pass as more samples)."""
        out = self._run(spec)
        while isinstance(out, (list, tuple)) and out:
            out = out[0]
        if not isinstance(out, torch.Tensor) or out.dim() < 1:
            return False
        return not strict or not any(leaf.batched for leaf in spec.leaves()) or out.shape[0] == self.batch

    @property
    def has_kernels(self) -> bool:
        return any(_kernel_extent(n.get("attrs", {})) is not None for n in self.dag["nodes"] if n["op"] != TABLE_OP)

    def taps_exercised(self, spec: InputSpec) -> bool:
        """Every op with a kernel sees, on each axis it slides along, at least its dilated extent."""
        seen: dict[str, Any] = {}
        self._run(spec, batch=self.batch if self.fixed else 1, hooks=seen)
        for node in self.dag["nodes"]:
            if node["op"] == TABLE_OP or node["name"] not in seen:
                continue
            extent = _kernel_extent(node.get("attrs", {}))
            if extent is None:
                continue
            shape = seen[node["name"]]
            if not isinstance(shape, tuple) or len(shape) < 2:
                continue
            if isinstance(extent, int):  # a temporal kernel slides along the frames (time, features)
                if shape[-2] < extent:
                    return False
            elif len(shape) < len(extent) or any(n < e for n, e in zip(shape[-len(extent):], extent)):
                return False
        return True

    def fixed_batch_input(self) -> FoundInput | None:
        """The input at the batch a View or Reshape fixes (the module docstring): for each such B, the
        sources' first pick at batch B, taken when a shape-only run maps B to B rows and refuses batch 1;
        None when there is no such layer, or the pick runs at batch 1 (the View is per sample)."""
        fixers = _batch_fixers(self.dag)
        deadline = time.process_time() + _FIXED_SECONDS  # for all of them together
        for b, node in fixers:
            self.batch, self.fixed, self.deadline = b, True, deadline
            try:
                first = next(iter(self.all(strict_only=True)), None)
                if first is None or not any(leaf.batched for leaf in first.spec.leaves()):
                    continue
                if not self.accepts(first.spec):
                    continue  # an untried declaration: no run maps B to B on it
                if self._run(first.spec, batch=1) is not None:
                    return None  # runs on a batch of 1: the batch is free
                return FoundInput(first.spec, first.source, b, _describe_fixer(node))
            finally:
                self.batch, self.fixed = 2, False
        return None

    def all(self, strict_only: bool = False) -> Iterator[FoundInput]:
        graph = self.from_graph_inputs()
        kept = [graph] if graph is not None and graph.source == FROM_GRAPH_MEMORY else []
        kept += self.from_memory()
        rest = self._after_memory(graph, strict_only)
        recorded = _recorded_outputs(self.converted)
        if recorded:  # 1b: the outputs of the last forward pass (the kept input, when it reproduces them)
            fit = _OutputFit(self, recorded)
            if not any(fit.reproduces(k.spec) for k in kept):
                first = kept[0] if kept else next(rest, None)
                yield from fit.find(first)
                if first is not None and not kept:
                    yield first
        yield from kept
        yield from rest

    def _after_memory(self, graph: FoundInput | None, strict_only: bool = False) -> Iterator[FoundInput]:
        if graph is not None and graph.source != FROM_GRAPH_MEMORY:
            yield graph
        for found in self.from_layers(strict_only):
            if not self.takes_table or found.spec.is_table:  # a gModule of n inputs takes a table of n
                yield found

    @property
    def takes_table(self) -> bool:
        return self.converted.graph.op == "gModule" and int(self.converted.graph.attrs.get("n_inputs", 1)) > 1

    def _common_fixed_size(self, planes: int, strict: bool) -> InputSpec | None:
        """The first common square size (224, 96, 32 ...) the model accepts, when it is the only one
        around (its neighbours refused): a net whose classifier fixes the size (VGG's View(25088), an
        OpenFace 96x96) is found in a few shape-only runs instead of a search from 1."""
        for s in _COMMON:
            for batched in (True, False):
                spec = InputSpec.tensor(planes, s, s, batched=batched)
                if self.accepts(spec, strict):
                    if not any(self.accepts(InputSpec.tensor(planes, n, n, batched=batched), strict)
                               for n in (s - 1, s + 1)):
                        return spec
                    return None  # a size the layers leave free: the smallest is searched for
        return None

    # --- 1. what the file remembers -----------------------------------------------------------------
    def from_memory(self) -> list[FoundInput]:
        model = self.converted.t7_model
        if not isinstance(model, T7Object):
            return []
        kept = _kept_shapes(model.get("gradInput"))
        innode = model.get("innode")
        if kept is None and isinstance(innode, T7Object) and isinstance(innode.get("data"), dict):
            kept = _kept_shapes(innode.get("data").get("input"))  # a gModule's input node keeps its input
            if kept is not None and kept.items is not None and len(kept.items) == 1 and self.takes_table:
                kept = kept.items[0]
        if kept is None or self.takes_table and (kept.items is None or
                                                 len(kept.items) != int(self.converted.graph.attrs["n_inputs"])):
            return []
        # the layers' kinds (indices, their range) over the kept sizes
        inputs = self.converted.inputs
        declared = [graph_input_spec(inputs)] if inputs is not None and all(s.get("shape") is not None
                                                                             for s in inputs["inputs"]) else []
        declared += [from_hint(h) for h in self._hints()]
        whole = kept
        for spec in declared:  # the first declaration of the same structure that says what kind of values
            if spec is not None and _same_structure(spec, kept) and any(leaf.is_index for leaf in spec.leaves()):
                whole = _with_kinds(kept, spec)
                break
        self._tried.append("the kept gradInput " + str(whole))
        per_sample = _drop_first(whole)
        forms = ([per_sample.with_batched(True)] if per_sample is not None else []) + [whole.with_batched(False)]
        for form in forms:
            if self.accepts(form):
                return [FoundInput(form, FROM_MEMORY)]
        if self._run(whole.with_batched(False), batch=1) is None and self.raised_on_meta:
            # the shape-only run cannot run this model at all (a layer reads values: LookupTable's range
            # check): both readings, a batch first, for the verification to decide
            return [FoundInput(form, FROM_MEMORY) for form in forms]
        return []

    # --- 1 and 2 for gModules and index models (conversion.graph_inputs) -----------------------------
    def from_graph_inputs(self) -> FoundInput | None:
        inputs = self.converted.inputs
        if inputs is None:
            return None
        spec = graph_input_spec(inputs)
        if spec is None:
            self._tried.append("the gModule's inputs (some undeclared)")
            return None
        if any(s.get("whole") for s in inputs["inputs"]):
            return FoundInput(spec, FROM_GRAPH_MEMORY)
        if any(s.get("from_options") for s in inputs["inputs"]):
            return FoundInput(spec, FROM_OPTIONS)
        return FoundInput(spec, FROM_LAYERS)

    # --- 3 and 4. what the layers imply -------------------------------------------------------------
    def from_layers(self, strict_only: bool = False) -> Iterator[FoundInput]:
        hints = self._hints()
        planned = planned_size(self.dag)
        for strict in (True,) if strict_only else (True, False):  # then runs that map a batch to another number of rows (nn.Parallel)
            for hint in hints:
                exact = from_hint(hint)
                if exact is not None:  # a whole spec: a vector, a fixed image, a table of them
                    self._tried.append(str(exact))
                    if self.accepts(exact, strict):
                        yield FoundInput(exact, FROM_LAYERS)
                    elif not exact.is_table and self.accepts(exact.with_batched(False), strict):
                        yield FoundInput(exact.with_batched(False), FROM_LAYERS)
                    continue
                found = self._search(hint, planned, strict)
                if found is not None:
                    yield found
            if not hints:
                found = self._search(None, planned, strict)
                if found is not None:
                    yield found
        # what the root's containers or the first layer declare, when the meta device cannot run it
        # (values decide: MaskedSelect, Index, a LookupTable's max-norm): trusted, as the verification will
        # tell; then, untried, the smallest inputs of every rank
        for hint in hints:
            declared = from_hint(hint)
            if declared is not None:
                yield FoundInput(declared, FROM_LAYERS)
        for spec in (InputSpec.tensor(3, 8, 8), InputSpec.tensor(8), InputSpec.tensor(4, 4)):
            yield FoundInput(spec, FROM_UNCHECKED)

    def _hints(self) -> list[Any]:
        """The root's declaration through its containers, then every op's in DAG order (distinct)."""
        root = node_input_hint(self.converted.graph)
        inner: list[Any] = []
        for node in self.dag["nodes"]:
            if node["op"] != TABLE_OP:
                hint = input_hint(node["op"], node.get("attrs", {}))
                if hint is not None and hint != root and hint not in inner:
                    inner.append(hint)
            if len(inner) >= 4:
                break
        # a table met inside the graph is mostly made there (a ConcatTable's branches): last
        inner.sort(key=lambda h: isinstance(h, list))
        return ([root] if root is not None else []) + inner

    def _search(self, hint: Any, planned: tuple[int, int] | None, strict: bool = True) -> FoundInput | None:
        """The free sizes of ``hint`` (None: anything of any rank), smallest first, that a shape-only run
        accepts; among those the first whose every kernel tap meets the input, else the first accepted.
        A size the layers fix (a View after convolutions) is the only one accepted, whatever the order;
        free sizes no kernel constrains are at least FREE_FLOOR."""
        if isinstance(hint, int):  # a common image size a View after the convolutions fixes: found at once
            fixed_size = self._common_fixed_size(hint, strict)
            if fixed_size is not None:
                return FoundInput(fixed_size, FROM_LAYERS)
        first_accepted: InputSpec | None = None
        candidates = _candidates(hint, planned)
        for spec, size, fixed in candidates:
            if time.process_time() > self.deadline:
                break
            for batched in (True, False):
                candidate = spec.with_batched(batched)
                if not self.accepts(candidate, strict):
                    continue
                if fixed:
                    return FoundInput(candidate, FROM_LAYERS)
                if first_accepted is None:
                    first_accepted = candidate
                if size >= FREE_FLOOR and self.taps_exercised(candidate):
                    # the next size refused: the layers fix this one (a View after the convolutions)
                    following = next(candidates, None)
                    if following is None or not self.accepts(following[0].with_batched(batched), strict):
                        return FoundInput(candidate, FROM_LAYERS)
                    return FoundInput(candidate, FROM_TAPS if self.has_kernels else FROM_FREE)
                break
        self._tried.append(_hint_text(hint))
        if first_accepted is not None:
            return FoundInput(first_accepted, FROM_LAYERS)
        return None


class _OutputFit:
    """Source 1b: the input whose shape-only run reproduces every output the file recorded (a module saved
    without ``clearState()`` keeps the ``output`` of the last forward pass: the root's and every stage's).

    Candidates keep a structure (a tensor of some rank, a table of them) and search its free sizes; the
    batch (the first size common to the root's recorded outputs) is fixed where a candidate puts one in
    front. The existing sources' first pick is tried first and preferred when it reproduces them; then
    the structures the layers declare and the ranks near the root output's, each fitted size by size (a
    coordinate search that keeps a size only when it brings the outputs closer). Only a candidate that
    reproduces every compared shape exactly is taken; several: the fewest elements. All in a budget of
    CPU seconds; sizes from a recorded output above ``_MAX_SIDE`` are never tried, and an input above
    ``_MAX_ELEMENTS`` is never returned (a hostile file's recorded shapes cost nothing)."""

    def __init__(self, finder: _Finder, recorded: list[tuple[list, Any]]) -> None:
        self.finder = finder
        self.recorded = recorded  # (ref, shape): the root first
        self.deadline = time.process_time() + _OUTPUT_SECONDS
        self.tables = {n["name"]: n["args"] for n in finder.dag["nodes"] if n["op"] == TABLE_OP}
        root = recorded[0][1]
        leaves = _flat_shapes(root)
        firsts = {leaf[0] for leaf in leaves}
        self.batch = firsts.pop() if len(firsts) == 1 and len(leaves) > 0 else None
        self.sizes = sorted({d for _, shape in recorded for leaf in _flat_shapes(shape) for d in leaf
                             if 1 <= d <= _MAX_SIDE})[:24]
        self._seen: dict[str, Any] = {}
        self._runs = 0

    # --- the shape-only run and its distance to the recorded outputs ----------------------------------
    def _observe(self, candidate: Any) -> tuple[Any, dict[str, Any]] | None:
        self._seen.clear()
        self._runs += 1
        out = self.finder._run(_whole_spec(candidate), batch=1)
        if out is None:
            return None
        return _out_shape(out), dict(self._seen)

    def _value(self, ref: list, seen: dict[str, Any], candidate: Any, depth: int = 0) -> Any:
        name = ref[0]
        if depth > 32:
            return None
        if name in self.tables:
            value: Any = [self._value(a, seen, candidate, depth + 1) for a in self.tables[name]]
        elif name == "input":
            value = candidate
        else:
            value = seen.get(name)
        if len(ref) > 1:
            index = int(ref[1])
            value = value[index] if isinstance(value, list) and 0 <= index < len(value) else None
        return value

    def distance(self, candidate: Any) -> tuple[int, int] | None:
        """(the root output's distance, the total over every compared output), None when it does not run
        (or is too large for anyone to verify on: not even tried)."""
        if _elements(candidate) > MAX_SPEC_ELEMENTS:
            return None
        observed = self._observe(candidate)
        if observed is None:
            return None
        out, seen = observed
        root = _shape_distance(self.recorded[0][1], out)
        if root is None:
            return None
        total = root
        for ref, shape in self.recorded[1:]:
            d = _shape_distance(shape, self._value(ref, seen, candidate))
            total += d if d is not None else 0  # a stage the run does not show (kept whole): not compared
        return root, total

    # --- the search ---------------------------------------------------------------------------------------
    @contextmanager
    def _watching(self) -> Iterator[bool]:
        """Every stage's output shape recorded during the runs (False: the module does not build)."""
        try:
            module = self.finder.module
        except T7ConvertError:
            yield False  # the conversion's own build says what is wrong with the file
            return
        handles = [sub.register_forward_hook(lambda _m, _a, out, name=name: self._seen.__setitem__(name, _out_shape(out)))
                   for name, sub in module.named_children()]
        try:
            yield True
        finally:
            for h in handles:
                h.remove()

    def reproduces(self, spec: InputSpec) -> bool:
        """Whether a shape-only run on ``spec`` (with the recorded batch, or whole) gives every recorded output."""
        with self._watching() as built:
            return built and any(self.distance(c) == (0, 0) for c, _ in _forms(spec, self.batch))

    def find(self, first: FoundInput | None) -> list[FoundInput]:
        """The inputs that reproduce every recorded output, best first (the verification takes the first
        its reference execution accepts: a shape-only run is more lenient than Torch7)."""
        with self._watching() as built:
            return self._find(first) if built else []

    def _find(self, first: FoundInput | None) -> list[FoundInput]:
        if first is not None:  # the existing sources' pick, when it reproduces the outputs, is the one
            ran = False
            for candidate, batched in _forms(first.spec, self.batch):
                d = self.distance(candidate)
                ran = ran or d is not None
                if d == (0, 0):
                    found = self._found(candidate, batched, first.spec)
                    return [found] if found is not None else []
            if not ran and self.finder.raised_on_meta:
                return []  # a layer reads values (indices): no shape-only run to fit sizes with
        matches: list[tuple[int, int, int, Any, bool]] = []
        for order, (group, candidate, free, batched) in enumerate(self._seeds(first)):
            if time.process_time() > self.deadline:
                break
            fitted = self._fit(candidate, free, declared=group < 2)
            if fitted is not None:
                matches.append((group, _elements(fitted), order, fitted, batched))
        out: list[FoundInput] = []
        for *_, candidate, batched in sorted(matches, key=lambda m: m[:3]):
            found = self._found(candidate, batched, first.spec if first is not None else None)
            if found is not None and found not in out:
                out.append(found)
        return out[:_MATCHES]

    def _seeds(self, first: FoundInput | None) -> Iterator[tuple[int, Any, list[tuple[int, int]], bool]]:
        """(its group, a whole input to start from, its free (leaf, axis) pairs, whether a batch is in
        front): group 0 from the existing sources' pick, 1 from what the layers declare, 2 the ranks near
        the root output's. A match of a lower group is preferred, then the smallest."""
        seen: set[str] = set()
        specs = [(0, first.spec)] if first is not None else []
        specs += [(1, spec) for spec in (from_hint(_fill(h, FREE_FLOOR)) for h in self.finder._hints())
                  if spec is not None]
        root = self.recorded[0][1]
        if isinstance(root, tuple):  # a tensor out: tensors of ranks near its own
            rank = len(root)
            for r in (rank, rank + 1, rank - 1, rank + 2, rank - 2, rank + 3):
                if 1 <= r <= 6:
                    specs.append((2, InputSpec((FREE_FLOOR,) * (r - 1), True)))
                    specs.append((2, InputSpec((FREE_FLOOR,) * r, False)))
        elif all(isinstance(leaf, tuple) for leaf in root):  # a table of tensors out: one of as many in
            specs.append((2, InputSpec(items=tuple(InputSpec((FREE_FLOOR,) * (len(leaf) - 1), True) for leaf in root))))
            specs.append((2, InputSpec(items=tuple(InputSpec((FREE_FLOOR,) * len(leaf), False) for leaf in root))))
        for group, spec in specs:
            for candidate, batched in _forms(spec, self.batch):
                key = repr(_rank_structure(candidate)) + str(batched)
                if key in seen:
                    continue
                seen.add(key)
                free = [(i, axis) for i, leaf in enumerate(_flat_shapes(candidate))
                        for axis in range(1 if batched else 0, len(leaf))]
                yield group, candidate, free, batched

    def _fit(self, start: Any, free: list[tuple[int, int]], declared: bool) -> Any | None:
        """The sizes of ``start``'s free axes that reproduce every recorded output, or None. A ``declared``
        start (what the layers say: their planes, their features) is kept where it runs, and a size the
        outputs do not depend on stays as declared; else the one size for every axis closest at the root."""
        best, best_d = None, None
        for v in [None, *self.sizes, *range(1, 17)][:40]:  # a start that runs, the closest at the root
            candidate = start if v is None else _set_sizes(start, {a: v for a in free})
            d = self.distance(candidate)
            if d is not None and (best_d is None or d < best_d):
                best, best_d = candidate, d
                if d[0] == 0 or declared:
                    break
            if time.process_time() > self.deadline:
                return None
        if best is None or best_d is None or best_d[0] >= _MISMATCH:
            return None  # no size of this structure runs, or the root's output has another rank or length
        for _ in range(4):
            if best_d == (0, 0):
                break
            improved = False
            for axis in free:
                current = _flat_shapes(best)[axis[0]][axis[1]]
                for v in _values(current, self.sizes):
                    if time.process_time() > self.deadline:
                        return None
                    candidate = _set_sizes(best, {axis: v})
                    d = self.distance(candidate)
                    if d is not None and d[1] < best_d[1]:
                        best, best_d, improved = candidate, d, True
                        if d == (0, 0):
                            return best
            if not improved:
                break
        return best if best_d == (0, 0) else None

    def _found(self, candidate: Any, batched: bool, declared: InputSpec | None) -> FoundInput | None:
        """The input to verify on: per sample, batched, when the model maps a batch to a batch (a recorded
        batch of 128 images is verified on a small batch), else the whole recorded input."""
        spec = None
        if batched:
            per_sample = _drop_first(_whole_spec(candidate))
            if per_sample is not None:
                per_sample = per_sample.with_batched(True)
                if per_sample.elements(1) <= _MAX_ELEMENTS and self.finder.accepts(per_sample):
                    spec = per_sample
        if spec is None:
            spec = _whole_spec(candidate)
            if spec.elements(1) > _MAX_ELEMENTS:
                return None
        if declared is not None and _same_structure(declared, spec):
            spec = _with_kinds(spec, declared)
        return FoundInput(spec, FROM_OUTPUTS)


def _recorded_outputs(converted: ConvertedModel) -> list[tuple[list, Any]]:
    """(DAG reference, recorded shape) of the root and of every stage whose Torch7 module kept the output
    of its last forward pass; a module shared by reference (its output is its last call's, at whichever
    place) is left out. Empty when the root kept none (``clearState()``)."""
    model, dag = converted.t7_model, converted.dag
    if not isinstance(model, T7Object) or dag is None:
        return []
    root = _recorded_shape(model.get("output"))
    if root is None:
        return []
    stages: list[tuple[list, Any, int]] = []
    for path, ref in list(dag.get("stages", {}).items())[:_MAX_RECORDED]:
        try:
            module = at_path(model, str(path))
        except (KeyError, TypeError, ValueError):
            continue
        if isinstance(module, T7Object) and module is not model:
            shape = _recorded_shape(module.get("output"))
            if shape is not None:
                stages.append((list(ref), shape, id(module)))
    counts = Counter(i for _, _, i in stages)
    return [(list(dag["output"]), root)] + [(ref, shape) for ref, shape, i in stages if counts[i] == 1]


def _recorded_shape(value: Any, depth: int = 0) -> Any:
    """A recorded output's shape: a tuple for a tensor, a list for a table of them; None when empty."""
    if depth > 6:
        return None
    if isinstance(value, np.ndarray):
        if value.ndim == 0 or value.size == 0 or value.ndim > 8:
            return None
        return tuple(int(d) for d in value.shape)
    if isinstance(value, dict) and value and all(type(k) is int for k in value):
        if sorted(value) != list(range(1, len(value) + 1)):
            return None
        value = [value[k] for k in sorted(value)]
    if isinstance(value, list) and 0 < len(value) <= 64:
        items = [_recorded_shape(v, depth + 1) for v in value]
        return None if any(i is None for i in items) else items
    return None


def _out_shape(value: Any, depth: int = 0) -> Any:
    if isinstance(value, torch.Tensor):
        return tuple(int(d) for d in value.shape)
    if isinstance(value, (list, tuple)) and depth < 8:
        return [_out_shape(v, depth + 1) for v in value]
    return None


def _shape_distance(recorded: Any, observed: Any) -> int | None:
    """How far an observed shape is from the recorded one (0: equal; _MISMATCH for another rank or table
    length); None when the run does not show it."""
    if observed is None:
        return None
    if isinstance(recorded, tuple):
        if not isinstance(observed, tuple) or len(observed) != len(recorded):
            return _MISMATCH
        return sum(abs(a - b) for a, b in zip(recorded, observed))
    if not isinstance(observed, list) or len(observed) != len(recorded):
        return _MISMATCH
    parts = [_shape_distance(r, o) for r, o in zip(recorded, observed)]
    return None if any(p is None for p in parts) else sum(parts)  # type: ignore[misc]


def _flat_shapes(shape: Any) -> list[tuple[int, ...]]:
    if isinstance(shape, tuple):
        return [shape]
    return [leaf for item in shape for leaf in _flat_shapes(item)] if isinstance(shape, list) else []


def _rank_structure(shape: Any) -> Any:
    return len(shape) if isinstance(shape, tuple) else [_rank_structure(s) for s in shape]


def _set_sizes(shape: Any, sizes: dict[tuple[int, int], int]) -> Any:
    """``shape`` with leaf i's axis a set to sizes[(i, a)] (leaves numbered in Lua order)."""
    counter = [0]

    def walk(s: Any) -> Any:
        if isinstance(s, tuple):
            i = counter[0]
            counter[0] += 1
            return tuple(sizes.get((i, a), d) for a, d in enumerate(s))
        return [walk(x) for x in s]
    return walk(shape)


def _forms(spec: InputSpec, batch: int | None) -> list[tuple[Any, bool]]:
    """A spec's whole shapes: with the recorded batch in front (batched leaves), and as one sample."""
    def whole(s: InputSpec, front: bool) -> Any:
        if s.items is not None:
            return [whole(i, front) for i in s.items]
        return ((batch,) if front and s.batched is not False else ()) + tuple(s.shape)
    forms = []
    if batch is not None and all(leaf.batched is not False for leaf in spec.leaves()):
        forms.append((whole(spec, True), True))
    if all(len(leaf.shape) > 0 for leaf in spec.leaves()):
        forms.append((whole(spec, False), False))
    return forms


def _whole_spec(shape: Any) -> InputSpec:
    if isinstance(shape, tuple):
        return InputSpec(shape, False)
    return InputSpec(items=tuple(_whole_spec(s) for s in shape))


def _elements(shape: Any) -> int:
    return sum(math.prod(leaf) for leaf in _flat_shapes(shape))  # Python ints: 4096**8 does not wrap


def _values(current: int, sizes: list[int]) -> list[int]:
    """Sizes to try for one axis, ascending: small ones, those near the recorded sizes, near the current."""
    near = {d + k for d in sizes for k in (-2, -1, 1, 2)} | {2 * d for d in sizes} | {d // 2 for d in sizes}
    near |= {current + k for k in (-4, -3, -2, -1, 1, 2, 3, 4)} | {current * 2, current // 2}
    values = set(range(1, 17)) | set(sizes) | near | {24, 32, 48, 64, 96, 128, 224, 256}
    return sorted(v for v in values if 1 <= v <= _MAX_SIDE and v != current)


def _shapes(args: tuple) -> Any:
    x = args[0] if len(args) == 1 else list(args)
    if isinstance(x, torch.Tensor):
        return tuple(x.shape)
    return None


def _kernel_extent(attrs: dict) -> Any:
    """An op's dilated kernel extent per axis (a list for a spatial/volumetric kernel, an int for a
    temporal one), or None for an op without a kernel."""
    kernel = attrs.get("kernel_size", attrs.get("kernel"))
    dilation = attrs.get("dilation", 1)
    if isinstance(kernel, int) and not isinstance(kernel, bool):
        d = dilation if isinstance(dilation, int) else 1
        return (kernel - 1) * d + 1
    if isinstance(kernel, (list, tuple)) and kernel and all(isinstance(k, int) for k in kernel):
        ds = list(dilation) if isinstance(dilation, (list, tuple)) else [dilation] * len(kernel)
        if len(ds) != len(kernel) or not all(isinstance(d, int) for d in ds):
            ds = [1] * len(kernel)
        return [(k - 1) * d + 1 for k, d in zip(kernel, ds)]
    return None


_COMMON = [224, 96, 32, 28, 227, 299, 256, 64, 48, 128, 112]
_SQUARES = [*range(1, 65), 72, 80, 96, 112, 128, 160, 192, 224, 227, 256, 299, 320, 384, 448, 512]


def _candidates(hint: Any, planned: tuple[int, int] | None) -> Iterator[tuple[InputSpec, int, bool]]:
    """(spec, its smallest free size, whether a layer fixes its sizes) for each size to try, smallest first."""
    if isinstance(hint, int):  # planes of images
        if planned:
            yield InputSpec.tensor(hint, *planned), min(planned), True
        for s in _SQUARES:
            yield InputSpec.tensor(hint, s, s), s, False
        for t in range(3, 49):  # rectangles, by their perimeter
            for h in range(1, t):
                if h != t - h:
                    yield InputSpec.tensor(hint, h, t - h), min(h, t - h), False
        return
    if hint is not None:  # free sizes (a sequence's length, a volume's sides), one size for all; tables too
        for s in _SQUARES:
            spec = from_hint(_fill(hint, s))
            if spec is not None:
                yield spec, s, False
        if isinstance(hint, list) and len(hint) > 1:  # a pyramid: each element twice (or half) the last's size
            for s in _SQUARES[:48]:
                for order in (1, -1):
                    sizes = [s * 2 ** i for i in range(len(hint))][::order]
                    spec = from_hint([_fill(h, size) for h, size in zip(hint, sizes)])
                    if spec is not None:
                        yield spec, s, False
        return
    # nothing declares the input: anything of any rank (pointwise layers, Normalize, PixelShuffle ...)
    for s in _SQUARES:
        yield InputSpec.tensor(3, s, s), s, False
    for s in _SQUARES:
        yield InputSpec.tensor(s), s, False
        yield InputSpec.tensor(s, s), s, False
        yield InputSpec.tensor(3, s, s, s), s, False


def _fill(hint: Any, size: int) -> Any:
    """A hint with its free sizes set: None sizes to ``size``, an int (planes) to planes x size x size."""
    if isinstance(hint, list):
        return [_fill(h, size) for h in hint]
    if isinstance(hint, int) and not isinstance(hint, bool):
        return (hint, size, size)
    if isinstance(hint, tuple):
        return tuple(size if s is None else s for s in hint)
    if isinstance(hint, dict) and hint.get("shape") is not None:
        return {**hint, "shape": [size if s is None else s for s in hint["shape"]]}
    return hint


def _hint_text(hint: Any) -> str:
    if hint is None:
        return "images, vectors, sequences and volumes of every size up to 512"
    if isinstance(hint, int):
        return f"{hint}-plane images up to 512x512"
    return str(_fill(hint, "N")).replace("'", "")  # type: ignore[arg-type]


def _kept_shapes(value: Any, depth: int = 0) -> InputSpec | None:
    """The shapes of a kept gradInput (a tensor, or a table of them), whole; None when empty or absent."""
    if depth > 8:
        return None
    if isinstance(value, np.ndarray):
        if value.ndim == 0 or value.size == 0 or value.ndim > 8:
            return None
        return InputSpec(tuple(int(d) for d in value.shape), False)
    if isinstance(value, dict) and value and all(isinstance(k, int) for k in value):
        value = [value[k] for k in sorted(value)]
    if isinstance(value, list) and value:
        items = [_kept_shapes(v, depth + 1) for v in value]
        if any(i is None for i in items):
            return None
        return InputSpec(items=tuple(items))  # type: ignore[arg-type]
    return None


def _with_kinds(kept: InputSpec, declared: InputSpec | None) -> InputSpec:
    """The kept sizes, with the dtype and index range the layers declare where their structure agrees."""
    if kept.items is not None:
        if declared is None or declared.items is None or len(declared.items) != len(kept.items):
            return kept
        return InputSpec(items=tuple(_with_kinds(k, d) for k, d in zip(kept.items, declared.items)))
    if declared is None or declared.items is not None or declared.low is None:
        return kept
    return InputSpec(kept.shape, kept.batched, declared.dtype, declared.low, declared.high)


def _same_structure(a: InputSpec, b: InputSpec) -> bool:
    if a.items is None or b.items is None:
        return a.items is None and b.items is None
    return len(a.items) == len(b.items) and all(_same_structure(x, y) for x, y in zip(a.items, b.items))


def _drop_first(spec: InputSpec) -> InputSpec | None:
    """The spec with every leaf's first dimension taken as the batch (same batch everywhere), or None."""
    firsts = {leaf.shape[0] for leaf in spec.leaves() if leaf.shape}
    if len(firsts) != 1 or any(not leaf.shape for leaf in spec.leaves()):
        return None

    def drop(s: InputSpec) -> InputSpec:
        if s.items is not None:
            return InputSpec(items=tuple(drop(i) for i in s.items))
        return InputSpec(s.shape[1:], True, s.dtype, s.low, s.high)
    return drop(spec)


def graph_input_spec(inputs: dict[str, Any]) -> InputSpec | None:
    """The spec of :func:`t7convert.conversion.graph_inputs.model_inputs`' description; None when an
    input's size is unknown."""
    leaves = []
    for s in inputs["inputs"]:
        if s.get("shape") is None:
            return None
        shape = tuple(int(d) for d in s["shape"])
        batched = not s.get("whole")
        if s.get("index"):  # char-rnn's sampler feeds indices as float values
            leaves.append(InputSpec(shape, batched, "float32", 1, int(s["index"])))
        else:
            leaves.append(InputSpec(shape, batched))
    return InputSpec(items=tuple(leaves)) if inputs["table"] else leaves[0]


def smaller_input_shapes(converted: ConvertedModel, spec: InputSpec) -> Iterator[InputSpec]:
    """Specs like ``spec`` (a tensor: its first dimension, the planes, kept) with the other sides halved,
    then quartered ..., down to 1, that a shape-only run accepts: what a verification too large for
    memory can fall back to. Canonical ResNets have their fixed sizes; a vector has nothing to shrink."""
    if converted.dag is None or converted.spec is not None or spec.is_table or len(spec.shape) < 2:
        return
    finder = _Finder(converted)
    shape = spec.shape
    seen = {tuple(shape)}
    factor = 2
    while any(d // (factor // 2) > 1 for d in shape[1:]):
        candidate = (shape[0], *(max(1, d // factor) for d in shape[1:]))
        factor *= 2
        if candidate in seen:
            continue
        seen.add(candidate)
        smaller = InputSpec(candidate, spec.batched, spec.dtype, spec.low, spec.high)
        if finder.accepts(smaller):
            yield smaller
