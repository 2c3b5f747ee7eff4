"""Paystack: HMAC-SHA512 of the raw body, hex, in `x-paystack-signature`.

No timestamp (so no replay window) and no event id: one is derived from the event type and
`data.reference` (else `data.id`, else the body's hash), so a redelivery gets the same id.

Reversals (docs/providers.md): `refund.processed` names the payment in
`data.transaction_reference` and the refund in `data.refund_reference` (else `data.id`), amount in
minor units; `charge.dispute.resolve` is a lost dispute when `data.resolution` is
`merchant-accepted` or `auto-accepted` (the customer keeps the money), naming the payment in
`data.transaction.reference`, the dispute in `data.id`, the amount in `data.refund_amount` (else the
transaction's amount). A dispute resolved `declined` (the merchant won) reverses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from schemas.errors import SignatureInvalid
from schemas.providers.base import (
    Currency,
    EventType,
    MinorUnits,
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
    deterministic_event_id,
    first_match,
    hmac_hex,
    parse_model,
    require_header,
    require_payment_fields,
    require_reversal_fields,
)

SIGNATURE_HEADER = "x-paystack-signature"
REFUND_EVENT = "refund.processed"
DISPUTE_RESOLVED_EVENT = "charge.dispute.resolve"
LOST_RESOLUTIONS = frozenset({"merchant-accepted", "auto-accepted"})


class PaystackTransaction(ProviderPayload):
    id: ProviderIntId | None = None
    reference: Reference | None = None
    amount: MinorUnits | None = None
    currency: Currency | None = None


class PaystackData(ProviderPayload):
    id: ProviderIntId | None = None
    reference: Reference | None = None
    amount: MinorUnits | None = None
    currency: Currency | None = None
    status: Status | None = None
    paid_at: datetime | None = None
    transaction_reference: Reference | None = None
    refund_reference: ProviderId | None = None
    resolution: Status | None = None
    refund_amount: MinorUnits | None = None
    transaction: PaystackTransaction | None = None


class PaystackWebhook(ProviderPayload):
    event: EventType
    data: PaystackData


class PaystackScheme:
    name = "paystack"
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
        given = require_header(headers, SIGNATURE_HEADER).lower()
        expected = [hmac_hex(secret, raw_body, "sha512") for secret in secrets]
        position = first_match([given], expected)
        if position is None:
            raise SignatureInvalid(
                f"{SIGNATURE_HEADER} does not match: sign the raw body with HMAC-SHA512 "
                "keyed with your Paystack secret key"
            )
        return Verified("paystack-hmac-sha512", position)

    def body_signed(self, headers: Mapping[str, str]) -> bool:
        return True

    def parse(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        payload = parse_model(PaystackWebhook, raw_body, self.name)
        if payload.event == REFUND_EVENT:
            return self._refund(payload)
        if payload.event == DISPUTE_RESOLVED_EVENT:
            return self._dispute(payload, raw_body)
        data = payload.data
        reference = data.reference or ""
        successful = payload.event == "charge.success" and data.status == "success"
        if successful:
            require_payment_fields(self.name, payload.event, reference, data.amount, data.currency)
        return ProviderEvent(
            event_id=self._event_id(payload.event, data, raw_body),
            event_type=payload.event,
            reference=reference,
            amount=data.amount,
            currency=data.currency,
            provider_status=data.status,
            occurred_at=data.paid_at,
            is_successful_payment=successful,
            transaction_id=str(data.id) if data.id is not None else None,
        )

    def _refund(self, payload: PaystackWebhook) -> ProviderEvent:
        data = payload.data
        refund_id = data.refund_reference or (f"id:{data.id}" if data.id is not None else "")
        reference = data.transaction_reference or ""
        require_reversal_fields(
            self.name,
            payload.event,
            payment=reference,
            reversal_id=refund_id,
            amount=data.amount,
            currency=data.currency,
        )
        return ProviderEvent(
            event_id=deterministic_event_id(self.name, payload.event, f"refund:{refund_id}"),
            event_type=payload.event,
            reference=reference,
            amount=data.amount,
            currency=data.currency,
            provider_status=data.status,
            occurred_at=None,
            is_successful_payment=False,
            reversal=Reversal(ReversalKind.REFUND, f"refund:{refund_id}"),
        )

    def _dispute(self, payload: PaystackWebhook, raw_body: bytes) -> ProviderEvent:
        data = payload.data
        txn = data.transaction or PaystackTransaction()
        lost = data.resolution in LOST_RESOLUTIONS
        dispute_id = f"dispute:{data.id}" if data.id is not None else ""
        amount = data.refund_amount if data.refund_amount is not None else txn.amount
        currency = data.currency or txn.currency
        if lost:
            require_reversal_fields(
                self.name,
                payload.event,
                payment=txn.reference or "",
                reversal_id=dispute_id,
                amount=amount,
                currency=currency,
            )
        return ProviderEvent(
            event_id=deterministic_event_id(self.name, payload.event, dispute_id)
            if dispute_id
            else body_event_id(self.name, raw_body),
            event_type=payload.event,
            reference=txn.reference or "",
            amount=amount,
            currency=currency,
            provider_status=data.resolution or data.status,
            occurred_at=None,
            is_successful_payment=False,
            reversal=Reversal(ReversalKind.CHARGEBACK, dispute_id) if lost else None,
        )

    def _event_id(self, event_type: str, data: PaystackData, raw_body: bytes) -> str:
        if data.reference:
            return deterministic_event_id(self.name, event_type, data.reference)
        if data.id is not None:
            return deterministic_event_id(self.name, event_type, f"id:{data.id}")
        return body_event_id(self.name, raw_body)

    def sign(self, raw_body: bytes, secret: bytes, *, now: float, event_id: str) -> dict[str, str]:
        return {SIGNATURE_HEADER: hmac_hex(secret, raw_body, "sha512")}
