"""What changed between two snapshot bodies, per field and per value."""

from __future__ import annotations

from typing import Any

import orjson


def _vkey(v: Any) -> bytes:
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS) + (b"b" if isinstance(v, bool) else b"")


def _values(field: dict[str, Any]) -> dict[bytes, tuple[Any, int]]:
    return {_vkey(x["v"]): (x["v"], int(x["n"])) for x in field.get("values", [])}


def diff_bodies(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    fa = {f["name"]: f for f in a.get("fields", [])}
    fb = {f["name"]: f for f in b.get("fields", [])}
    names = list(fa) + [n for n in fb if n not in fa]
    fields = []
    for name in names:
        if name not in fb:
            status = "removed"
        elif name not in fa:
            status = "added"
        else:
            status = "changed"
        va = _values(fa[name]) if name in fa else {}
        vb = _values(fb[name]) if name in fb else {}
        changes = []
        for k in list(va) + [k for k in vb if k not in va]:
            v = (va.get(k) or vb[k])[0]
            n_from = va[k][1] if k in va else 0
            n_to = vb[k][1] if k in vb else 0
            if n_from != n_to:
                changes.append({"v": v, "from": n_from, "to": n_to, "delta": n_to - n_from})
        changes.sort(key=lambda c: (-abs(c["delta"]), _vkey(c["v"])))
        if status == "changed" and not changes:
            status = "unchanged"
        fields.append({"name": name, "status": status, "changes": changes})
    skipped_a = {f["name"] for f in a.get("fields_skipped", [])}
    skipped_b = {f["name"] for f in b.get("fields_skipped", [])}
    return {
        "from": a["sha"],
        "to": b["sha"],
        "watermark_from": a.get("watermark_ms"),
        "watermark_to": b.get("watermark_ms"),
        "fields": fields,
        "fields_skipped": {"from": sorted(skipped_a), "to": sorted(skipped_b)},
    }
