"""Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 of `"<t>.<raw body>"`.

The key is the endpoint secret exactly as Stripe shows it (`whsec_…`, not decoded). Any `v1`
matching any configured secret passes (Stripe sends several during its own secret rollover).
The payment reference is `data.object.metadata.reference`, which payhooks sets at initialization.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, StrictInt

from schemas.errors import SignatureInvalid
from schemas.providers.base import (
    ProviderEvent,
    ProviderPayload,
    check_timestamp,
    hmac_hex,
    matches_any,
    parse_model,
    require_header,
    require_payment_fields,
)

SIGNATURE_HEADER = "stripe-signature"
SUCCESS_EVENTS = frozenset({"payment_intent.succeeded", "checkout.session.completed"})


class StripeObject(ProviderPayload):
    id: str | None = None
    object: str | None = None
    amount: StrictInt | None = None
    amount_received: StrictInt | None = None
    amount_total: StrictInt | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    status: str | None = None
    payment_status: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class StripeData(ProviderPayload):
    object: StripeObject


class StripeEvent(ProviderPayload):
    id: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=100)
    created: StrictInt | None = None
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
    if timestamp is None or not timestamp.isdigit() or not signatures:
        raise SignatureInvalid(
            f"{SIGNATURE_HEADER} must look like t=<unix seconds>,v1=<hex HMAC-SHA256>"
        )
    return int(timestamp), signatures


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
    ) -> None:
        timestamp, given = _parse_header(require_header(headers, SIGNATURE_HEADER))
        message = _signed_payload(str(timestamp), raw_body)
        expected = [hmac_hex(secret, message, hashlib.sha256().name) for secret in secrets]
        # Every given signature is compared with every secret: no early exit leaks which matched.
        found = False
        for signature in given:
            found |= matches_any(signature, expected)
        if not found:
            raise SignatureInvalid(
                f"no v1 signature in {SIGNATURE_HEADER} matches: sign '<t>.<raw body>' with "
                "HMAC-SHA256 keyed with the endpoint's whsec_ secret"
            )
        check_timestamp(timestamp, now, tolerance_seconds)

    def parse(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        event = parse_model(StripeEvent, raw_body, self.name)
        obj = event.data.object
        reference = str(obj.metadata.get("reference") or "")
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
        )

    def sign(self, raw_body: bytes, secret: bytes, *, now: float, event_id: str) -> dict[str, str]:
        timestamp = str(int(now))
        signature = hmac_hex(secret, _signed_payload(timestamp, raw_body), hashlib.sha256().name)
        return {SIGNATURE_HEADER: f"t={timestamp},v1={signature}"}
