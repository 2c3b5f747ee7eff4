"""Property: whatever bytes and headers arrive, the gateway never answers 2xx to an unsigned
request and never answers 500 to anything (real app, real Kafka publisher, real HTTP)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from kernel.settings import Settings
from tests.gateway_support import SECRETS, gateway_client, with_providers
from tests.helpers import signed_headers

pytestmark = pytest.mark.integration

PROVIDERS = st.sampled_from([*SECRETS, "unknown"])
HEADER_NAMES = st.sampled_from(
    [
        "x-paystack-signature",
        "stripe-signature",
        "verif-hash",
        "flutterwave-signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
        "x-anything",
    ]
)
# What HTTP itself can carry (h11 refuses surrounding whitespace before it reaches us).
HEADER_VALUES = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200
).map(str.strip)
EXAMPLES = hsettings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def client(settings: Settings, topics: tuple[str, ...]) -> Iterator[httpx.Client]:
    with gateway_client(with_providers(settings)) as client:
        yield client


@EXAMPLES
@given(
    provider=PROVIDERS,
    body=st.binary(max_size=4096),
    headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=6),
)
def test_unsigned_input_is_never_accepted_and_never_a_500(
    client: httpx.Client, provider: str, body: bytes, headers: dict[str, str]
) -> None:
    response = client.post(f"/webhooks/{provider}", content=body, headers=headers)
    assert response.status_code in {401, 404}, response.text
    assert set(response.json()["error"]) == {"code", "message"}


@EXAMPLES
@given(
    provider=st.sampled_from(list(SECRETS)),
    body=st.one_of(
        st.binary(max_size=2048),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=4)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "event",
                            "type",
                            "id",
                            "data",
                            "object",
                            "reference",
                            "amount",
                            "currency",
                            "status",
                            "tx_ref",
                            "metadata",
                        ]
                    ),
                    children,
                    max_size=5,
                )
            ),
            max_leaves=20,
        ).map(lambda value: json.dumps(value).encode()),
    ),
)
def test_signed_input_of_any_shape_is_accepted_or_400_never_a_500(
    client: httpx.Client, provider: str, body: bytes
) -> None:
    headers = signed_headers(provider, body, SECRETS[provider], event_id="msg_prop")
    response = client.post(f"/webhooks/{provider}", content=body, headers=headers)
    assert response.status_code in {202, 400}, response.text
