"""Bearer tokens of `payhooks api` (pure): parsing PAYHOOKS_API_TOKENS, rotation, refusals, and
errors that never show a token."""

from __future__ import annotations

import pytest

from payments_api.domain.clients import ApiClients
from payments_api.domain.errors import ConfigurationError
from payments_api.domain.payments import metadata_for_provider, valid_idempotency_key

NEW, OLD, OTHER = "n" * 24, "o" * 24, "x" * 24
CLIENTS = ApiClients.parse([f"shop:{NEW}", f"shop:{OLD}", f"ops.team-2:{OTHER}"])


@pytest.mark.parametrize(
    ("header", "client"),
    [
        (f"Bearer {NEW}", "shop"),
        (f"Bearer {OLD}", "shop"),  # rotation: the old token is the same client
        (f"bearer {OTHER}", "ops.team-2"),
        (f"  Bearer   {NEW}  ", "shop"),
    ],
)
def test_a_configured_token_names_its_client(header: str, client: str) -> None:
    assert CLIENTS.authenticate(header) == client


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        NEW,
        f"Basic {NEW}",
        f"Bearer {NEW[:-1]}",
        f"Bearer {NEW}n",
        f"Bearer shop:{NEW}",
        f"Bearer {NEW} extra",
        "Bearer " + "é" * 24,
        "Bearer " + "n" * 600,
    ],
)
def test_anything_else_is_no_client(header: str | None) -> None:
    assert CLIENTS.authenticate(header) is None


def test_no_tokens_configured_means_nobody_gets_in() -> None:
    assert ApiClients.parse([]).authenticate(f"Bearer {NEW}") is None


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("no-colon-" + "s" * 20, "entry 1 is not <client-name>:<token>"),
        (":" + "s" * 20, "entry 1 is not <client-name>:<token>"),
        ("bad name:" + "s" * 20, "entry 1 is not <client-name>:<token>"),
        ("shop:short-secret", "the token of client 'shop' (entry 1) must be 16 to 512"),
        ("shop:" + "é" * 20, "the token of client 'shop' (entry 1) must be 16 to 512"),
    ],
)
def test_a_bad_entry_is_named_without_its_token(entry: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        ApiClients.parse([entry])
    message = str(raised.value)
    assert message.startswith("PAYHOOKS_API_TOKENS: ")
    assert says in message
    assert entry.partition(":")[2] not in message or not entry.partition(":")[2]


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("k", True),
        ("order-42_x.y", True),
        ("k" * 255, True),
        ("k" * 256, False),
        ("a b", False),
        ("clé", False),
        ("", False),
        ("tab\there", False),
    ],
)
def test_idempotency_keys_are_printable_ascii_without_spaces(key: str, ok: bool) -> None:
    assert valid_idempotency_key(key) is ok


def test_only_allow_listed_metadata_keys_pass() -> None:
    metadata = {"order_id": "o-1", "cancel_action": "https://evil.example", "reference": "x"}
    assert metadata_for_provider(metadata, ("order_id", "invoice_id")) == {"order_id": "o-1"}
    assert metadata_for_provider(None, ("order_id",)) == {}
