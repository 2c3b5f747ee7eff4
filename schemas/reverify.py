"""Re-verifying a stored envelope: the one implementation the consumer (before crediting) and
`payhooks dlq replay` (before republishing) share. What is credited derives from the verified raw
body, never from an envelope field alone."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.envelope import WebhookEnvelope
from schemas.errors import ContractError
from schemas.providers import SCHEMES, ProviderEvent


class NotReverifiable(ContractError):
    """The stored webhook cannot be verified again."""


def reverified_event(
    envelope: WebhookEnvelope, secrets: Sequence[bytes], *, hash_only_ok: bool = False
) -> ProviderEvent:
    """Verify the stored raw body against `secrets` (no timestamp window: it was checked on
    arrival) and parse the event from it. A hash-only scheme (nothing in the body is signed)
    passes unverified only with `hash_only_ok`: the consumer confirms those with the provider.
    Raises NotReverifiable, naming why."""
    scheme = SCHEMES.get(envelope.provider)
    if scheme is None:
        raise NotReverifiable(f"unknown provider {envelope.provider!r}")
    try:
        body = envelope.body_bytes
    except ValueError as exc:
        raise NotReverifiable(f"stored raw_body is not base64: {exc}") from exc
    signed = scheme.body_signed(envelope.signature_headers)
    if not signed and not hash_only_ok:
        raise NotReverifiable(
            f"{envelope.provider} event carries no body signature (hash-only); "
            "it needs confirmation with the provider"
        )
    try:
        if signed:
            scheme.verify(body, envelope.signature_headers, secrets, now=0, tolerance_seconds=None)
        return scheme.parse(body, envelope.signature_headers)
    except ContractError as exc:
        raise NotReverifiable(f"stored body fails re-verification: {exc}") from exc
