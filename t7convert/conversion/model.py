"""Reading and converting a ``.t7`` model in memory, without torch.

Parsing, the per-layer converters and the canonical recognition need only numpy, so a corrupt or
unsupported file is reported before torch (a second to import) is even loaded; torch comes in when a
module is built (:meth:`ConvertedModel.module`) or a file written (:mod:`t7convert.api`).
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from t7convert.common.errors import T7ConvertError, T7FormatError
from t7convert.common.version import __version__
from t7convert.conversion.budget import check_materialised
from t7convert.conversion.canonical import NotCanonical, recognize
from t7convert.conversion.context import convert_graph
from t7convert.conversion.dag import lower
from t7convert.conversion.description import FORMAT_VERSION
from t7convert.conversion.graph_inputs import check_vocabulary, model_inputs
from t7convert.conversion.resnet_spec import ResNetSpec
from t7convert.conversion.tree import Node
from t7convert.torch7.checkpoint import Located, locate, unwrap_quietly
from t7convert.torch7.format import T7Object, read_document, sniff_foreign


@dataclass
class ConvertedModel:
    """A conversion held in memory: what :func:`save` writes and :func:`module` builds."""

    kind: str                                   # "canonical" or "generic"
    state: dict[str, Any]                       # state_dict arrays (numpy views of the .t7 file where possible)
    spec: ResNetSpec | None = None              # canonical architecture
    graph: Node | None = None                   # the converted tree (recognition, input shape; both kinds)
    dag: dict[str, Any] | None = None           # the generic architecture as stored: the tree lowered to a DAG
    source: str = ""
    title: str = ""
    parameters: int = 0                         # weights and biases, as Torch7's getParameters counts them
    notes: list[str] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    not_canonical: str | None = None            # why the canonical mapping did not apply
    near_canonical: bool = False                # whether that is worth saying: it started like a ResNet
    rewritten_stages: list[str] = field(default_factory=list)  # see canonical.Canonical
    t7_model: T7Object | None = None            # the Torch7 module tree it came from
    data_config: dict[str, Any] = field(default_factory=dict)  # see data_config.py; stored with the description
    inputs: dict[str, Any] | None = None        # a table or index input (graph_inputs.model_inputs)
    checkpoint: dict[str, Any] = field(default_factory=dict)  # Located.extras: vocabulary, sampler options
    found_in: str = ""                          # where in the file's table the model was ("" for the root)
    others: list[str] = field(default_factory=list)  # the table's other entries, one line each
    convention: str | None = None               # the checkpoint layout that matched (Located.convention)
    model_name: str | None = None               # the model's name in that layout ("decoder")
    # every model the file holds: key (for --key), path, class, default (taken without --key), converted
    models: list[dict[str, Any]] = field(default_factory=list)

    @property
    def architecture(self) -> dict[str, Any]:
        if self.kind == "canonical":
            assert self.spec is not None
            return {"kind": "canonical", "resnet": self.spec.to_dict()}
        assert self.dag is not None
        return {"kind": "generic", "graph": self.dag}

    def info(self) -> dict[str, Any]:
        arch = self.spec.torchvision_name if self.spec else None
        info = {"format_version": FORMAT_VERSION, "writer": f"t7convert {__version__}",
                "source": os.path.basename(self.source), "title": self.title, "architecture": arch, **self.architecture}
        if self.rewritten_stages:
            info["rewritten_stages"] = list(self.rewritten_stages)
        if self.data_config:
            info["data_config"] = dict(self.data_config)
        if self.checkpoint:
            info["checkpoint"] = dict(self.checkpoint, found_in=self.found_in)
            if self.convention:
                info["checkpoint"].update(convention=self.convention, model_name=self.model_name)
        if self.inputs is not None:
            info["inputs"] = self.inputs
        return info



def models_listed(found: Located) -> list[dict[str, Any]]:
    """The file's models as the summary, ``inspect`` and the API list them: the one taken marked."""
    return [{"key": name, "path": path or "<root>", "class": m.class_name,
             "converted": unwrap_quietly(m) is found.model, "default": path == found.default}
            for name, path, m in found.choices]


def _generic_title(modules: int) -> str:
    return f"generic graph of {modules} module{'' if modules == 1 else 's'}"


def convert_file(path: str, *, generic: bool = False, key: str | None = None) -> ConvertedModel:
    """Read and convert a .t7 model in memory (no verification, nothing written); ``key`` is the dotted
    path of the model inside a checkpoint table (default: the documented one, see ``locate``)."""
    doc = read_document(path)
    found = None
    try:
        found = locate(doc.root, key, source=path)
        model, where = found.model, found.where
        node, ctx = convert_graph(model)
        inputs = model_inputs(node, model)
        check_vocabulary(inputs, found.extras)
    except T7FormatError:
        raise
    except T7ConvertError as e:
        others = found.alternatives() if found is not None else []
        hint = (f" (in the file's {found.name or found.where}; its other models: "
                + ", ".join(f"{n} (--key {n})" for n, _, _ in others[:8]) + ")" if others and not key else "")
        raise type(e)(f"{path}: {e}{hint}") from None
    notes = list(ctx.notes)
    if where:
        notes.insert(0, f"the model is the file's {where}" + (f" ({found.name})" if found.name and found.name != where
                                                                else ""))
    if any(name.startswith("torch.Cuda") for name, _ in doc.classes):
        # cutorch writes a CudaTensor's data as a FloatTensor's (classes.py): nothing is lost
        notes.insert(0, "CUDA tensors read as CPU tensors")
    dag, state = lower(node)
    result = ConvertedModel(kind="generic", state=state, graph=node, dag=dag, source=path,
                            parameters=node.parameter_count(), notes=notes, dropped=ctx.dropped, t7_model=model,
                            inputs=inputs, checkpoint=found.extras, found_in=where, others=found.others,
                            convention=found.convention, model_name=found.name, models=models_listed(found))
    if generic:
        result.not_canonical, result.near_canonical = "--generic was given", True
    else:
        try:
            canon = recognize(node)
        except NotCanonical as e:
            result.not_canonical, result.near_canonical = str(e), e.near
        else:
            result.kind, result.spec, result.state = "canonical", canon.spec, canon.state
            result.notes += canon.notes
            result.rewritten_stages = canon.rewritten_stages
    try:
        check_materialised(result.state, doc.file_size)
    except T7ConvertError as e:
        raise T7ConvertError(f"{path}: {e}") from None
    result.title = (f"{result.spec.title}, torchvision layout" if result.spec
                    else _generic_title(sum(1 for _ in node.walk())))
    return result


def converted_kind(head: bytes) -> str | None:
    """"torch" or "safetensors" for files t7convert may have written, None for (presumably) .t7 files."""
    foreign = sniff_foreign(head)
    if foreign is None:
        return None
    if "safetensors" in foreign:
        return "safetensors"
    if "PyTorch" in foreign:
        return "torch"
    return None  # let the .t7 reader explain what the file is
