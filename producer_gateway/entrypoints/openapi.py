"""GET /openapi.json: a hand-kept OpenAPI 3.1 document. A test holds it to the routes, so a route
added without its description fails the suite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Route

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ERROR, description)


_PROVIDER = {"type": "string", "enum": ["paystack", "stripe", "flutterwave", "standard"]}

_WEBHOOK = {
    "post": {
        "summary": "Receive a provider's webhook; 202 once Kafka holds it",
        "parameters": [{"name": "provider", "in": "path", "required": True, "schema": _PROVIDER}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "responses": {
            "202": _json(
                {
                    "type": "object",
                    "properties": {"status": {"const": "accepted"}, "event_id": {"type": "string"}},
                },
                "Accepted: Kafka holds the event",
            ),
            "400": _error("Signed, but not this provider's JSON (kept on the DLQ topic)"),
            "401": _error("Missing, invalid or stale signature"),
            "404": _error("Unknown or unconfigured provider"),
            "405": _error("Method not allowed"),
            "413": _error("Body over the configured limit"),
            "503": _error("Kafka cannot take the event now; retry (Retry-After)"),
        },
    }
}

_PAYMENT_REQUEST = {
    "type": "object",
    "required": ["user_id", "amount", "currency", "provider", "email"],
    "additionalProperties": False,
    "properties": {
        "user_id": {"type": "string", "maxLength": 64},
        "amount": {"type": "integer", "minimum": 1, "description": "minor units"},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "provider": _PROVIDER,
        "email": {"type": "string", "format": "email"},
        "reference": {"type": "string", "pattern": "^[A-Za-z0-9._\\-]{1,100}$"},
        "metadata": {"type": "object"},
    },
}

_PAYMENT_CREATED = {
    "type": "object",
    "properties": {
        name: {"type": kind}
        for name, kind in (
            ("reference", "string"),
            ("state", "string"),
            ("authorization_url", "string"),
            ("user_id", "string"),
            ("amount", "integer"),
            ("currency", "string"),
            ("provider", "string"),
        )
    },
}

_PAYMENTS = {
    "post": {
        "summary": "Initialize a payment (idempotent on the Idempotency-Key header)",
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "maxLength": 255},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _PAYMENT_REQUEST}},
        },
        "responses": {
            "201": _json(_PAYMENT_CREATED, "Created (header Idempotent-Replayed: true on replay)"),
            "400": _error("No Idempotency-Key, or the body is not JSON"),
            "409": _error("A request with this key is in flight, or the reference is taken"),
            "422": _error("Invalid body, or the key was used with other parameters"),
            "502": _error("The provider did not initialize the payment; the payment is failed"),
            "503": _error("The database is unavailable; retry"),
        },
    }
}

_PAYMENT = {
    "get": {
        "summary": "A payment's state",
        "parameters": [
            {"name": "reference", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "properties": {
                        **_PAYMENT_CREATED["properties"],  # type: ignore[dict-item]
                        "credited": {"type": "boolean"},
                        "refunded_amount": {
                            "type": "integer",
                            "description": "refunds and lost disputes so far, minor units",
                        },
                        "created_at": {"type": "string", "format": "date-time"},
                        "completed_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
                "The payment",
            ),
            "404": _error("No payment has this reference"),
        },
    }
}

_WALLET = {
    "get": {
        "summary": "A user's balances by currency, in minor units",
        "parameters": [
            {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "responses": {
            "200": _json(
                {
                    "type": "object",
                    "properties": {
                        "user_id": {"type": "string"},
                        "balances": {"type": "object", "additionalProperties": {"type": "integer"}},
                    },
                },
                "The balances",
            ),
            "404": _error("No such user"),
        },
    }
}


def _plain(summary: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": {"200": {"description": "OK"}}}}


PATHS: dict[str, dict[str, Any]] = {
    "/webhooks/{provider}": _WEBHOOK,
    "/payments": _PAYMENTS,
    "/payments/{reference}": _PAYMENT,
    "/wallets/{user_id}": _WALLET,
    "/healthz": _plain("The process is alive"),
    "/readyz": {
        "get": {
            "summary": "Kafka answers and the main topic exists",
            "responses": {"200": {"description": "Ready"}, "503": _error("Not ready")},
        }
    },
    "/metrics": _plain("Prometheus metrics (text exposition format)"),
}


def openapi_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """The document, for the paths among `routes` that are in the schema."""
    served = {r.path for r in routes if isinstance(r, Route) and r.include_in_schema}
    return {
        "openapi": "3.1.0",
        "info": {"title": "payhooks gateway", "version": "1"},
        "paths": {path: spec for path, spec in PATHS.items() if path in served},
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                }
            }
        },
    }
