"""The description a converted file stores beside its tensors, and its validation on load.

A converted file says what it is as plain data (never pickled code): ``format_version``, the writer,
the source file, and the architecture (``kind`` "canonical" with a ResNet spec, or "generic" with the
module tree). :func:`check_description` is run before anything is built from a file: an unknown
version, or a description whose shape is wrong, is the file's fault and is said in one line naming
the place (``graph.children[3].attrs``), never a KeyError from deep inside the builder. Sizes are
bounded (nodes, depth, blocks, widths, kernel sizes, and a canonical model's blocks by the tensors the
file holds) so that a few bytes of description cannot ask for unbounded work: a tree node shared between
places (pickle stores a repeated object once, so ``[prev, prev]`` forty levels deep is 2**40 nodes in a
few KB) is refused, never walked again. Each node's attributes are checked against its op's declared
record (:mod:`t7convert.conversion.records`: names, types, bounds), so a builder given a validated node
fails only by a bug of ours. More generally a description is plain data, as JSON is: no list
or table in it may be met twice (pickle keeps shared references, so ``[[[0]*4096]*4096]*4096`` is 27 KB
of file and 4096**3 items to walk), and all of it together holds at most :data:`MAX_ITEMS` entries, so
every later walk of it is bounded by the file's own size. Node names follow one fixed ASCII pattern
(:data:`NODE_NAME`), the one t7convert writes: Python normalises identifiers (``ｍ2`` is ``m2``) and
a name such as ``forward`` or ``class`` would collide with the built module's own attributes.
"""
from __future__ import annotations

import re
from typing import Any

from t7convert.common.errors import T7ConvertError
from t7convert.conversion.records import MAX_EXTENT, check_attrs

#: 2: the ``format_version`` key (files of t7convert 0.1 wrote ``format: 1``, the same layout)
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MAX_NODES = 200_000
#: as deep as the conversion nests modules (conversion/context.py): a deeper tree would overflow Python's
#: stack when the rebuilt module runs
MAX_DEPTH = 150
#: entries of all the lists and tables of a description together
MAX_ITEMS = 1 << 24
#: the entries of one node's ``args`` or one attribute list (a ConcatTable of 5,000 branches is a model)
MAX_LIST = 1 << 20
#: a node's name: ``m`` (the root), or ``m``, ``n`` or ``t`` then a digit, ``_`` or ``x``, then ASCII
#: letters, digits and underscores (``m5_2``, ``m3_enc1``, ``n12_in``, ``t_table``). No Python keyword
#: and no attribute of a torch module (``forward``, ``code``, ``eval``) has this form.
NODE_NAME = re.compile(r"(?:m|[mnt][0-9_x][A-Za-z0-9_]*)\Z", re.ASCII)
MAX_NAME = 1024
#: a ResNet of more blocks than this is no published model (ResNet-1001 has 333)
MAX_BLOCKS = 2000
MAX_STAGES = 16
_SCALARS = (str, int, float, bool, type(None))


class DescriptionError(T7ConvertError):
    """A converted file's stored description is not one t7convert can rebuild from."""


def format_version(info: dict[str, Any]) -> int:
    version = info.get("format_version", info.get("format"))
    if isinstance(version, bool) or not isinstance(version, int):
        raise DescriptionError(f"its t7convert description has no format_version (found {str(version)[:40]!r})")
    if version not in READABLE_VERSIONS:
        raise DescriptionError(f"its description has format_version {version}; this t7convert reads "
                               f"{', '.join(map(str, READABLE_VERSIONS))} (written by a newer t7convert?)")
    return version


def check_description(info: Any, tensors: int | None = None) -> dict[str, Any]:
    """``info`` itself when it is a description this version can rebuild; a DescriptionError otherwise.
    ``tensors``: how many tensors the file holds, which bounds how many blocks it can describe."""
    if not isinstance(info, dict):
        raise DescriptionError(f"its t7convert description is a {type(info).__name__}, not a table")
    check_unshared(info, shared_leaves=True)
    format_version(info)
    kind = info.get("kind")
    if kind == "canonical":
        if not isinstance(info.get("resnet"), dict):
            raise DescriptionError("its canonical description has no resnet table")
        check_resnet(info["resnet"], tensors)
    elif kind == "generic":
        graph = info.get("graph")
        if isinstance(graph, dict) and "nodes" in graph:
            check_dag(graph, "graph")
        else:  # t7convert 0.1 stored the module tree
            check_tree(graph, "graph")
    else:
        raise DescriptionError(f"its description's kind is {str(kind)[:40]!r}, not canonical or generic")
    config = info.get("data_config", {})
    if not isinstance(config, dict):
        raise DescriptionError(f"its data_config is a {type(config).__name__}, not a table")
    _json_data(config, "data_config")
    return info


#: a short list of scalars that files of t7convert before 0.3 may share (a DAG's ``graph.output`` is the
#: same list as its last stage's entry; pickle stores it once): still read, each meeting counted
MAX_SHARED_LEAF = 64


def _leaf(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) <= MAX_SHARED_LEAF and all(isinstance(c, _SCALARS) for c in v)


def check_unshared(value: Any, where: str = "description", *, shared_leaves: bool = False) -> None:
    """Every list, tuple and table of ``value`` is met once (empty ones aside), and they hold at most
    MAX_ITEMS entries together: one visit per entry, so a few KB of shared references cannot stand for
    billions of entries. Iterative: the nesting of a file cannot exhaust Python's stack here.

    ``shared_leaves`` (reading a file): a short list of scalars (:data:`MAX_SHARED_LEAF`) may be met
    again, as older versions wrote them, its entries counted at every meeting, so the walk stays
    bounded by MAX_ITEMS; what t7convert writes now shares nothing at all (:func:`plain_copy`)."""
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(value, where)]
    items = 0
    while stack:
        v, at = stack.pop()
        if len(v) and id(v) in seen and not (shared_leaves and _leaf(v)):
            at = at if len(at) <= 160 else f"{at[:60]}...{at[-90:]}"
            raise DescriptionError(f"its {at} is a {type(v).__name__} already met elsewhere in the description "
                                   "(a description is plain data: no list, table or node in it is shared)")
        seen.add(id(v))
        items += len(v)
        if items > MAX_ITEMS:
            raise DescriptionError(f"its description holds more than {MAX_ITEMS:,} entries")
        for k, c in (v.items() if isinstance(v, dict) else enumerate(v)):
            if isinstance(c, (list, tuple, dict)):
                stack.append((c, f"{at}.{str(k)[:40]}" if isinstance(v, dict) else f"{at}[{k}]"))


def plain_copy(value: Any) -> Any:
    """``value`` with every list, tuple and table copied, so that what t7convert writes shares nothing
    (a converter may put one attribute list in two nodes; pickle would store it once, shared)."""
    if isinstance(value, dict):
        return {k: plain_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain_copy(v) for v in value)
    return value


def _count(d: dict[str, Any], key: str, default: Any, low: int = 1, high: int = MAX_EXTENT) -> int:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DescriptionError(f"its canonical description's resnet.{key} is {str(value)[:40]!r}, "
                               f"not a whole number from {low:,} to {high:,}")
    return value


def _counts(d: dict[str, Any], key: str, default: Any, high: int) -> list[int]:
    values = d.get(key, default)
    if not isinstance(values, list) or not 1 <= len(values) <= MAX_STAGES:
        raise DescriptionError(f"its canonical description's resnet.{key} is not a list of 1 to "
                               f"{MAX_STAGES} stages")
    return [_count({key: v}, key, None, 1, high) for v in values]


def check_resnet(spec: dict[str, Any], tensors: int | None) -> None:
    """The ResNet a canonical description names is within bounds and has no more blocks than the file
    has tensors for (each block stores at least 10: two convolutions, two batch norms of four)."""
    if spec.get("block") not in ("basic", "bottleneck"):
        raise DescriptionError(f"its canonical description's resnet.block is {str(spec.get('block'))[:40]!r}, "
                               "not basic or bottleneck")
    if spec.get("stem", "imagenet") not in ("imagenet", "cifar") or spec.get("shortcut", "B") not in ("B", "C"):
        raise DescriptionError("its canonical description's resnet.stem or resnet.shortcut is not one t7convert "
                               "builds (imagenet or cifar; B or C)")
    layers = _counts(spec, "layers", None, MAX_BLOCKS)
    widths = _counts(spec, "widths", [64, 128, 256, 512], MAX_EXTENT)
    if len(widths) < len(layers):
        raise DescriptionError(f"its canonical description has {len(layers)} stages but {len(widths)} widths")
    for key, default in (("groups", 1), ("width_per_group", 64), ("num_classes", 1000), ("stem_width", 64)):
        _count(spec, key, default)
    blocks = sum(layers)
    if blocks > MAX_BLOCKS:
        raise DescriptionError(f"its canonical description has {blocks:,} blocks (more than {MAX_BLOCKS:,})")
    if tensors is not None and 10 * blocks > tensors:
        raise DescriptionError(f"its canonical description has {blocks:,} blocks but the file holds only "
                               f"{tensors:,} tensors (each block has at least 10)")


def _plain(value: Any, where: str, depth: int = 0) -> None:
    """Attribute values are JSON scalars and (short, shallow) lists of them."""
    if isinstance(value, _SCALARS):
        return
    if isinstance(value, list) and depth < 3 and len(value) <= MAX_LIST:
        for i, v in enumerate(value):
            _plain(v, f"{where}[{i}]", depth + 1)
        return
    raise DescriptionError(f"its description holds a {type(value).__name__} at {where}, not plain data")


def _json_data(value: Any, where: str, depth: int = 0) -> None:
    """The data config's values: JSON scalars, and lists and string-keyed tables of them (a table
    input's spec nests), bounded in depth and length."""
    if isinstance(value, _SCALARS):
        return
    if depth < 40 and isinstance(value, list) and len(value) <= MAX_LIST:
        for i, v in enumerate(value):
            _json_data(v, f"{where}[{i}]", depth + 1)
        return
    if depth < 40 and isinstance(value, dict) and len(value) <= 64 and all(isinstance(k, str) for k in value):
        for k, v in value.items():
            _json_data(v, f"{where}.{k[:40]}", depth + 1)
        return
    raise DescriptionError(f"its description holds a {type(value).__name__} at {where}, not plain data")


def _check_attrs_and_source(node: dict[str, Any], at: str) -> None:
    """What tree nodes and DAG nodes share: plain-data attributes and a Torch7 path."""
    attrs = node.get("attrs", {})
    if not isinstance(attrs, dict) or not all(isinstance(k, str) for k in attrs):
        raise DescriptionError(f"its description's {at}.attrs is not a table of named values")
    for k, v in attrs.items():
        _plain(v, f"{at}.attrs.{k}")
    check_attrs(node["op"], attrs, at)  # names, types and bounds as the op's record declares them
    if not isinstance(node.get("source", ""), str):
        raise DescriptionError(f"its description's {at}.source is not a Torch7 path")


def check_tree(spec: Any, where: str) -> None:
    """A generic module tree: ``{op, attrs?, children?, source?}`` nodes, bounded in count and depth."""
    stack = [(spec, where, 0)]
    count = 0
    seen: set[int] = set()
    while stack:
        node, at, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise DescriptionError(f"its description has more than {MAX_NODES:,} nodes")
        if depth > MAX_DEPTH:
            raise DescriptionError(f"its description nests deeper than {MAX_DEPTH} levels at {at}")
        if not isinstance(node, dict):
            raise DescriptionError(f"its description has a {type(node).__name__} at {at}, not a node")
        if id(node) in seen:
            raise DescriptionError(f"its description's {at} is a node already met elsewhere (nodes are shared "
                                   "only in a DAG's references, never in a tree)")
        seen.add(id(node))
        if not isinstance(node.get("op"), str):
            raise DescriptionError(f"its description's node {at} has no op name")
        _check_attrs_and_source(node, at)
        children = node.get("children", [])
        if not isinstance(children, list):
            raise DescriptionError(f"its description's {at}.children is not a list")
        stack.extend((c, f"{at}.children[{i}]", depth + 1) for i, c in enumerate(children))


def _check_ref(ref: Any, known: dict[str, str], where: str) -> None:
    if not (isinstance(ref, list) and 1 <= len(ref) <= 2 and isinstance(ref[0], str)
            and (len(ref) == 1 or (isinstance(ref[1], int) and not isinstance(ref[1], bool) and 0 <= ref[1] < 1 << 20))):
        raise DescriptionError(f"its description's {where} is not a reference to a value ([name] or [name, index])")
    if ref[0] not in known:
        raise DescriptionError(f"its description's {where} refers to {ref[0][:40]!r}, which no earlier node outputs")


def check_dag(graph: dict[str, Any], where: str) -> None:
    """A DAG: named nodes in an order where every argument comes from the input or an earlier node."""
    nodes = graph.get("nodes")
    if not isinstance(nodes, list):
        raise DescriptionError(f"its description's {where}.nodes is not a list")
    if len(nodes) > MAX_NODES:
        raise DescriptionError(f"its description has more than {MAX_NODES:,} nodes")
    known = {"input": "input"}
    for i, node in enumerate(nodes):
        at = f"{where}.nodes[{i}]"
        if not isinstance(node, dict):
            raise DescriptionError(f"its description has a {type(node).__name__} at {at}, not a node")
        name, op = node.get("name"), node.get("op")
        if not isinstance(name, str) or len(name) > MAX_NAME or not NODE_NAME.match(name) or name in known:
            raise DescriptionError(f"its description's {at} has no valid, unique name (found {ascii(name)[:60]}; "
                                   "a name is m, or m, n or t then a digit, _ or x, then ASCII letters, digits "
                                   "and _)")
        if not isinstance(op, str):
            raise DescriptionError(f"its description's {at} has no op name")
        args = node.get("args")
        if not isinstance(args, list) or len(args) > MAX_LIST:
            raise DescriptionError(f"its description's {at}.args is not a list of references")
        for j, ref in enumerate(args):
            _check_ref(ref, known, f"{at}.args[{j}]")
        _check_attrs_and_source(node, at)
        for j, child in enumerate(node.get("children", [])):  # a container kept as one module (MapTable)
            check_tree(child, f"{at}.children[{j}]")
        known[name] = op
    _check_ref(graph.get("output"), known, f"{where}.output")
    stages = graph.get("stages", {})
    if not isinstance(stages, dict):
        raise DescriptionError(f"its description's {where}.stages is not a table")
    for path, ref in stages.items():
        _check_ref(ref, known, f"{where}.stages[{str(path)[:40]!r}]")
