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

from pydantic import ConfigDict, TypeAdapter, with_config
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from schemas.errors import SignatureInvalid
from schemas.providers.base import (
    Currency,
    EventType,
    MinorUnits,
    ProviderEvent,
    ProviderId,
    ProviderIntId,
    Reference,
    Reversal,
    ReversalKind,
    Status,
    Verified,
    body_event_id,
    deterministic_event_id,
    first_match,
    hmac_hex,
    parse_typed,
    require_header,
    require_payment_fields,
    require_reversal_fields,
)

SIGNATURE_HEADER = "x-paystack-signature"
REFUND_EVENT = "refund.processed"
DISPUTE_RESOLVED_EVENT = "charge.dispute.resolve"
LOST_RESOLUTIONS = frozenset({"merchant-accepted", "auto-accepted"})


# The payload as `TypedDict`s (plain dicts out of pydantic-core, no model instances): the same
# bounds as the other providers' models, unknown keys ignored, an absent key read as None.
_PAYLOAD = ConfigDict(extra="ignore")


@with_config(_PAYLOAD)
class PaystackTransaction(TypedDict, total=False):
    id: ProviderIntId | None
    reference: Reference | None
    amount: MinorUnits | None
    currency: Currency | None


@with_config(_PAYLOAD)
class PaystackData(TypedDict, total=False):
    id: ProviderIntId | None
    reference: Reference | None
    amount: MinorUnits | None
    currency: Currency | None
    status: Status | None
    paid_at: datetime | None
    transaction_reference: Reference | None
    refund_reference: ProviderId | None
    resolution: Status | None
    refund_amount: MinorUnits | None
    transaction: PaystackTransaction | None


@with_config(_PAYLOAD)
class PaystackWebhook(TypedDict):
    event: EventType
    data: PaystackData


_WEBHOOK = TypeAdapter(PaystackWebhook)


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
        payload = parse_typed(_WEBHOOK, raw_body, self.name)
        event, data = payload["event"], payload["data"]
        if event == REFUND_EVENT:
            return self._refund(event, data)
        if event == DISPUTE_RESOLVED_EVENT:
            return self._dispute(event, data, raw_body)
        reference = data.get("reference") or ""
        amount, currency, status = data.get("amount"), data.get("currency"), data.get("status")
        successful = event == "charge.success" and status == "success"
        if successful:
            require_payment_fields(self.name, event, reference, amount, currency)
        transaction_id = data.get("id")
        return ProviderEvent(
            self._event_id(event, reference, transaction_id, raw_body),
            event,
            reference,
            amount,
            currency,
            status,
            data.get("paid_at"),
            successful,
            str(transaction_id) if transaction_id is not None else None,
        )

    def _refund(self, event: str, data: PaystackData) -> ProviderEvent:
        data_id = data.get("id")
        refund_id = data.get("refund_reference") or (f"id:{data_id}" if data_id is not None else "")
        reference = data.get("transaction_reference") or ""
        amount, currency = data.get("amount"), data.get("currency")
        require_reversal_fields(
            self.name,
            event,
            payment=reference,
            reversal_id=refund_id,
            amount=amount,
            currency=currency,
        )
        return ProviderEvent(
            event_id=deterministic_event_id(self.name, event, f"refund:{refund_id}"),
            event_type=event,
            reference=reference,
            amount=amount,
            currency=currency,
            provider_status=data.get("status"),
            occurred_at=None,
            is_successful_payment=False,
            reversal=Reversal(ReversalKind.REFUND, f"refund:{refund_id}"),
        )

    def _dispute(self, event: str, data: PaystackData, raw_body: bytes) -> ProviderEvent:
        txn: PaystackTransaction = data.get("transaction") or {}
        lost = data.get("resolution") in LOST_RESOLUTIONS
        data_id = data.get("id")
        dispute_id = f"dispute:{data_id}" if data_id is not None else ""
        refund_amount = data.get("refund_amount")
        amount = refund_amount if refund_amount is not None else txn.get("amount")
        currency = data.get("currency") or txn.get("currency")
        reference = txn.get("reference") or ""
        if lost:
            require_reversal_fields(
                self.name,
                event,
                payment=reference,
                reversal_id=dispute_id,
                amount=amount,
                currency=currency,
            )
        return ProviderEvent(
            event_id=deterministic_event_id(self.name, event, dispute_id)
            if dispute_id
            else body_event_id(self.name, raw_body),
            event_type=event,
            reference=reference,
            amount=amount,
            currency=currency,
            provider_status=data.get("resolution") or data.get("status"),
            occurred_at=None,
            is_successful_payment=False,
            reversal=Reversal(ReversalKind.CHARGEBACK, dispute_id) if lost else None,
        )

    def _event_id(
        self, event_type: str, reference: str, data_id: int | None, raw_body: bytes
    ) -> str:
        if reference:
            return deterministic_event_id(self.name, event_type, reference)
        if data_id is not None:
            return deterministic_event_id(self.name, event_type, f"id:{data_id}")
        return body_event_id(self.name, raw_body)

    def sign(self, raw_body: bytes, secret: bytes, *, now: float, event_id: str) -> dict[str, str]:
        return {SIGNATURE_HEADER: hmac_hex(secret, raw_body, "sha512")}
