"""Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, HMAC-SHA256 of `"<t>.<raw body>"`.

The key is the endpoint secret exactly as Stripe shows it (`whsec_…`, not decoded). Any `v1`
matching any configured secret passes (Stripe sends several during its own secret rollover).
The payment reference is `data.object.metadata.reference`, which payhooks sets at initialization.

Reversals (docs/providers.md): `refund.created` / `refund.updated` with a Refund whose status is
`succeeded` (keyed by the refund id `re_…`); `charge.refunded` with its newest refund embedded in
`refunds.data` (older API versions; newer ones omit the list, so subscribe to `refund.*`);
`charge.dispute.closed` with status `lost` (keyed by the dispute id `dp_…`). Refunds and disputes
carry no metadata of ours: they name the PaymentIntent (`payment_intent`), which payhooks stores
on the payment when the success is credited.
"""

from __future__ import annotations

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
    Reversal,
    ReversalKind,
    Status,
    Verified,
    check_timestamp,
    first_match,
    hmac_hex,
    parse_model,
    require_header,
    require_payment_fields,
    require_reversal_fields,
    unix_seconds,
)

SIGNATURE_HEADER = "stripe-signature"
SUCCESS_EVENTS = frozenset({"payment_intent.succeeded", "checkout.session.completed"})
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "charge.refunded"})
DISPUTE_CLOSED_EVENT = "charge.dispute.closed"


class StripeRefund(ProviderPayload):
    id: ProviderId | None = None
    amount: MinorUnits | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    status: Status | None = None


class StripeRefundList(ProviderPayload):
    data: list[StripeRefund] = Field(default_factory=list, max_length=1000)


class StripeObject(ProviderPayload):
    id: ProviderId | None = None
    object: Status | None = None
    payment_intent: ProviderId | None = None
    charge: ProviderId | None = None
    refunds: StripeRefundList | None = None
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


def _paid_intent(event_type: str, obj: StripeObject) -> str | None:
    """The PaymentIntent a success paid: the event's object, or the session's intent."""
    return obj.id if event_type == "payment_intent.succeeded" else obj.payment_intent


def _refund_of(event: StripeEvent) -> StripeRefund | None:
    """The refund an event reports, if it is one that moved money back (status succeeded)."""
    obj = event.data.object
    if event.type == "charge.refunded":
        newest = obj.refunds.data[0] if obj.refunds and obj.refunds.data else None
        return newest if newest is not None and newest.status == "succeeded" else None
    if obj.status != "succeeded":
        return None
    return StripeRefund(id=obj.id, amount=obj.amount, currency=obj.currency, status=obj.status)


def _reversal_event(event: StripeEvent) -> ProviderEvent:
    obj = event.data.object
    if event.type == DISPUTE_CLOSED_EVENT:
        found = (
            StripeRefund(id=obj.id, amount=obj.amount, currency=obj.currency)
            if obj.status == "lost"
            else None
        )
        kind = ReversalKind.CHARGEBACK
    else:
        found, kind = _refund_of(event), ReversalKind.REFUND
    intent = obj.payment_intent
    currency = (found.currency if found and found.currency else obj.currency) or None
    reversal = None
    if found is not None:
        require_reversal_fields(
            "stripe",
            event.type,
            payment=str(obj.metadata.get("reference") or intent or ""),
            reversal_id=found.id or "",
            amount=found.amount,
            currency=currency,
        )
        reversal = Reversal(kind, found.id or "")
    return ProviderEvent(
        event_id=event.id,
        event_type=event.type,
        reference=str(obj.metadata.get("reference") or ""),
        amount=found.amount if found else obj.amount,
        currency=currency.upper() if currency else None,
        provider_status=obj.status,
        occurred_at=datetime.fromtimestamp(event.created, UTC) if event.created else None,
        is_successful_payment=False,
        reversal=reversal,
        provider_txn_id=intent,
    )


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
        expected = [hmac_hex(secret, message, "sha256") for secret in secrets]
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
        if event.type in REFUND_EVENTS or event.type == DISPUTE_CLOSED_EVENT:
            return _reversal_event(event)
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
            provider_txn_id=_paid_intent(event.type, obj) if successful else None,
        )

    def sign(self, raw_body: bytes, secret: bytes, *, now: float, event_id: str) -> dict[str, str]:
        timestamp = str(int(now))
        signature = hmac_hex(secret, _signed_payload(timestamp, raw_body), "sha256")
        return {SIGNATURE_HEADER: f"t={timestamp},v1={signature}"}
