"""A raw webhook in, a verified and normalized envelope out (or a typed error)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from schemas.envelope import WebhookEnvelope, encode_body
from schemas.providers import ProviderScheme


def verify_and_normalize(
    scheme: ProviderScheme,
    raw_body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[bytes],
    *,
    now: float,
    tolerance_seconds: int,
    received_at: datetime,
) -> WebhookEnvelope:
    """Raise SignatureInvalid or MalformedPayload, else the envelope to publish.

    The signature is checked before the body is parsed: nothing unsigned is ever interpreted.
    """
    scheme.verify(raw_body, headers, secrets, now=now, tolerance_seconds=tolerance_seconds)
    event = scheme.parse(raw_body, headers)
    return WebhookEnvelope(
        event_id=event.event_id,
        provider=scheme.name,
        event_type=event.event_type,
        reference=event.reference,
        amount=event.amount,
        currency=event.currency,
        provider_status=event.provider_status,
        occurred_at=event.occurred_at,
        received_at=received_at,
        raw_body=encode_body(raw_body),
        signature_headers={
            name: headers[name] for name in scheme.signature_header_names if name in headers
        },
    )
