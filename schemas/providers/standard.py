"""Standard Webhooks (Svix and others): `webhook-id`, `webhook-timestamp`, and
`webhook-signature: v1,<base64> [v1,<base64> …]`, HMAC-SHA256 of `"<id>.<timestamp>.<raw body>"`
keyed with the base64-decoded part of the secret after `whsec_`.

Payhooks' payload convention for this scheme (documented in docs/providers.md):
`{"type": "payment.succeeded" | "payment.failed" | …, "timestamp": "<ISO 8601>",
  "data": {"reference": "…", "amount": <int minor units>, "currency": "NGN", "status": "…"}}`.
Only `payment.succeeded` credits. The event id is the `webhook-id` header.
Reversals: `payment.refunded` (`data.refund_id`, the refunded `data.amount`) and
`payment.charged_back` (`data.dispute_id`, the amount lost) debit the wallet once per id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime

from schemas.errors import MalformedPayload, SignatureInvalid
from schemas.providers.base import (
    Currency,
    EventType,
    MinorUnits,
    ProviderEvent,
    ProviderId,
    ProviderPayload,
    Reference,
    Reversal,
    ReversalKind,
    Status,
    Verified,
    check_timestamp,
    first_match,
    parse_model,
    require_header,
    require_payment_fields,
    require_reversal_fields,
    unix_seconds,
)

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SUCCESS_EVENT = "payment.succeeded"
REFUND_EVENT = "payment.refunded"
CHARGEBACK_EVENT = "payment.charged_back"


class StandardData(ProviderPayload):
    id: ProviderId | None = None
    reference: Reference | None = None
    amount: MinorUnits | None = None
    currency: Currency | None = None
    status: Status | None = None
    refund_id: ProviderId | None = None
    dispute_id: ProviderId | None = None


class StandardWebhook(ProviderPayload):
    type: EventType
    timestamp: datetime | None = None
    data: StandardData


def signing_key(secret: bytes) -> bytes | None:
    """`whsec_<base64>` (or bare base64) → key bytes; None for a secret that is not base64."""
    text = secret.decode(errors="replace").strip()
    text = text.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _signature(key: bytes, msg_id: str, timestamp: str, raw_body: bytes) -> str:
    message = f"{msg_id}.{timestamp}.".encode() + raw_body
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def _given_signatures(header: str) -> list[str]:
    return [
        signature
        for version, _, signature in (part.partition(",") for part in header.split())
        if version == "v1" and signature
    ]


def _reversal(event_type: str, data: StandardData) -> Reversal | None:
    if event_type == REFUND_EVENT:
        return Reversal(ReversalKind.REFUND, f"refund:{data.refund_id}" if data.refund_id else "")
    if event_type == CHARGEBACK_EVENT:
        return Reversal(
            ReversalKind.CHARGEBACK, f"dispute:{data.dispute_id}" if data.dispute_id else ""
        )
    return None


class StandardScheme:
    name = "standard"
    signature_header_names: tuple[str, ...] = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)

    def verify(
        self,
        raw_body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[bytes],
        *,
        now: float,
        tolerance_seconds: int | None,
    ) -> Verified:
        msg_id = require_header(headers, ID_HEADER)
        timestamp = require_header(headers, TIMESTAMP_HEADER)
        given = _given_signatures(require_header(headers, SIGNATURE_HEADER))
        seconds = unix_seconds(timestamp)
        if seconds is None:
            raise SignatureInvalid(f"{TIMESTAMP_HEADER} must be unix seconds")
        # An undecodable secret keeps its place (so positions match the setting) but never matches.
        expected = [
            _signature(key, msg_id, timestamp, raw_body) if key is not None else ""
            for key in map(signing_key, secrets)
        ]
        position = first_match(given, expected) if given else None
        if position is None:
            raise SignatureInvalid(
                f"no v1 signature in {SIGNATURE_HEADER} matches: sign '<id>.<timestamp>.<body>' "
                "with HMAC-SHA256 keyed with the base64-decoded whsec_ secret"
            )
        check_timestamp(seconds, now, tolerance_seconds)
        return Verified("standard-webhooks-v1", position)

    def body_signed(self, headers: Mapping[str, str]) -> bool:
        return True

    def parse(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        payload = parse_model(StandardWebhook, raw_body, self.name)
        msg_id = headers.get(ID_HEADER, "").strip()
        if not msg_id or len(msg_id) > 255:
            raise MalformedPayload(f"standard webhook has no usable {ID_HEADER} header")
        data = payload.data
        reference = data.reference or ""
        successful = payload.type == SUCCESS_EVENT
        if successful:
            require_payment_fields(self.name, payload.type, reference, data.amount, data.currency)
        reversal = _reversal(payload.type, data)
        if reversal is not None:
            require_reversal_fields(
                self.name,
                payload.type,
                payment=reference,
                reversal_id=reversal.reversal_id,
                amount=data.amount,
                currency=data.currency,
            )
        return ProviderEvent(
            event_id=msg_id,
            event_type=payload.type,
            reference=reference,
            amount=data.amount,
            currency=data.currency,
            provider_status=data.status,
            occurred_at=payload.timestamp,
            is_successful_payment=successful,
            transaction_id=data.id,
            reversal=reversal,
        )

    def sign(self, raw_body: bytes, secret: bytes, *, now: float, event_id: str) -> dict[str, str]:
        key = signing_key(secret)
        if key is None:
            raise ValueError("a Standard Webhooks secret is whsec_ followed by base64")
        timestamp = str(int(now))
        return {
            ID_HEADER: event_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: "v1," + _signature(key, event_id, timestamp, raw_body),
        }
