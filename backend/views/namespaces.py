"""Layer's own namespace routes: the enriched listing (by upstream page or by state), the
watcher's summary, and metadata with the layer block."""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify

from backend import params
from backend.errors import BadRequest
from backend.extensions import (
    get_cache,
    get_freshness,
    get_inventory,
    get_kv,
    get_settings,
    get_upstream,
)
from backend.freshness import STATES
from backend.openapi import UPSTREAM, QueryChoice, QueryInt, QueryStr, operation
from backend.watchsummary import read_summary

bp = Blueprint("namespaces", __name__)

CURSOR_RE = re.compile(r"[A-Za-z0-9+/=_\-.:~]+")
PREFIX = QueryStr(
    "prefix", max_len=128, pattern=re.compile(r"[A-Za-z0-9\-_.]*"), description="name prefix"
)
CURSOR = QueryStr(
    "cursor", max_len=1024, pattern=CURSOR_RE, description="next_cursor of the previous page"
)
PAGE_SIZE = QueryInt("page_size", 100, lo=1, hi=1000, cap=True, description="rows per page.")
STATE = QueryChoice(
    "state",
    STATES,
    description="only namespaces in this state, from the watcher's records (no upstream call)",
)


@bp.get("/v2/namespaces")
@operation(
    "The enriched namespace listing",
    query=(PREFIX, CURSOR, PAGE_SIZE, STATE),
    responses={200: "NamespacePage"},
    errors=UPSTREAM,
    tags=("namespaces",),
)
def list_namespaces() -> Response:
    prefix = PREFIX.read()
    cursor = CURSOR.read()
    page_size = PAGE_SIZE.read()
    state = STATE.read()
    assert page_size is not None
    if state is None:
        return jsonify(get_inventory().page(prefix, cursor, page_size))
    if cursor is not None and not params.NAMESPACE_RE.fullmatch(cursor):
        raise BadRequest("cursor is not a valid listing cursor for state=", param="cursor")
    return jsonify(get_inventory().by_state(state, prefix, cursor, page_size))


@bp.get("/v2/namespaces/summary")
@operation(
    "The watcher's figures for the deployment, from the KV store only (no upstream call)",
    responses={200: "Summary"},
    tags=("namespaces",),
)
def summary() -> Response:
    return jsonify(read_summary(get_kv(), get_settings()))


@bp.get("/v2/namespaces/<ns>/metadata")
@operation(
    "Upstream metadata verbatim plus the layer block",
    responses={200: "Metadata"},
    errors=(404, *UPSTREAM),
    tags=("namespaces",),
)
def metadata(ns: str) -> Response:
    params.namespace(ns)
    upstream = get_upstream()
    meta = upstream.metadata(ns, deadline=upstream.interactive_deadline())
    fr = get_freshness().get(ns)
    meta["layer"] = {
        "stable_as_of": fr.stable_as_of,
        "is_stable": fr.is_stable,
        "cache_state": get_cache().cache_state(ns, fr),
        "observed_ms": fr.observed_ms,
        "index_stuck_since_ms": fr.index_stuck_since_ms,
    }
    return jsonify(meta)
