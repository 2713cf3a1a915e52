"""``GET /v2/openapi.json``: the OpenAPI 3.1 document of Layer's own routes."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from backend.openapi import build_document, operation

bp = Blueprint("openapi", __name__)


@bp.get("/v2/openapi.json")
@operation(
    "This document: every Layer route, generated from the views' declarations",
    responses={200: {"type": "object", "required": ["openapi", "paths"]}},
    tags=("meta",),
)
def openapi_document() -> Response:
    doc: dict[str, Any] | None = current_app.extensions.get("layer.openapi")
    if doc is None:
        doc = build_document(current_app)
        current_app.extensions["layer.openapi"] = doc
    return jsonify(doc)
