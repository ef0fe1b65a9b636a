"""The served OpenAPI document, made to say what the server does: bearer auth (so Swagger UI's "Authorize"
works), and the error envelope under every status the API answers with, in place of FastAPI's 422
`HTTPValidationError`, which this server never sends (its validation errors are 400s in the envelope)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["message", "type", "param", "code"],
    "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                   "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}}
STATUSES = {"400": "Bad input (the field is named in `param`)", "401": "No key, or a key that is not valid",
            "402": "Not enough credits", "403": "The key may not do this", "404": "No such model or object",
            "409": "An Idempotency-Key still in progress", "413": "The body or upload is too large",
            "422": "An Idempotency-Key used before with another request", "429": "Rate limit or capacity reached"}
OPEN = ("/healthz", "/readyz")


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _describe(get_openapi(title=app.title, version=app.version, routes=app.routes,
                                                       description=app.description))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _describe(spec: dict[str, Any]) -> dict[str, Any]:
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                                "description": "an API key: `Authorization: Bearer vg_live_...`"}}
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if path in OPEN:
                operation["security"] = []
                continue
            operation["security"] = [{"bearer": []}]
            for status, what in STATUSES.items():
                if status in ("409", "422") and method != "post":
                    continue
                responses.setdefault(status, {"description": what, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    return spec
