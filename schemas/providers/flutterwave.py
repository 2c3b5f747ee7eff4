"""Flutterwave: `verif-hash` (the dashboard's secret hash, sent as is) or `flutterwave-signature`
(base64 HMAC-SHA256 of the raw body keyed with that secret hash).

`verif-hash` does not bind the body: whoever learns the hash can forge any event, so payhooks
credits only what matches the initialized payment, and the consumer may verify with the API.
A request passes when any signature header it carries verifies against any configured hash.
Flutterwave sends amounts in MAJOR units (`"amount": 1500.5`); they are converted to minor units
here so every amount inside payhooks is an int of minor units.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from pydantic import Field, StrictInt

from schemas.errors import SignatureInvalid
from schemas.providers.base import (
    Currency,
    ProviderEvent,
    ProviderPayload,
    Reference,
    body_event_id,
    matches_any,
    parse_model,
    require_payment_fields,
    to_minor_units,
)

HASH_HEADER = "verif-hash"
SIGNATURE_HEADER = "flutterwave-signature"
SUCCESS_EVENT = "charge.completed"


class FlutterwaveData(ProviderPayload):
    id: StrictInt | str | None = None
    tx_ref: Reference | None = None
    flw_ref: str | None = None
    amount: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)
    currency: Currency | None = None
    status: str | None = None
    created_at: datetime | None = None


class FlutterwaveWebhook(ProviderPayload):
    event: str = Field(min_length=1, max_length=100)
    data: FlutterwaveData


def body_signature(secret: bytes, raw_body: bytes) -> str:
    return base64.b64encode(hmac.new(secret, raw_body, hashlib.sha256).digest()).decode()


class FlutterwaveScheme:
    name = "flutterwave"
    signature_header_names: tuple[str, ...] = (HASH_HEADER, SIGNATURE_HEADER)

    def verify(
        self,
        raw_body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[bytes],
        *,
        now: float,
        tolerance_seconds: int | None,
    ) -> None:
        given_hash = headers.get(HASH_HEADER, "").strip()
        given_signature = headers.get(SIGNATURE_HEADER, "").strip()
        if not given_hash and not given_signature:
            raise SignatureInvalid(f"neither {HASH_HEADER} nor {SIGNATURE_HEADER} is present")
        hash_ok = bool(given_hash) and matches_any(
            given_hash, [secret.decode(errors="replace") for secret in secrets]
        )
        signature_ok = bool(given_signature) and matches_any(
            given_signature, [body_signature(secret, raw_body) for secret in secrets]
        )
        if not (hash_ok or signature_ok):
            raise SignatureInvalid(
                f"{HASH_HEADER} / {SIGNATURE_HEADER} do not match the configured secret hash"
            )

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
        return ProviderEvent(
            event_id=f"flw-{data.id}"
            if data.id is not None
            else body_event_id(self.name, raw_body),
            event_type=payload.event,
            reference=reference,
            amount=amount,
            currency=data.currency,
            provider_status=data.status,
            occurred_at=data.created_at,
            is_successful_payment=successful,
        )

    def sign(self, raw_body: bytes, secret: bytes, *, now: float, event_id: str) -> dict[str, str]:
        return {HASH_HEADER: secret.decode(), SIGNATURE_HEADER: body_signature(secret, raw_body)}
