"""The ``.t7`` format layer: reading, writing and validating Torch7 serialization.

Knows numpy, not torch: everything above it (conversion, parity, inspection) builds on these values.
"""
from t7convert.torch7.format.reader import (
                     StorageRecord,
                     T7Document,
                     TdsHash,
                     TdsVec,
                     TensorRecord,
                     read,
                     read_document,
                     sniff_foreign,
)
from t7convert.torch7.format.values import (
                     T7BooleanKey,
                     T7Function,
                     T7List,
                     T7Object,
                     T7ObjectKey,
                     T7Storage,
                     T7Table,
                     as_storage,
)
from t7convert.torch7.format.words import describe_value
from t7convert.torch7.format.writer import dumps, dumps_stream, write

__all__ = ["read", "read_document", "write", "dumps", "dumps_stream", "T7Document", "T7Object", "T7Storage", "T7Table",
           "T7List", "T7Function", "TdsHash", "TdsVec", "T7BooleanKey", "T7ObjectKey", "TensorRecord", "StorageRecord", "as_storage",
           "sniff_foreign", "describe_value"]
