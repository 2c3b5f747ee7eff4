"""GET /openapi.json, generated: every request and response schema comes from the pydantic models
the code uses (`InitializePayment`, `domain/views.py`); only the list of operations is written
here, and a test holds it to the app's routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from payments_api.domain.payments import IDEMPOTENCY_KEY, InitializePayment
from payments_api.domain.views import ErrorBody, PaymentCreated, PaymentView, Status, WalletView

_REF = "#/components/schemas/{model}"
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}


@dataclass(frozen=True)
class Operation:
    path: str
    method: str
    summary: str
    responses: dict[int, tuple[type[BaseModel], str]]
    request: type[BaseModel] | None = None
    parameters: tuple[dict[str, Any], ...] = ()
    authenticated: bool = True
    headers: dict[int, dict[str, Any]] = field(default_factory=dict)


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "scoped to the client: two clients may use the same key",
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern},
}
_AUTH_ERRORS: dict[int, tuple[type[BaseModel], str]] = {
    401: (ErrorBody, "Missing, malformed or unknown bearer token"),
    429: (ErrorBody, "Over the client's rate limit; retry after Retry-After seconds"),
    503: (ErrorBody, "A dependency (PostgreSQL) is unavailable; retry"),
}


def _with_auth(
    responses: dict[int, tuple[type[BaseModel], str]],
) -> dict[int, tuple[type[BaseModel], str]]:
    return {**responses, **_AUTH_ERRORS}


OPERATIONS = (
    Operation(
        "/payments",
        "post",
        "Initialize a payment (idempotent on the Idempotency-Key header, per client)",
        {
            201: (PaymentCreated, "Created (header Idempotent-Replayed: true on a replay)"),
            400: (ErrorBody, "No or invalid Idempotency-Key, or the body is not JSON"),
            409: (ErrorBody, "A request with this key is in flight, or the reference is taken"),
            413: (ErrorBody, "Body too large"),
            422: (ErrorBody, "Invalid body, or the key was used with other parameters"),
            502: (
                ErrorBody,
                "The provider refused (payment failed) or its answer was lost (payment "
                "processing: a later success still credits it)",
            ),
            **_AUTH_ERRORS,
        },
        request=InitializePayment,
        parameters=(_IDEMPOTENCY_KEY,),
    ),
    Operation(
        "/payments/{reference}",
        "get",
        "A payment's state",
        _with_auth(
            {200: (PaymentView, "The payment"), 404: (ErrorBody, "No payment has this reference")}
        ),
        parameters=(_path_param("reference"),),
    ),
    Operation(
        "/wallets/{user_id}",
        "get",
        "A user's balances by currency, in minor units",
        _with_auth({200: (WalletView, "The balances"), 404: (ErrorBody, "No such user")}),
        parameters=(_path_param("user_id"),),
    ),
    Operation(
        "/healthz",
        "get",
        "The process is alive",
        {200: (Status, "Alive")},
        authenticated=False,
    ),
    Operation(
        "/readyz",
        "get",
        "PostgreSQL answers",
        {200: (Status, "Ready"), 503: (ErrorBody, "Not ready")},
        authenticated=False,
    ),
)


def _response(
    model: type[BaseModel], description: str, headers: dict[str, Any] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}},
    }
    if headers:
        body["headers"] = headers
    return body


def _operation(op: Operation) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "summary": op.summary,
        "operationId": op.method
        + "_"
        + "_".join(part.strip("{}") for part in op.path.strip("/").split("/")),
        "parameters": list(op.parameters),
        "responses": {
            str(status): _response(model, description, _RETRY_AFTER if status == 429 else None)
            for status, (model, description) in op.responses.items()
        },
        "security": [{"bearer": []}] if op.authenticated else [],
    }
    if op.request is not None:
        ref = {"$ref": _REF.format(model=op.request.__name__)}
        spec["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref}}}
    return spec


def _models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for op in OPERATIONS:
        for model in [op.request, *(m for m, _ in op.responses.values())]:
            if model is not None:
                found[model.__name__] = model
    return list(found.values())


@cache
def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(model, "validation") for model in _models()], ref_template=_REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "payhooks api", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
