"""The OpenAPI 3.1 document of Layer's own routes, built from the code's declarations.

Each view carries an ``@operation(...)`` declaration: its query parameters (the same
``QueryInt``/``QueryStr`` objects the view reads its input with, so a bound lives in one
place), its request body and its responses by status. ``build_document`` walks the app's
``url_map``, so a route without a declaration is an error rather than a silent gap; the
verbatim proxy's catch-alls are declared ``hidden``. The JSON Schemas of the payloads
live here, once, under ``components.schemas``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from backend import params
from backend.errors import BadRequest

if TYPE_CHECKING:
    from flask import Flask

Schema = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])

OPENAPI_ATTR = "__layer_openapi__"
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
_RULE_ARG = re.compile(r"<(?:[a-z_]+:)?([A-Za-z_][A-Za-z0-9_]*)>")


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None) -> Schema:
    """An object with these properties; extra properties allowed (Layer may add fields)."""
    props = {**required, **(optional or {})}
    return {"type": "object", "properties": props, "required": list(required)}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
MS: Schema = {"type": "integer", "description": "epoch milliseconds"}
STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
ISO: Schema = {"type": "string", "description": "ISO-8601 UTC with Z"}
SHA: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
ANY: Schema = {}


# -- input declarations, read by the views ------------------------------------------------------
@dataclass(frozen=True)
class QueryInt:
    """An integer query parameter: below ``lo`` is 400; above ``hi`` is 400, or ``hi`` if ``cap``."""

    name: str
    default: int | None
    lo: int
    hi: int
    cap: bool = False
    required: bool = False
    description: str = ""

    def read(self) -> int | None:
        value = params.int_arg(self.name, self.default, lo=self.lo, hi=self.hi, cap=self.cap)
        if value is None and self.required:
            raise BadRequest(f"{self.name} is required: {self.description}", param=self.name)
        return value

    def parameter(self) -> Schema:
        schema: Schema = {"type": "integer", "minimum": self.lo}
        if self.cap:
            desc = f"{self.description} Values above {self.hi} are capped at {self.hi}."
        else:
            schema["maximum"] = self.hi
            desc = self.description
        if self.default is not None:
            schema["default"] = self.default
        return _query(self.name, schema, self.required, desc.strip())


@dataclass(frozen=True)
class QueryStr:
    """A string query parameter: at most ``max_len`` characters, no control characters."""

    name: str
    max_len: int = 1024
    pattern: re.Pattern[str] | None = None
    description: str = ""

    def read(self) -> str | None:
        return params.str_arg(self.name, max_len=self.max_len, pattern=self.pattern)

    def parameter(self) -> Schema:
        # An empty value means "absent", as ``params.str_arg`` reads it.
        pat = NO_CONTROL if self.pattern is None else f"^(?:{self.pattern.pattern})?$"
        schema = {"type": "string", "maxLength": self.max_len, "pattern": pat}
        return _query(self.name, schema, False, self.description)


@dataclass(frozen=True)
class QueryChoice:
    """A query parameter that takes one of a few words; anything else is 400."""

    name: str
    choices: tuple[str, ...]
    description: str = ""

    def read(self) -> str | None:
        value = params.str_arg(self.name, max_len=64)
        if value is not None and value not in self.choices:
            raise BadRequest(
                f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}",
                param=self.name,
            )
        return value

    def parameter(self) -> Schema:
        return _query(
            self.name, {"type": "string", "enum": list(self.choices)}, False, self.description
        )


def _query(name: str, schema: Schema, required: bool, description: str) -> Schema:
    out: Schema = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        out["description"] = description
    return out


NAMESPACE: Schema = {
    "type": "string",
    "pattern": params.NAMESPACE_RE.pattern,
    "not": {"enum": [".", ".."]},
}
SHA_OR_PREFIX: Schema = {
    "type": "string",
    "pattern": "^[0-9a-fA-F]{7,64}$",
    "description": "a full SHA-256 or a prefix of at least 7 hex characters",
}
JOB_ID: Schema = {"type": "string", "format": "uuid", "pattern": "^[0-9a-f-]{36}$"}
PATH_EXAMPLES = {"ns": "prod-invoices"}
PATH_PARAMS: dict[str, Schema] = {
    "ns": NAMESPACE,
    "sha": SHA_OR_PREFIX,
    "a": SHA_OR_PREFIX,
    "b": SHA_OR_PREFIX,
    "job_id": JOB_ID,
}


# -- payloads ------------------------------------------------------------------------------------
VALUE_COUNT = obj({"v": ANY, "n": INT})
SKIPPED = obj({"reason": STR, "distinct_observed": INT, "cap": INT})
CACHE_STATE_ENUM: Schema = {"type": "string", "enum": ["cold", "warming", "warm", "stale"]}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": obj(
                {"code": STR, "message": STR},
                {"param": STR, "candidates": array(STR), "state": STR, "operator": STR},
            )
        },
    },
    "CacheState": obj({"state": CACHE_STATE_ENUM, "warm_inflight": BOOL}),
    "FieldResult": {
        "anyOf": [
            obj({"name": STR, "values": array(VALUE_COUNT)}),
            obj({"name": STR, "skipped": SKIPPED}),
        ]
    },
    "Job": obj(
        {
            "id": STR,
            "namespace": STR,
            "kind": {"type": "string", "enum": ["snapshot", "cache_warm"]},
            "status": {
                "type": "string",
                "enum": ["running", "completed", "failed", "cancelled"],
            },
            "progress": {"type": "number", "minimum": 0, "maximum": 1},
            "documents_scanned": INT,
            "created_at": ISO,
            "finished_at": nullable(ISO),
        },
        {
            "field": STR,
            "source": STR,
            "resolved_source": STR,
            "filters": ANY,
            "page_size": INT,
            "generation": INT,
            "result": ref("FieldResult"),
            "sha": SHA,
            "watermark_ms": MS,
            "stable_as_of": MS,
            "error": obj({"code": STR, "message": STR}),
            "cancel_requested": BOOL,
        },
    ),
    "JobList": obj({"jobs": array(ref("Job"))}),
    "SnapshotRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["field"],
        "properties": {
            "field": {
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "pattern": r"^[^$\s\x00-\x1f][^\x00-\x1f]*$",
                "description": "the attribute to count; not starting with '$'",
                "examples": ["status"],
            },
            "source": {"type": "string", "enum": ["auto", "stored", "cache", "origin"]},
            "filters": {
                "type": ["array", "null"],
                "minItems": 2,
                "maxItems": 3,
                "description": "turbopuffer filter grammar; nesting depth at most 32",
            },
            "page_size": {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 1000},
        },
    },
    "NamespaceRow": obj(
        {
            "name": STR,
            "row_count": nullable(INT),
            "size_bytes": nullable(INT),
            "stable_as_of_ms": nullable(MS),
            "is_stable": BOOL,
            "cache_state": ref("CacheState"),
            "last_write_ms": nullable(MS),
            "shadow": BOOL,
            "labels": {"type": "object", "additionalProperties": STR},
            "observed_ms": nullable(MS),
            "index_stuck_since_ms": nullable(MS),
        },
        {"metadata_error": STR},
    ),
    "Summary": obj(
        {
            "namespaces": INT,
            "rows": INT,
            "bytes": INT,
            "unstable": INT,
            "stuck": INT,
            "errored": INT,
            "dirty": INT,
            "sweep": obj({"max_ms": INT, "cycle_ms": nullable(INT), "stretch": NUM}),
            "upstream": obj({"calls_per_s": NUM, "max_rps": NUM, "backoff_until_ms": nullable(MS)}),
            "shards": array(
                obj({"shard": INT, "holder": nullable(STR), "expires_ms": nullable(MS)})
            ),
            "polls_per_s": NUM,
            "watchers": INT,
            "as_of_ms": MS,
        }
    ),
    "NamespacePage": obj({"namespaces": array(ref("NamespaceRow")), "next_cursor": nullable(STR)}),
    "Metadata": obj(
        {
            "layer": obj(
                {
                    "stable_as_of": nullable(MS),
                    "is_stable": BOOL,
                    "cache_state": ref("CacheState"),
                    "observed_ms": nullable(MS),
                    "index_stuck_since_ms": nullable(MS),
                }
            )
        },
        {"schema": {"type": "object"}, "approx_row_count": INT, "index": {"type": "object"}},
    ),
    "HistoryEntry": obj({"watermark_ms": MS, "sha": SHA}),
    "PruneReport": obj(
        {
            "namespace": STR,
            "policy": STR,
            "dry_run": BOOL,
            "markers": INT,
            "keep_count": INT,
            "delete_count": INT,
            "keep": array(obj({"sha": SHA, "watermark_ms": MS, "reasons": array(STR)})),
            "delete": array(obj({"sha": SHA, "watermark_ms": MS})),
            "resumed": INT,
            "activity_deleted": INT,
        }
    ),
    "SnapshotBody": obj(
        {
            "namespace": STR,
            "watermark_ms": MS,
            "sha": SHA,
            "fields": array(obj({"name": STR, "values": array(VALUE_COUNT)})),
            "fields_skipped": array(obj({"name": STR, "reason": STR})),
        }
    ),
    "Diff": obj(
        {
            "from": SHA,
            "to": SHA,
            "watermark_from": nullable(MS),
            "watermark_to": nullable(MS),
            "fields": array(
                obj(
                    {
                        "name": STR,
                        "status": {
                            "type": "string",
                            "enum": ["changed", "added", "removed", "unchanged"],
                        },
                        "changes": array(obj({"v": ANY, "from": INT, "to": INT, "delta": INT})),
                    }
                )
            ),
            "fields_skipped": obj({"from": array(STR), "to": array(STR)}),
        }
    ),
    "ActivityPage": obj(
        {
            "events": array(
                obj(
                    {
                        "ts_ms": MS,
                        "namespace": STR,
                        "sha": nullable(SHA),
                        "watermark_ms": MS,
                        "fields": array(STR),
                        "source": STR,
                        "job_id": nullable(STR),
                    },
                    {"skipped": obj({"reason": STR}, {"row_count": INT, "max_docs": INT})},
                )
            ),
            "next_cursor": nullable(STR),
        }
    ),
    "CacheInfo": obj(
        {
            "namespace": STR,
            "state": CACHE_STATE_ENUM,
            "warm_inflight": BOOL,
            "warming_job_id": nullable(STR),
            "generation": nullable(INT),
            "warmed_at": nullable(ANY),
            "watermark_ms": nullable(MS),
            "last_write_ms": nullable(MS),
            "documents": INT,
        },
        {"documents_dropped": INT},
    ),
    "Health": obj({"status": {"const": "ok"}, "pid": INT}),
    "WhoAmI": obj(
        {
            "role": nullable({"enum": ["admin", "read", "loopback"]}),
            "upstream": STR,
            "auth": {"enum": ["keys", "loopback-only"]},
            "interactive_budget_ms": INT,
        }
    ),
    "Ready": obj(
        {
            "status": {"const": "ready"},
            "checks": {"type": "object", "additionalProperties": STR},
        }
    ),
    "NotReady": {
        "allOf": [
            ref("Error"),
            obj({"checks": {"type": "object", "additionalProperties": STR}}),
        ]
    },
    "Passthrough": {
        "type": "object",
        "description": "turbopuffer's own request or response body, passed through verbatim",
    },
    "UpstreamOrLayerError": {
        "anyOf": [ref("Error"), {"type": "object"}],
        "description": "Layer's error, or turbopuffer's own error body passed through unchanged",
    },
}

ERROR_TEXT = {
    400: "bad input; `error.param` names the parameter",
    401: "missing or unknown bearer key",
    403: "a read key on a write route, or no keys configured and a non-loopback client",
    404: "unknown namespace, job or snapshot",
    409: "ambiguous SHA prefix (`candidates`), the cache is not warm (`state`), or the"
    " upstream answered 409 (`upstream_conflict`, retry)",
    413: "request body larger than LAYER_MAX_BODY_BYTES",
    422: "a filter the chosen source cannot evaluate (`operator`), or the upstream refused"
    " the request with 422 (`upstream_rejected`)",
    429: "the upstream is rate limiting (`rate_limited`): wait `Retry-After` / `retry-after-ms`",
    502: "the upstream failed (`upstream_status`), or refused Layer's upstream key"
    " (`upstream_auth`)",
    503: "a store is unavailable",
    504: "the upstream timed out",
}
UPSTREAM = (409, 422, 429, 502, 503, 504)
STORE = (503,)


# -- route declarations --------------------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    summary: str
    responses: Mapping[int | str, Schema | str]
    errors: tuple[int, ...] = ()
    query: tuple[QueryInt | QueryStr, ...] = ()
    body: Schema | None = None
    body_required: bool = True
    body_example: Any = None
    tags: tuple[str, ...] = ()
    public: bool = False
    hidden: bool = False
    passthrough: bool = False
    media_type: str = "application/json"
    extra: dict[str, Any] = field(default_factory=dict)


def operation(summary: str = "", **kw: Any) -> Callable[[F], F]:
    """Declare a view's OpenAPI operation next to the view (``build_document`` reads it)."""

    def attach(view: F) -> F:
        setattr(view, OPENAPI_ATTR, Operation(summary=summary, **kw))
        return view

    return attach


def _response(status: int | str, spec: Schema | str, media_type: str) -> Schema:
    if isinstance(spec, str):  # a component name
        schema: Schema = ref(spec) if spec in SCHEMAS else {"type": "string"}
    else:
        schema = spec
    desc = ERROR_TEXT.get(status, "success") if isinstance(status, int) else "see description"
    return {"description": desc, "content": {media_type: {"schema": schema}}}


def _operation_doc(op: Operation, endpoint: str, path_args: list[str], method: str) -> Schema:
    doc: Schema = {"operationId": endpoint, "summary": op.summary, "tags": list(op.tags)}
    parameters: list[Schema] = []
    for a in path_args:
        param: Schema = {"name": a, "in": "path", "required": True, "schema": PATH_PARAMS[a]}
        if a in PATH_EXAMPLES:
            param["example"] = PATH_EXAMPLES[a]
        parameters.append(param)
    parameters += [q.parameter() for q in op.query]
    if parameters:
        doc["parameters"] = parameters
    if op.body is not None:
        media: Schema = {"schema": op.body}
        if op.body_example is not None:
            media["example"] = op.body_example
        doc["requestBody"] = {"required": op.body_required, "content": {"application/json": media}}
    responses: Schema = {}
    for status, spec in op.responses.items():
        media_type = op.media_type if str(status).startswith("2") else "application/json"
        responses[str(status)] = _response(status, spec, media_type)
    errors = set(op.errors) | {401, 403}
    if path_args or op.query or op.body is not None:
        errors.add(400)
    if op.body is not None or method in ("post", "put", "patch"):
        errors.add(413)
    error_schema = "UpstreamOrLayerError" if op.passthrough else "Error"
    for status in sorted(errors):
        responses.setdefault(str(status), _response(status, error_schema, "application/json"))
    if op.public:
        doc["security"] = []
        for status in ("401", "403"):
            responses.pop(status, None)
    doc["responses"] = dict(sorted(responses.items()))
    doc.update(op.extra)
    return doc


def openapi_path(rule: str) -> tuple[str, list[str]]:
    """``/v2/namespaces/<ns>/snapshots/<sha>`` → (``/v2/namespaces/{ns}/snapshots/{sha}``, args)."""
    args = _RULE_ARG.findall(rule)
    return _RULE_ARG.sub(lambda m: "{" + m.group(1) + "}", rule), args


class UndeclaredRoute(RuntimeError):
    """A Layer route without an ``@operation`` declaration: the document would lie."""


def build_document(app: Flask, *, version: str = "0.1.0") -> Schema:
    paths: dict[str, Schema] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        op: Operation | None = getattr(view, OPENAPI_ATTR, None)
        if op is None:
            raise UndeclaredRoute(f"route {rule.rule} ({rule.endpoint}) has no @operation")
        if op.hidden:
            continue
        path, args = openapi_path(rule.rule)
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        for method in methods:
            m = method.lower()
            paths.setdefault(path, {})[m] = _operation_doc(op, rule.endpoint, args, m)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Layer",
            "version": version,
            "description": (
                "Layer's own routes. Every other /v1 and /v2 route is forwarded to "
                "turbopuffer verbatim and is not described here."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
