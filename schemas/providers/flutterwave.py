"""Flutterwave: `verif-hash` (the dashboard's secret hash, sent as is) or `flutterwave-signature`
(base64 HMAC-SHA256 of the raw body keyed with that secret hash).

`verif-hash` does not bind the body: whoever learns the hash can forge any event. So when
`flutterwave-signature` is present it alone decides (a right hash beside a wrong signature is
refused); the hash alone passes as hash-only (`Verified.body_signed=False`), which the consumer
credits only once Flutterwave's verify API confirms it (docs/security.md). The hash is the
secret itself: it is never kept in the envelope, so it never reaches Kafka.
Flutterwave sends amounts in MAJOR units (`"amount": 1500.5`); they are converted to minor units
here so every amount inside payhooks is an int of minor units.

Reversals (docs/providers.md; Flutterwave's refund/chargeback webhooks are thinly documented, so
this follows the event names of its webhook reference and the v3 payload shape): `refund.completed`
(the refund's `data.id`, the payment's `data.tx_ref` or its transaction id `data.tx_id`, the
refunded `data.amount` in major units) and `chargeback.created|updated` with `data.status` `lost`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from pydantic import Field

from schemas.errors import SignatureInvalid
from schemas.providers.base import (
    Currency,
    EventType,
    ProviderEvent,
    ProviderId,
    ProviderIntId,
    ProviderPayload,
    Reference,
    Reversal,
    ReversalKind,
    Status,
    Verified,
    body_event_id,
    first_match,
    parse_model,
    require_payment_fields,
    require_reversal_fields,
    to_minor_units,
)

HASH_HEADER = "verif-hash"
SIGNATURE_HEADER = "flutterwave-signature"
SUCCESS_EVENT = "charge.completed"
REFUND_EVENT = "refund.completed"
CHARGEBACK_EVENTS = frozenset({"chargeback.created", "chargeback.updated"})


class FlutterwaveData(ProviderPayload):
    id: ProviderIntId | ProviderId | None = None
    tx_ref: Reference | None = None
    flw_ref: Status | None = None
    amount: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)
    currency: Currency | None = None
    status: Status | None = None
    created_at: datetime | None = None
    tx_id: ProviderIntId | ProviderId | None = None


class FlutterwaveWebhook(ProviderPayload):
    event: EventType
    data: FlutterwaveData


def body_signature(secret: bytes, raw_body: bytes) -> str:
    return base64.b64encode(hmac.new(secret, raw_body, hashlib.sha256).digest()).decode()


def _reversal(payload: FlutterwaveWebhook) -> Reversal | None:
    data = payload.data
    if data.id is None:
        return None
    if payload.event == REFUND_EVENT and data.status in ("completed", "successful"):
        return Reversal(ReversalKind.REFUND, f"refund:{data.id}")
    if payload.event in CHARGEBACK_EVENTS and data.status == "lost":
        return Reversal(ReversalKind.CHARGEBACK, f"chargeback:{data.id}")
    return None


class FlutterwaveScheme:
    name = "flutterwave"
    # Only the body signature is kept with the event: the hash IS the secret, never stored.
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
        """The body signature decides when it is present (a right hash with a wrong signature
        is refused); the hash alone passes only without one, as hash-only (`body_signed=False`)."""
        given_hash = headers.get(HASH_HEADER, "").strip()
        given_signature = headers.get(SIGNATURE_HEADER, "").strip()
        if given_signature:
            expected = [body_signature(secret, raw_body) for secret in secrets]
            position = first_match([given_signature], expected)
            if position is None:
                raise SignatureInvalid(
                    f"{SIGNATURE_HEADER} does not match: base64 HMAC-SHA256 of the raw body "
                    "keyed with the secret hash"
                )
            return Verified(SIGNATURE_HEADER, position)
        if not given_hash:
            raise SignatureInvalid(f"neither {HASH_HEADER} nor {SIGNATURE_HEADER} is present")
        position = first_match([given_hash], [s.decode(errors="replace") for s in secrets])
        if position is None:
            raise SignatureInvalid(f"{HASH_HEADER} does not match the configured secret hash")
        return Verified(HASH_HEADER, position, body_signed=False)

    def body_signed(self, headers: Mapping[str, str]) -> bool:
        return bool(headers.get(SIGNATURE_HEADER, "").strip())

    def parse(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        payload = parse_model(FlutterwaveWebhook, raw_body, self.name)
        data = payload.data
        reference = data.tx_ref or ""
        amount = (
            to_minor_units(data.amount, data.currency, self.name)
            if data.amount is not None and data.currency
            else None
        )
        successful = payload.event == SUCCESS_EVENT and data.status == "successful"
        if successful:
            require_payment_fields(self.name, payload.event, reference, amount, data.currency)
        reversal = _reversal(payload)
        if reversal is not None:
            require_reversal_fields(
                self.name,
                payload.event,
                payment=reference or str(data.tx_id or ""),
                reversal_id=reversal.reversal_id,
                amount=amount,
                currency=data.currency,
            )
        txn_id = data.id if successful else data.tx_id
        return ProviderEvent(
            event_id=f"flw-{reversal.reversal_id}"
            if reversal is not None
            else f"flw-{data.id}"
            if data.id is not None
            else body_event_id(self.name, raw_body),
            event_type=payload.event,
            reference=reference,
            amount=amount,
            currency=data.currency,
            provider_status=data.status,
            occurred_at=data.created_at,
            is_successful_payment=successful,
            transaction_id=str(data.id) if data.id is not None else None,
            reversal=reversal,
            provider_txn_id=str(txn_id)[:255] if txn_id is not None else None,
        )

    def sign(self, raw_body: bytes, secret: bytes, *, now: float, event_id: str) -> dict[str, str]:
        return {HASH_HEADER: secret.decode(), SIGNATURE_HEADER: body_signature(secret, raw_body)}
