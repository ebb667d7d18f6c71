"""Reading back the provenance record (:mod:`t7convert.common.provenance`) an output carries, whatever its format."""
from __future__ import annotations

import json
import os
from typing import Any

from t7convert.common.provenance import KEY, dumps, provenance, sha256_of

__all__ = ["KEY", "dumps", "provenance", "sha256_of", "read_provenance"]


def read_provenance(path: str) -> dict[str, Any] | None:
    """The provenance record an output of t7convert carries (None when it has none): a .pth's description
    (or, for a canonical state_dict, its ``_metadata``), safetensors metadata, an ONNX model's
    ``metadata_props``, a .pt2's extra file, a source folder's model.safetensors. Reads data only."""
    import zipfile

    from t7convert.common.errors import T7ConvertError

    try:
        if os.path.isdir(path):
            return read_provenance(os.path.join(path, "model.safetensors"))
        with open(path, "rb") as f:
            head = f.read(8)
        if path.lower().endswith(".onnx"):
            import onnx
            model = onnx.load(path, load_external_data=False)
            props = {p.key: p.value for p in model.metadata_props}
            return json.loads(props[KEY]) if KEY in props else None
        if head[:4] == b"PK\x03\x04" and path.lower().endswith(".pt2"):
            with zipfile.ZipFile(path) as z:
                names = [n for n in z.namelist() if n.endswith("/" + KEY + ".json")]
                return json.loads(z.read(names[0])) if names else None
        if head[:4] == b"PK\x03\x04" or head[:2] == b"\x80\x02":
            import torch
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=head[:4] == b"PK\x03\x04")
            if isinstance(obj, dict) and isinstance(obj.get("t7convert"), dict):
                return obj["t7convert"].get("provenance")
            return (getattr(obj, "_metadata", None) or {}).get(KEY)
        from safetensors import safe_open
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        return json.loads(meta[KEY]) if KEY in meta else None
    except ImportError as e:
        raise T7ConvertError(f"{path}: reading its provenance needs {e.name}: pip install 't7convert[onnx]'") from None
    except (OSError, ValueError, KeyError, RuntimeError, zipfile.BadZipFile) as e:
        raise T7ConvertError(f"{path}: cannot read its provenance: {type(e).__name__}: {str(e)[:200]}") from None
