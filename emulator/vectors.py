"""Vectors: f32/f16 storage, base64 encoding, exact kNN, and logical sizes for billing.

Turbopuffer stores vectors as ``[N]f32`` (or ``f16``) and prints each component as the
shortest decimal that reads back as the same f32, so ``0.7`` written comes back ``0.7``
(not ``0.699999988...``). The emulator keeps the exact f32 values (distances are
computed on them, so ties break as on the real service) and prints that shortest
decimal; ``vector_encoding: "base64"`` answers little-endian f32 bytes of the values.

ANN is answered by an exact scan (recall 1.0), so ``ANN`` and ``kNN`` rank alike.
Logical bytes (billing, ``approx_logical_bytes``): ids and numbers 8, bools 1, strings
their UTF-8 length, vector components 4 (f32) or 2 (f16), ``$dist`` 4.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Callable
from typing import Any

from emulator.state import BadRequest

DISTANCE_METRICS = ("cosine_distance", "euclidean_squared")
DIST_BYTES = 4


def _shortest(v: float, fmt: str) -> float:
    packed = struct.pack(fmt, v)
    for digits in range(1, 10):
        text = f"{v:.{digits}g}"
        if struct.pack(fmt, float(text)) == packed:
            return float(text)
    return v


def round_f32(x: float) -> float:
    """``x`` as turbopuffer returns it from an f32 column."""
    try:
        v = struct.unpack("<f", struct.pack("<f", x))[0]
    except OverflowError:
        raise BadRequest(f"vector component {x!r} does not fit in f32") from None
    return _shortest(v, "<f") if math.isfinite(v) else v


def vector_dims(type_: str) -> tuple[int, str] | None:
    """``(dims, "f32"|"f16")`` for a ``[N]f32``/``[N]f16`` schema type, else None."""
    if not type_.startswith("[") or "]" not in type_:
        return None
    head, _, elem = type_[1:].partition("]")
    if not head.isdigit() or elem not in ("f32", "f16"):
        return None
    return int(head), elem


def decode_vector(v: Any, where: str, elem: str = "f32") -> list[float]:
    """A vector as written (number array or base64 little-endian f32), rounded to ``elem``."""
    if isinstance(v, str):
        try:
            raw = base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(f"{where}: invalid base64 vector") from exc
        size = 2 if elem == "f16" else 4
        if len(raw) % size:
            raise BadRequest(f"{where}: base64 vector length is not a multiple of {size} bytes")
        code = "e" if elem == "f16" else "f"
        floats = list(struct.unpack(f"<{len(raw) // size}{code}", raw))
    elif isinstance(v, list) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in v
    ):
        floats = [float(x) for x in v]
    else:
        raise BadRequest(f"{where}: a vector must be an array of numbers or a base64 string")
    if not floats:
        raise BadRequest(f"{where}: a vector cannot be empty")
    code = "<e" if elem == "f16" else "<f"
    try:
        return [struct.unpack(code, struct.pack(code, x))[0] for x in floats]
    except OverflowError:
        raise BadRequest(f"{where}: a vector component does not fit in {elem}") from None


def shortest(v: list[float], elem: str = "f32") -> list[float]:
    """A stored vector as turbopuffer prints it."""
    fmt = "<e" if elem == "f16" else "<f"
    return [_shortest(x, fmt) if math.isfinite(x) else x for x in v]


def encode_base64(v: list[float], elem: str = "f32") -> str:
    code = "e" if elem == "f16" else "f"
    return base64.b64encode(struct.pack(f"<{len(v)}{code}", *v)).decode()


def distance_fn(metric: str, q: list[float]) -> Callable[[Any], float | None]:
    """Distance from ``q`` to a stored vector (None when it has another length or is absent)."""
    n = len(q)
    if metric == "euclidean_squared":

        def euclid(v: Any) -> float | None:
            if not isinstance(v, list) or len(v) != n:
                return None
            return sum((a - b) * (a - b) for a, b in zip(v, q, strict=True))

        return euclid
    qnorm = math.sqrt(sum(x * x for x in q))

    def cosine(v: Any) -> float | None:
        if not isinstance(v, list) or len(v) != n:
            return None
        norm = math.sqrt(sum(a * a for a in v)) * qnorm
        dot = sum(a * b for a, b in zip(v, q, strict=True))
        return 1.0 - dot / norm if norm else 1.0

    return cosine


def value_bytes(v: Any, type_: str | None = None) -> int:
    """Logical size of one attribute value (``type_`` is its schema type when known)."""
    if v is None:
        return 0
    if isinstance(v, bool):
        return 1
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, int | float):
        return 8
    if isinstance(v, list):
        if type_:
            vec = vector_dims(type_)
            if vec is not None:
                return len(v) * (2 if vec[1] == "f16" else 4)
        return sum(value_bytes(x) for x in v)
    return 8


def component_sizes(schema: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Bytes per component of each vector attribute, for ``row_bytes``."""
    out: dict[str, int] = {}
    for attr, entry in schema.items():
        vec = vector_dims(str(entry.get("type", "")))
        if vec is not None:
            out[attr] = 2 if vec[1] == "f16" else 4
    return out


def row_bytes(row: dict[str, Any], vec_sizes: dict[str, int]) -> int:
    """Logical bytes of one returned row; inlined, as this runs for every row returned."""
    total = 0
    for k, v in row.items():
        t = type(v)
        if t is str:
            total += len(v) if v.isascii() else len(v.encode())
        elif t is int or t is float:
            total += DIST_BYTES if k == "$dist" else 8
        elif t is bool:
            total += 1
        elif t is list:
            size = vec_sizes.get(k)
            if size:
                total += len(v) * size
            else:
                for x in v:
                    tx = type(x)
                    if tx is str:
                        total += len(x) if x.isascii() else len(x.encode())
                    elif x is not None:
                        total += 1 if tx is bool else 8
        elif v is not None:
            total += value_bytes(v)
    return total
