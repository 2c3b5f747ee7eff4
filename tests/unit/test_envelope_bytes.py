"""`WebhookEnvelope.to_bytes()` writes with orjson on the hot path: its bytes are exactly
pydantic's `model_dump_json()` for every envelope, whatever its text, amounts, headers and
datetimes (any time zone, naive ones, offsets with seconds). The gateway's `envelope_value`
writes the same bytes from the fields without the model, or raises the model's own error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.envelope import SCHEMA_VERSION, EnvelopeFields, WebhookEnvelope, envelope_value

TEXT = st.text(max_size=30)
MOMENTS = st.datetimes(
    timezones=st.none()
    | st.timezones()
    | st.builds(
        timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
    )
)


FIELDS = st.fixed_dictionaries(
    {
        "event_id": st.text(min_size=1, max_size=40),
        "reference": st.text(max_size=40),
        "amount": st.none() | st.integers(min_value=-(2**70), max_value=2**70),
        "currency": st.none() | TEXT,
        "occurred_at": st.none() | MOMENTS,
        "received_at": MOMENTS,
        "signature_headers": st.dictionaries(TEXT, TEXT, max_size=3),
        "verified_scheme": st.none() | st.text(max_size=10),
    }
)


@hsettings(max_examples=400)
@given(fields=FIELDS)
def test_to_bytes_is_exactly_pydantics_json(fields: dict[str, Any]) -> None:
    envelope = WebhookEnvelope(
        provider="paystack", event_type="charge.success", raw_body="eyJhIjoxfQ==", **fields
    )

    assert envelope.to_bytes() == envelope.model_dump_json().encode()


def test_the_gateways_usual_envelope_is_written_without_pydantics_serializer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the envelope the gateway writes: a UTC received_at, no occurred_at
    envelope = WebhookEnvelope(
        event_id="e",
        provider="paystack",
        event_type="charge.success",
        reference="r",
        received_at=datetime(2026, 11, 28, 9, 0, 0, 123456, tzinfo=UTC),
        raw_body="",
    )

    def not_on_the_hot_path(*_: object, **__: object) -> str:
        raise AssertionError("model_dump_json called")

    monkeypatch.setattr(WebhookEnvelope, "model_dump_json", not_on_the_hot_path)

    # Then orjson writes it
    assert b'"received_at":"2026-11-28T09:00:00.123456Z"' in envelope.to_bytes()


def _all_fields(fields: dict[str, Any], **overrides: Any) -> EnvelopeFields:
    """Every envelope field in the model's order, `fields` and `overrides` over the defaults."""
    defaults: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "provider": "paystack",
        "event_type": "charge.success",
        "provider_status": None,
        "raw_body": "eyJhIjoxfQ==",
        "verified_secret": "secret-1",
    }
    merged = {**defaults, **fields, **overrides}
    return cast(EnvelopeFields, {name: merged[name] for name in WebhookEnvelope.model_fields})


LIMITS = st.sampled_from(
    [
        {},
        {"event_id": ""},
        {"event_id": "e" * 256},
        {"event_type": "t" * 101},
        {"reference": "r" * 101},
        {"verified_scheme": "s" * 65},
        {"verified_secret": "s" * 33},
        {"amount": True},
        {"amount": "12"},
        {"currency": 5},
        {"signature_headers": {"verif-hash": "the-secret", "x": "y"}},
        {"signature_headers": {"x": 1}},
        {"occurred_at": "2026-11-28T09:00:00Z"},
    ]
)


@hsettings(max_examples=400)
@given(fields=FIELDS, overrides=LIMITS)
def test_the_envelope_value_is_the_models_bytes_or_its_validation_error(
    fields: dict[str, Any], overrides: dict[str, Any]
) -> None:
    # Given every envelope field, within the model's bounds or one of them off its type or bound
    all_fields = _all_fields(fields, **overrides)
    try:
        expected: bytes | str = WebhookEnvelope(**all_fields).model_dump_json().encode()
    except ValidationError as exc:
        expected = str(exc)
    # When the gateway writes its value
    try:
        written: bytes | str = envelope_value(all_fields)
    except ValidationError as exc:
        written = str(exc)
    # Then it is the model's JSON, byte for byte, or the model's own validation error
    assert written == expected


def test_the_envelope_fields_are_the_models_in_its_order() -> None:
    assert list(EnvelopeFields.__annotations__) == list(WebhookEnvelope.model_fields)


def test_a_fitting_envelope_value_is_written_without_the_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the fields the gateway writes for a usual webhook
    fields = _all_fields(
        {"event_id": "e", "reference": "r", "amount": 5, "currency": "NGN",
         "occurred_at": None, "signature_headers": {"x-paystack-signature": "ab"},
         "verified_scheme": "paystack-hmac-sha512",
         "received_at": datetime(2026, 11, 28, 9, 0, 0, 123456, tzinfo=UTC)}
    )  # fmt: skip

    def not_built(*_: object, **__: object) -> None:
        raise AssertionError("the model was built")

    monkeypatch.setattr(WebhookEnvelope, "__init__", not_built)
    # Then its bytes are written straight from the fields
    assert b'"received_at":"2026-11-28T09:00:00.123456Z"' in envelope_value(fields)
