"""What every provider scheme offers: verify a signature, parse a payload, sign (for simulators)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, NamedTuple, Protocol, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from schemas.errors import MalformedPayload, SignatureInvalid, SignatureStale

_EVENT_ID_NAMESPACE = uuid.UUID("6f1c7a52-3c1e-4f6e-9d8e-0b7f3c2a9e11")
# SHA-1 because UUIDv5 is defined with it (RFC 4122 §4.3): an id derivation, not a security use.
_EVENT_ID_SHA1 = hashlib.sha1(_EVENT_ID_NAMESPACE.bytes, usedforsecurity=False)
# The RFC 4122 variant applied to one hex digit: its top two bits become 10.
_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}

# Every field is bounded to the column it ends in (kernel/db/tables.py) before it gets near the
# database: an oversized value is a 400 + DLQ record at the gateway, never a 503 or a DB error.
MAX_MINOR_UNITS = 2**63 - 1  # BIGINT
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
EventType = Annotated[str, StringConstraints(min_length=1, max_length=100)]  # event_type column
Status = Annotated[str, StringConstraints(max_length=100)]
MinorUnits = Annotated[StrictInt, Field(ge=0, le=MAX_MINOR_UNITS)]
# A provider's own id for an event or transaction: event ids are 255 at most, with a prefix.
ProviderId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ProviderIntId = Annotated[StrictInt, Field(ge=0, le=MAX_MINOR_UNITS)]
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class ProviderPayload(BaseModel):
    """Base of the per-provider payload models: unknown fields are kept out, not refused."""

    model_config = ConfigDict(extra="ignore", frozen=True)


M = TypeVar("M", bound=ProviderPayload)
T = TypeVar("T")


class ReversalKind(StrEnum):
    REFUND = "refund"
    CHARGEBACK = "chargeback"


@dataclass(frozen=True, slots=True)
class Reversal:
    """Money going back: a provider refund or a lost dispute, named by the provider's own id
    (a refund id, a dispute id), which is what makes it apply once however often it comes."""

    kind: ReversalKind
    reversal_id: str


class ProviderEvent(NamedTuple):
    """A provider's webhook reduced to what payhooks acts on (a named tuple: one per record on
    every hot path, built in C; a frozen dataclass's `__init__` cost ~7 µs of it).

    `reference` is "" for events that concern no payment (transfers, customers, ...): they are
    still published, keyed by their event id, and the consumer decides what to do with them.
    A reversal (`reversal` set) carries the reversed amount in `amount`; it names its payment by
    `reference` or, where the provider only gives its own id (Stripe), by `provider_txn_id`.
    On a successful payment `provider_txn_id` is the provider's id of the paid transaction.
    """

    event_id: str
    event_type: str
    reference: str
    amount: int | None
    currency: str | None
    provider_status: str | None
    occurred_at: datetime | None
    is_successful_payment: bool
    # The provider's own id for the charge (Paystack/Flutterwave `data.id`, Stripe's object id):
    # binds the payment to one provider-side transaction once known.
    transaction_id: str | None = None
    reversal: Reversal | None = None
    # What the provider's refunds/disputes name the paid transaction by (Stripe: the
    # PaymentIntent, also for Checkout Sessions); stored on the payment at credit time.
    provider_txn_id: str | None = None


class Verified(NamedTuple):
    """Which scheme and which configured secret verified a webhook, without the secret.

    `secret_position` is the secret's 1-based place in the provider's comma-separated setting
    (`secret-1` is the first): enough for ops to see a rotation through, nothing to forge with.
    """

    scheme: str
    secret_position: int
    body_signed: bool = True  # False: a static shared string (Flutterwave verif-hash)

    @property
    def secret_label(self) -> str:
        return f"secret-{self.secret_position}"


class ProviderScheme(Protocol):
    name: str
    signature_header_names: tuple[str, ...]

    def body_signed(self, headers: Mapping[str, str]) -> bool:
        """True when `headers` carry a signature over the body (not only a shared string)."""

    def verify(
        self,
        raw_body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[bytes],
        *,
        now: float,
        tolerance_seconds: int | None,
    ) -> Verified:
        """Raise SignatureInvalid unless one of `secrets` signed `raw_body`.

        `tolerance_seconds=None` skips the timestamp window (re-verifying a stored event).
        """

    def parse(self, raw_body: bytes, headers: Mapping[str, str]) -> ProviderEvent:
        """Raise MalformedPayload unless `raw_body` is this provider's webhook JSON."""

    def sign(self, raw_body: bytes, secret: bytes, *, now: float, event_id: str) -> dict[str, str]:
        """The headers a genuine provider would send with `raw_body` (simulator, tests)."""


def deterministic_event_id(provider: str, event_type: str, reference: str) -> str:
    """An event id for providers that send none: same event, same id, however often it comes.

    `str(uuid.uuid5(_EVENT_ID_NAMESPACE, "<provider>|<event_type>|<reference>"))`, from a SHA-1
    state already fed the namespace and without building a UUID object: it runs per webhook at
    the gateway and again per record in the consumer, where `uuid.uuid5` was ~5 % of the
    consumer's CPU (py-spy). Equal to `uuid.uuid5` for every input (tests/unit/test_event_ids.py).
    """
    state = _EVENT_ID_SHA1.copy()
    state.update(f"{provider}|{event_type}|{reference}".encode())
    text = state.hexdigest()
    # Version 5 in the 13th hex digit, the RFC 4122 variant in the top bits of the 17th.
    return f"{text[:8]}-{text[8:12]}-5{text[13:16]}-{_VARIANT[text[16]]}{text[17:20]}-{text[20:32]}"


def hmac_hex(secret: bytes, message: bytes, digest: str) -> str:
    """`hmac.new(secret, message, digest).hexdigest()`, from a copy of an HMAC already keyed with
    `secret`: OpenSSL 3's one-shot `hmac.digest` looks the algorithm up and keys it on every
    call (~7 µs for a Paystack body), a keyed copy costs ~3.5 µs (measured in one sitting)."""
    mac = _keyed_hmac(secret, digest).copy()
    mac.update(message)
    return mac.hexdigest()


@functools.lru_cache(maxsize=64)
def _keyed_hmac(secret: bytes, digest: str) -> hmac.HMAC:
    """One keyed HMAC per configured secret and digest (a few per process), only ever copied."""
    return hmac.new(secret, digestmod=digest)


def first_match(candidates: Sequence[str], expected: Sequence[str]) -> int | None:
    """The 1-based position of the first `expected` value equal to any candidate, or None.
    Every pair is compared in constant time, with no early exit (nothing leaks which matched)."""
    found: int | None = None
    for position, value in enumerate(expected, start=1):
        hit = False
        for candidate in candidates:
            hit |= hmac.compare_digest(candidate.encode(), value.encode())
        if hit and found is None:
            found = position
    return found


def require_header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise SignatureInvalid(f"the {name} header is missing")
    return value


def unix_seconds(text: str) -> int | None:
    """ASCII digits only, at most 12 of them (`"٣"` and 5,000-digit values are not times)."""
    return int(text) if _UNIX_SECONDS.fullmatch(text) else None


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
    """`model.model_validate_json(raw_body)` by the model's own validator, without that
    method's argument handling (~1.5 µs per webhook); MalformedPayload if it does not fit."""
    try:
        validated: M = model.__pydantic_validator__.validate_json(raw_body)
        return validated
    except ValidationError as exc:
        raise _not_valid(provider, exc) from exc


def parse_typed(adapter: TypeAdapter[T], raw_body: bytes, provider: str) -> T:
    """`adapter.validate_json(raw_body)` by its validator (no argument handling), for payloads
    described as `TypedDict`s: plain dicts out, no model instances built, every bound the same
    (Paystack's payload: 1.0 instead of 3.2 µs); MalformedPayload if it does not fit."""
    try:
        validated: T = adapter.validator.validate_json(raw_body)
        return validated
    except ValidationError as exc:
        raise _not_valid(provider, exc) from exc


def _not_valid(provider: str, error: ValidationError) -> MalformedPayload:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return MalformedPayload(f"{provider} webhook body is not valid: {where}: {first['msg']}")


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
    if not amount.is_finite() or amount.adjusted() > 20:
        raise MalformedPayload(
            f"{provider} webhook amount {amount:.3g} {currency} is not a payment"
        )
    scaled = amount.scaleb(minor_unit_exponent(currency))
    if scaled > MAX_MINOR_UNITS:
        raise MalformedPayload(f"{provider} webhook amount {amount} {currency} is out of range")
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


def require_reversal_fields(
    provider: str,
    event_type: str,
    *,
    payment: str,
    reversal_id: str,
    amount: int | None,
    currency: str | None,
) -> None:
    """A refund or lost dispute must name its payment, its own id, amount and currency: 400."""
    missing = [
        name
        for name, value in (
            ("the payment", payment),
            ("a refund/dispute id", reversal_id),
            ("amount", amount),
            ("currency", currency),
        )
        if value in (None, "")
    ]
    if missing:
        raise MalformedPayload(
            f"{provider} {event_type} webhook lacks {', '.join(missing)}; it cannot be reversed"
        )
    if amount is not None and amount <= 0:
        raise MalformedPayload(f"{provider} {event_type} webhook amount must be positive")


def require_payment_fields(
    provider: str, event_type: str, reference: str, amount: int | None, currency: str | None
) -> None:
    """A payment-success event without reference, amount and currency cannot be acted on: 400."""
    if reference and amount is not None and currency:  # every genuine success: nothing to name
        return
    missing = [
        name
        for name, value in (("reference", reference), ("amount", amount), ("currency", currency))
        if value in (None, "")
    ]
    if missing:
        raise MalformedPayload(
            f"{provider} {event_type} webhook lacks {', '.join(missing)}; it cannot be credited"
        )
