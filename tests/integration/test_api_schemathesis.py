"""The api against its own generated /openapi.json: the document is what the app serves, live
responses validate against it, and schemathesis (a bounded number of generated requests per
operation) finds no 5xx and no response that does not conform."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode, checks

from kernel.settings import Settings
from payhooks_devtools.simulator.app import build_simulator
from payments_api.adapters.provider_api import ProviderApi
from payments_api.entrypoints.openapi import openapi_document
from payments_api.settings import ApiSettings
from tests.gateway_support import API_TOKEN, api_client, with_providers
from tests.helpers import narrowed

pytestmark = pytest.mark.integration
SIMULATOR = "http://simulator"
EXAMPLES = 25  # per operation and mode: well under a minute on the shared machine, whole
# Positive: valid by the document; negative: anything else (must still be a declared 4xx).
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture
def client(settings: Settings) -> Iterator[httpx.Client]:
    overrides: dict[str, object] = {
        f"{p}_api_base": f"{SIMULATOR}/{p}"
        for p in ("paystack", "stripe", "flutterwave", "standard")
    }
    api_settings = with_providers(settings, api_rate_burst=100_000).model_copy(update=overrides)
    simulator = httpx.ASGITransport(app=build_simulator(api_settings, SIMULATOR))
    provider_api = ProviderApi(
        narrowed(api_settings, ApiSettings), httpx.AsyncClient(transport=simulator)
    )
    with api_client(api_settings, provider_api=provider_api) as client:
        yield client


def _validate(document: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    """`response` against the document's schema for (path, method, status)."""
    operation = document["paths"][path][method]
    declared = operation["responses"][str(response.status_code)]
    ref = declared["content"]["application/json"]["schema"]
    schema = {**ref, "components": document["components"]}
    jsonschema_rs.validate(schema, response.json())


def test_the_served_document_describes_every_route_it_has(client: httpx.Client) -> None:
    served = client.get("/openapi.json").json()
    assert served == openapi_document()
    routes = {r.path for r in client.app.routes} - {"/openapi.json"}  # type: ignore[attr-defined]
    assert set(served["paths"]) == routes
    assert served["components"]["schemas"]["InitializePayment"]["additionalProperties"] is False


def test_live_responses_validate_against_the_document(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    body = {
        "user_id": "ada",
        "amount": 1_000,
        "currency": "NGN",
        "provider": "paystack",
        "email": "ada@example.com",
        "reference": "pay-doc",
    }
    created = client.post("/payments", json=body, headers={"Idempotency-Key": "doc"})
    answers = [
        ("/payments", "post", created),
        ("/payments", "post", client.post("/payments", json={}, headers={"Idempotency-Key": "x"})),
        ("/payments/{reference}", "get", client.get("/payments/pay-doc")),
        ("/payments/{reference}", "get", client.get("/payments/nope")),
        ("/wallets/{user_id}", "get", client.get("/wallets/ada")),
        ("/wallets/{user_id}", "get", client.get("/wallets/nobody")),
        ("/healthz", "get", client.get("/healthz")),
        ("/readyz", "get", client.get("/readyz")),
    ]
    statuses = [answer.status_code for _, _, answer in answers]
    assert statuses == [201, 422, 200, 404, 200, 404, 200, 200]
    for path, method, answer in answers:
        _validate(document, path, method, answer)


def test_schemathesis_finds_no_5xx_and_no_nonconforming_response(client: httpx.Client) -> None:
    schema = schemathesis.openapi.from_dict(openapi_document())
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    base_url = str(client.base_url).rstrip("/")
    # .ok() raises for an operation schemathesis cannot read: that fails the test too.
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == 5

    for operation, mode in itertools.product(operations, MODES):
        if mode is GenerationMode.NEGATIVE and operation.path in {"/healthz", "/readyz"}:
            continue  # no parameters, no body: nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call(base_url=base_url, headers=auth)
            case.validate_response(response, checks=CHECKS)

        run()
