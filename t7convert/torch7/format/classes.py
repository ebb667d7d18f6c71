"""Torch7's serialization vocabulary: type tags and the tensor/storage classes with their element types.

Facts from torch7's File.lua (type tags) and generic/Tensor.c, generic/Storage.c (what a tensor and a
storage write). cutorch writes its Cuda* classes with the same layout as the CPU class of the same
element type, so a ``torch.CudaTensor`` reads as float32 like a ``torch.FloatTensor``.
"""
from __future__ import annotations

import numpy as np

TYPE_NIL = 0
TYPE_NUMBER = 1
TYPE_STRING = 2
TYPE_TABLE = 3
TYPE_TORCH = 4
TYPE_BOOLEAN = 5
TYPE_FUNCTION = 6               # a function written before reference tracking: no index
TYPE_LEGACY_RECUR_FUNCTION = 7  # upvalues are a plain list of values
TYPE_RECUR_FUNCTION = 8         # upvalues are {name=, id=, value=} records

# Element type name as it appears in class names -> numpy dtype (little-endian, as x86 Torch7 wrote).
_ELEMENTS = {
    "Byte": np.dtype("<u1"), "Char": np.dtype("<i1"), "Short": np.dtype("<i2"), "Int": np.dtype("<i4"),
    "Long": np.dtype("<i8"), "Float": np.dtype("<f4"), "Double": np.dtype("<f8"), "Half": np.dtype("<f2"),
}
# cutorch names its float classes without the element name (torch.CudaTensor, torch.CudaStorage).
_CUDA_ELEMENTS = {"": "Float", **{name: name for name in _ELEMENTS}}

TENSOR_DTYPES: dict[str, np.dtype] = {}
STORAGE_DTYPES: dict[str, np.dtype] = {}
for _name, _dtype in _ELEMENTS.items():
    TENSOR_DTYPES[f"torch.{_name}Tensor"] = _dtype
    STORAGE_DTYPES[f"torch.{_name}Storage"] = _dtype
for _cuda, _cpu in _CUDA_ELEMENTS.items():
    TENSOR_DTYPES[f"torch.Cuda{_cuda}Tensor"] = _ELEMENTS[_cpu]
    STORAGE_DTYPES[f"torch.Cuda{_cuda}Storage"] = _ELEMENTS[_cpu]

# What the writer names a numpy dtype (CPU classes only; Torch7 on a CPU reads them everywhere).
_BY_KIND = {("u", 1): "Byte", ("b", 1): "Byte", ("i", 1): "Char", ("i", 2): "Short", ("i", 4): "Int",
            ("i", 8): "Long", ("f", 4): "Float", ("f", 8): "Double", ("f", 2): "Half"}


def element_name(dtype: np.dtype) -> str:
    """The Torch7 element name (``Float``, ``Long``...) for a numpy dtype; KeyError if Torch7 has none."""
    d = np.dtype(dtype)
    return _BY_KIND[(d.kind, d.itemsize)]


def tensor_class(dtype: np.dtype) -> str:
    return f"torch.{element_name(dtype)}Tensor"


def storage_class(dtype: np.dtype) -> str:
    return f"torch.{element_name(dtype)}Storage"


# Classes whose serialized form is not "a table of fields" and that this reader does not understand.
#: classes whose Lua ``write`` writes this many objects before the fields table (and ``read`` reads them)
HEADER_OBJECTS = {"nn.GPU": 1}
#: ... from this version on: cunn's DataParallelTable:__write (version 2 and later) writes its
#: gpuAssignments, then its fields; its __read reads the fields alone below version 2
_HEADER_FROM_VERSION = {"nn.DataParallelTable": (2, 1)}


def header_objects(class_name: str, version: int | None) -> int:
    """How many objects the class's own ``write`` puts before the fields table (0 for most classes)."""
    since = _HEADER_FROM_VERSION.get(class_name)
    if since is not None:
        return since[1] if (version or 0) >= since[0] else 0
    return HEADER_OBJECTS.get(class_name, 0)

OPAQUE_CLASSES = {
    "torch.Generator": "a random generator's raw machine-dependent state",
}
