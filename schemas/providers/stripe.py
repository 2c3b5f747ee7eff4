"""Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 of `"<t>.<raw body>"`.

The key is the endpoint secret exactly as Stripe shows it (`whsec_…`, not decoded). Any `v1`
matching any configured secret passes (Stripe sends several during its own secret rollover).
The payment reference is `data.object.metadata.reference`, which payhooks sets at initialization.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, StrictInt

from schemas.errors import MalformedPayload, SignatureInvalid
from schemas.providers.base import (
    EventType,
    MinorUnits,
    ProviderEvent,
    ProviderId,
    ProviderPayload,
    Status,
    Verified,
    check_timestamp,
    first_match,
    hmac_hex,
    parse_model,
    require_header,
    require_payment_fields,
    unix_seconds,
)

SIGNATURE_HEADER = "stripe-signature"
SUCCESS_EVENTS = frozenset({"payment_intent.succeeded", "checkout.session.completed"})


class StripeObject(ProviderPayload):
    id: ProviderId | None = None
    object: Status | None = None
    amount: MinorUnits | None = None
    amount_received: MinorUnits | None = None
    amount_total: MinorUnits | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    status: Status | None = None
    payment_status: Status | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class StripeData(ProviderPayload):
    object: StripeObject


class StripeEvent(ProviderPayload):
    id: str = Field(min_length=1, max_length=255)
    type: EventType
    created: Annotated[StrictInt, Field(ge=0, le=10**11)] | None = None
    data: StripeData


def _signed_payload(timestamp: str, raw_body: bytes) -> bytes:
    return timestamp.encode() + b"." + raw_body


def _parse_header(value: str) -> tuple[int, list[str]]:
    """`t=…,v1=…,v1=…` → (t, [v1 signatures]); other schemes (v0, …) are ignored as Stripe does."""
    timestamp: str | None = None
    signatures: list[str] = []
    for item in value.split(","):
        key, _, part = item.strip().partition("=")
        if key == "t":
            timestamp = part
        elif key == "v1" and part:
            signatures.append(part.lower())
    seconds = unix_seconds(timestamp or "")
    if seconds is None or not signatures:
        raise SignatureInvalid(
            f"{SIGNATURE_HEADER} must look like t=<unix seconds>,v1=<hex HMAC-SHA256>"
        )
    return seconds, signatures


def _reference(value: Any) -> str:
    """`metadata.reference` as payhooks set it: a string that fits the reference column."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value.strip()) > 100:
        raise MalformedPayload("stripe webhook metadata.reference is not a payhooks reference")
    return value.strip()


def _amount(obj: StripeObject) -> int | None:
    for value in (obj.amount_received, obj.amount_total, obj.amount):
        if value is not None:
            return value
    return None


def _is_paid(event_type: str, obj: StripeObject) -> bool:
    if event_type == "payment_intent.succeeded":
        return obj.status == "succeeded"
    if event_type == "checkout.session.completed":
        return obj.payment_status == "paid"
    return False


class StripeScheme:
    name = "stripe"
    signature_header_names: tuple[str, ...] = (SIGNATURE_HEADER,)

    def verify(
        self,
        raw_body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[bytes],
        *,
        now: float,
        tolerance_seconds: int | None,
    ) -> Verified:
        timestamp, given = _parse_header(require_header(headers, SIGNATURE_HEADER))
        message = _signed_payload(str(timestamp), raw_body)
        expected = [hmac_hex(secret, message, hashlib.sha256().name) for secret in secrets]
        # Every given signature is compared with every secret: no early exit leaks which matched.
        position = first_match(given, expected)
        if position is None:
            raise SignatureInvalid(
                f"no v1 signature in {SIGNATURE_HEADER} matches: sign '<t>.<raw body>' with "
                "HMAC-SHA256 keyed with the endpoint's whsec_ secret"
            )
        check_timestamp(timestamp, now, tolerance_seconds)
        return Verified("stripe-v1", position)

    def body_signed(self, headers: Mapping[str, str]) -> bool:
        return True

    def parse(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        event = parse_model(StripeEvent, raw_body, self.name)
        obj = event.data.object
        reference = _reference(obj.metadata.get("reference"))
        currency = obj.currency.upper() if obj.currency else None
        amount = _amount(obj)
        successful = event.type in SUCCESS_EVENTS and _is_paid(event.type, obj)
        if successful:
            require_payment_fields(self.name, event.type, reference, amount, currency)
        return ProviderEvent(
            event_id=event.id,
            event_type=event.type,
            reference=reference,
            amount=amount,
            currency=currency,
            provider_status=obj.status or obj.payment_status,
            occurred_at=datetime.fromtimestamp(event.created, UTC) if event.created else None,
            is_successful_payment=successful,
            transaction_id=obj.id,
        )

    def sign(self, raw_body: bytes, secret: bytes, *, now: float, event_id: str) -> dict[str, str]:
        timestamp = str(int(now))
        signature = hmac_hex(secret, _signed_payload(timestamp, raw_body), hashlib.sha256().name)
        return {SIGNATURE_HEADER: f"t={timestamp},v1={signature}"}
