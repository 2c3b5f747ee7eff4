"""Paystack: HMAC-SHA512 of the raw body, hex, in `x-paystack-signature`.

No timestamp (so no replay window) and no event id (one is derived).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import StrictInt

from schemas.errors import SignatureInvalid
from schemas.providers.base import (
    Currency,
    ProviderEvent,
    ProviderPayload,
    Reference,
    deterministic_event_id,
    hmac_hex,
    matches_any,
    parse_model,
    require_header,
)

SIGNATURE_HEADER = "x-paystack-signature"


class PaystackData(ProviderPayload):
    id: StrictInt | None = None
    reference: Reference
    amount: StrictInt
    currency: Currency
    status: str | None = None
    paid_at: datetime | None = None


class PaystackWebhook(ProviderPayload):
    event: str
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
    ) -> None:
        given = require_header(headers, SIGNATURE_HEADER).lower()
        expected = [hmac_hex(secret, raw_body, hashlib.sha512().name) for secret in secrets]
        if not matches_any(given, expected):
            raise SignatureInvalid(
                f"{SIGNATURE_HEADER} does not match: sign the raw body with HMAC-SHA512 "
                "keyed with your Paystack secret key"
            )

    def parse(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        payload = parse_model(PaystackWebhook, raw_body, self.name)
        data = payload.data
        return ProviderEvent(
            event_id=deterministic_event_id(self.name, payload.event, data.reference),
            event_type=payload.event,
            reference=data.reference,
            amount=data.amount,
            currency=data.currency,
            provider_status=data.status,
            occurred_at=data.paid_at,
            is_successful_payment=payload.event == "charge.success" and data.status == "success",
        )

    def sign(self, raw_body: bytes, secret: bytes, *, now: float, event_id: str) -> dict[str, str]:
        return {SIGNATURE_HEADER: hmac_hex(secret, raw_body, hashlib.sha512().name)}
