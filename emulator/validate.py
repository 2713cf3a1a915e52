"""Schema validation and inference for writes: types, vectors, full-text configs, encryption.

- An attribute's type is fixed by its first non-null value or by ``schema``; a later
  value of another type, or a ``schema`` that changes the type, is 400 (ints fit a
  float attribute). ``vector`` (and any ``[N]f32``/``[N]f16`` attribute) takes number
  arrays or base64 f32 and keeps the dimension it first had.
- ``full_text_search`` attributes are ``filterable: false`` unless set; the schema shows
  their whole config with defaults.
- ``encryption``: ``{"mode": "default"}``, or ``{"mode": "customer-managed", "key_name":
  K}`` with K a GCP Cloud KMS key name (``projects/P/locations/L/keyRings/R/cryptoKeys/
  C``) or an AWS KMS key ARN; anything else is the real service's 400 ``Malformed Cloud
  KMS crypto key: K``. The emulator never contacts a KMS.
"""

from __future__ import annotations

import re
from typing import Any

from emulator.fts import normalize_config
from emulator.state import BadRequest, check_attr_name
from emulator.vectors import DISTANCE_METRICS, decode_vector, vector_dims

Schema = dict[str, dict[str, Any]]

SCALAR_TYPES = frozenset({"string", "int", "uint", "float", "uuid", "datetime", "bool"})
_GCP_KEY = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")
_AWS_KEY = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/.+$")
_ENTRY_KEYS = frozenset(
    {
        "type",
        "filterable",
        "full_text_search",
        "ann",
        "regex",
        "glob",
        "fuzzy",
        "embed",
        "sparse_knn",
    }
)


def valid_type(t: Any) -> bool:
    if not isinstance(t, str):
        return False
    if t in SCALAR_TYPES or (t.startswith("[]") and t[2:] in SCALAR_TYPES):
        return True
    return vector_dims(t) is not None


def value_type(name: str, v: Any) -> str | None:
    """The type turbopuffer infers for a value (None for null)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        first = next((x for x in v if x is not None), None)
        if first is None:
            return None
        inner = value_type("", first)
        if inner is None or inner.startswith("["):
            raise BadRequest(f"attribute '{name}': nested arrays are not supported")
        return "[]" + inner
    raise BadRequest(f"attribute '{name}': objects are not a supported attribute type")


def _fits(declared: str, v: Any, name: str) -> bool:
    got = value_type(name, v)
    if got is None or got == declared:
        return True
    base_d = declared[2:] if declared.startswith("[]") else declared
    base_g = got[2:] if got.startswith("[]") else got
    if declared.startswith("[]") != got.startswith("["):
        return False
    if base_d == "float" and base_g == "int":
        return True
    if base_d == "uint" and base_g == "int":
        return all(x is None or x >= 0 for x in (v if isinstance(v, list) else [v]))
    if base_d in ("uuid", "datetime") and base_g == "string":
        return True
    return bool(base_d == "datetime" and base_g == "int")


def normalize_entry(attr: str, spec: Any, old: dict[str, Any] | None) -> dict[str, Any]:
    """One ``schema`` entry from a write or ``POST /schema``, merged over the old one."""
    where = f"schema.{attr}"
    if attr != "id":
        check_attr_name(attr, "schema")
    entry = {"type": spec} if isinstance(spec, str) else spec
    if not isinstance(entry, dict):
        raise BadRequest(f"{where}: must be a type string or an object")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise BadRequest(f"{where}: unknown schema option {sorted(unknown)[0]!r}")
    merged = {**(old or {}), **entry}
    t = merged.get("type")
    if t is None:
        raise BadRequest(f"{where}: a type is required")
    if not valid_type(t):
        raise BadRequest(f"{where}: unknown type {t!r}")
    if old and old.get("type") and old["type"] != t:
        raise BadRequest(
            f"{where}: cannot change the type of attribute '{attr}' from {old['type']} to {t}"
        )
    for flag in ("filterable", "regex", "glob", "fuzzy"):
        if flag in merged and not isinstance(merged[flag], bool):
            raise BadRequest(f"{where}.{flag}: must be a boolean")
    if "full_text_search" in entry:
        cfg = normalize_config(entry["full_text_search"], where)
        if cfg is None:
            merged.pop("full_text_search", None)
        else:
            if t not in ("string", "[]string"):
                raise BadRequest(f"{where}: full_text_search needs type string or []string")
            merged["full_text_search"] = cfg
            if "filterable" not in entry:
                merged["filterable"] = False
    ann = merged.get("ann")
    if ann is not None:
        if vector_dims(t) is None:
            raise BadRequest(f"{where}: ann needs a vector type like [N]f32")
        metric = ann.get("distance_metric") if isinstance(ann, dict) else None
        if not isinstance(ann, bool | dict) or (
            metric is not None and metric not in DISTANCE_METRICS
        ):
            raise BadRequest(f"{where}.ann: must be a boolean or {{distance_metric}}")
    if "filterable" not in merged and "full_text_search" not in merged and vector_dims(t) is None:
        merged["filterable"] = True
    return merged


def learn_value(schema: Schema, attr: str, v: Any, distance_metric: str | None) -> Any:
    """Check one written value against (and extend) ``schema``; returns the value to store."""
    entry = schema.get(attr)
    t = str(entry.get("type", "")) if entry else ""
    vec = vector_dims(t) if t else None
    if vec is not None or (attr == "vector" and not t):
        if v is None:
            return None
        elem = vec[1] if vec else "f32"
        out = decode_vector(v, f"attribute '{attr}'", elem)
        if vec is None:
            ann: dict[str, Any] = {"distance_metric": distance_metric or "cosine_distance"}
            schema[attr] = {"type": f"[{len(out)}]f32", "ann": ann}
        elif vec[0] != len(out):
            raise BadRequest(
                f"attribute '{attr}': vector has {len(out)} dimensions, expected {vec[0]}"
            )
        return out
    if t:
        if not _fits(t, v, attr):
            raise BadRequest(
                f"attribute '{attr}': cannot change type from {t} to {value_type(attr, v)}"
            )
        return v
    inferred = value_type(attr, v)
    if inferred is None and isinstance(v, list):
        inferred = "[]string"  # an empty array says nothing; turbopuffer defaults to strings
    if inferred is not None and attr != "id":
        schema[attr] = {"type": inferred, "filterable": True}
    return v


def check_encryption(enc: Any) -> dict[str, Any]:
    if not isinstance(enc, dict) or enc.get("mode") not in ("default", "customer-managed"):
        raise BadRequest('encryption must be {"mode": "default"} or a customer-managed key')
    if enc["mode"] == "default":
        return {"mode": "default"}
    key = enc.get("key_name")
    if not isinstance(key, str) or not (_GCP_KEY.match(key) or _AWS_KEY.match(key)):
        raise BadRequest(f"Malformed Cloud KMS crypto key: {key}")
    out: dict[str, Any] = {"mode": "customer-managed", "key_name": key}
    ctx = enc.get("encryption_context")
    if ctx is not None:
        if not isinstance(ctx, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and not k.startswith(("tpuf:", "aws:"))
            for k, v in ctx.items()
        ):
            raise BadRequest(
                "encryption.encryption_context: string keys and values, not tpuf:/aws:"
            )
        out["encryption_context"] = ctx
    return out
