"""What every provider scheme offers: verify a signature, parse a payload, sign (for simulators)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from schemas.errors import MalformedPayload, SignatureInvalid, SignatureStale

_EVENT_ID_NAMESPACE = uuid.UUID("6f1c7a52-3c1e-4f6e-9d8e-0b7f3c2a9e11")

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]


class ProviderPayload(BaseModel):
    """Base of the per-provider payload models: unknown fields are kept out, not refused."""

    model_config = ConfigDict(extra="ignore", frozen=True)


M = TypeVar("M", bound=ProviderPayload)


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A provider's webhook reduced to what payhooks acts on.

    `reference` is "" for events that concern no payment (transfers, customers, ...): they are
    still published, keyed by their event id, and the consumer decides what to do with them.
    """

    event_id: str
    event_type: str
    reference: str
    amount: int | None
    currency: str | None
    provider_status: str | None
    occurred_at: datetime | None
    is_successful_payment: bool


class ProviderScheme(Protocol):
    name: str
    signature_header_names: tuple[str, ...]

    def verify(
        self,
        raw_body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[bytes],
        *,
        now: float,
        tolerance_seconds: int | None,
    ) -> None:
        """Raise SignatureInvalid unless one of `secrets` signed `raw_body`.

        `tolerance_seconds=None` skips the timestamp window (re-verifying a stored event).
        """

    def parse(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Raise MalformedPayload unless `raw_body` is this provider's webhook JSON."""

    def sign(self, raw_body: bytes, secret: bytes, *, now: float, event_id: str) -> dict[str, str]:
        """The headers a genuine provider would send with `raw_body` (simulator, tests)."""


def deterministic_event_id(provider: str, event_type: str, reference: str) -> str:
    """An event id for providers that send none: same event, same id, however often it comes."""
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{provider}|{event_type}|{reference}"))


def hmac_hex(secret: bytes, message: bytes, digest: str) -> str:
    return hmac.new(secret, message, digest).hexdigest()


def matches_any(candidate: str, expected: Sequence[str]) -> bool:
    """Constant-time: true if `candidate` equals any of `expected` (several secrets: rotation)."""
    found = False
    for value in expected:
        found |= hmac.compare_digest(candidate.encode(), value.encode())
    return found


def require_header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise SignatureInvalid(f"the {name} header is missing")
    return value


def check_timestamp(timestamp: int, now: float, tolerance_seconds: int | None) -> None:
    if tolerance_seconds is None:
        return
    if timestamp < now - tolerance_seconds:
        raise SignatureStale(
            f"the webhook timestamp is {int(now - timestamp)} s old, over the "
            f"{tolerance_seconds} s tolerance; the provider will retry with a fresh one"
        )
    if timestamp > now + tolerance_seconds:
        raise SignatureStale(
            f"the webhook timestamp is {int(timestamp - now)} s in the future, over the "
            f"{tolerance_seconds} s tolerance; check the sender's clock"
        )


def parse_model(model: type[M], raw_body: bytes, provider: str) -> M:
    try:
        return model.model_validate_json(raw_body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise MalformedPayload(
            f"{provider} webhook body is not valid: {where}: {first['msg']}"
        ) from exc


# Currencies whose minor unit is not 1/100 (ISO 4217). Providers that send major units
# (Flutterwave) are converted with these, so every amount in payhooks is an int of minor units.
_MINOR_UNIT_EXPONENT: dict[str, int] = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def minor_unit_exponent(currency: str) -> int:
    return _MINOR_UNIT_EXPONENT.get(currency.upper(), 2)


def to_minor_units(amount: Decimal, currency: str, provider: str) -> int:
    """A major-unit amount (e.g. 1500.50 NGN) as an int of minor units (150050)."""
    scaled = amount.scaleb(minor_unit_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise MalformedPayload(
            f"{provider} webhook amount {amount} {currency} has more decimals than the currency"
        )
    return int(scaled)


def to_major_units(amount: int, currency: str) -> Decimal:
    """The inverse of `to_minor_units`, for provider APIs that take major units."""
    return Decimal(amount).scaleb(-minor_unit_exponent(currency))


def body_event_id(provider: str, raw_body: bytes) -> str:
    """Last-resort event id for an event naming neither itself nor a payment: the body hash."""
    return deterministic_event_id(provider, "body", hashlib.sha256(raw_body).hexdigest())


def require_payment_fields(
    provider: str, event_type: str, reference: str, amount: int | None, currency: str | None
) -> None:
    """A payment-success event without reference, amount and currency cannot be acted on: 400."""
    missing = [
        name
        for name, value in (("reference", reference), ("amount", amount), ("currency", currency))
        if value in (None, "")
    ]
    if missing:
        raise MalformedPayload(
            f"{provider} {event_type} webhook lacks {', '.join(missing)}; it cannot be credited"
        )
