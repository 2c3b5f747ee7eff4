"""Payment initialization rules: the request, its fingerprint, and what a stored idempotency key
means for a new request (Stripe's semantics; brandur's rocket-rides-atomic). Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

MAX_IDEMPOTENCY_KEY = 255
# Printable ASCII, no spaces: what an HTTP header carries safely and what the provider call echoes.
IDEMPOTENCY_KEY = re.compile(rf"^[\x21-\x7e]{{1,{MAX_IDEMPOTENCY_KEY}}}$")
MAX_METADATA_KEYS = 20
REFERENCE = re.compile(r"^[A-Za-z0-9._\-]{1,100}$")
USER_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")

Provider = Literal["paystack", "stripe", "flutterwave", "standard"]

# No control characters (NUL above all: PostgreSQL text cannot hold it).
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
UserId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, strip_whitespace=True, pattern=_PRINTABLE),
]
MetadataKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,40}$")]
MetadataValue = (
    Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00]*$")]
    | StrictInt
    | bool
    | None
)


class InitializePayment(BaseModel):
    """The body of POST /payments (a command). Every field is bounded to its column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: UserId = Field(description="the merchant's user id")
    amount: StrictInt = Field(gt=0, lt=2**63, description="minor units (kobo, cents)")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = Field(
        description="ISO 4217 code"
    )
    provider: Provider
    email: Annotated[
        str,
        StringConstraints(
            max_length=320,
            pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$",
        ),
    ]
    reference: Annotated[str, StringConstraints(pattern=REFERENCE.pattern)] | None = Field(
        default=None, description="optional, unique; generated when absent"
    )
    metadata: dict[MetadataKey, MetadataValue] | None = Field(
        default=None,
        max_length=MAX_METADATA_KEYS,
        description="flat key/value pairs, stored on the payment; only the allow-listed keys "
        "(PAYHOOKS_API_METADATA_KEYS) are passed on to the provider",
    )


# fullmatch, not match: re's `$` also matches before a trailing newline ("ref-1\n"), pydantic's
# (Rust) regex does not, so `match` would let through what the request models refuse.
def could_be_reference(text: str) -> bool:
    """False for what no payment's reference can be (so it is never sent to the database)."""
    return REFERENCE.fullmatch(text) is not None


def could_be_user_id(text: str) -> bool:
    return USER_ID.fullmatch(text) is not None


def valid_idempotency_key(key: str) -> bool:
    return IDEMPOTENCY_KEY.fullmatch(key) is not None


def metadata_for_provider(
    metadata: dict[str, Any] | None, allowed: tuple[str, ...]
) -> dict[str, Any]:
    """Only the allow-listed keys: a client must not set provider-side redirect/checkout fields."""
    return {key: value for key, value in (metadata or {}).items() if key in allowed}


def fingerprint(request: InitializePayment) -> str:
    """Same parameters, same fingerprint, whatever the JSON key order or spacing."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def new_reference() -> str:
    return f"ph_{secrets.token_hex(12)}"


class KeyVerdict(StrEnum):
    REPLAY = "replay"  # the first request finished: send its response again
    IN_FLIGHT = "in_flight"  # the first request is still running: 409
    MISMATCH = "mismatch"  # the key was used with other parameters: 422
    EXPIRED = "expired"  # older than the TTL: forget it, start afresh
    ABANDONED = "abandoned"  # locked too long ago with no response: its holder died, resume


@dataclass(frozen=True, slots=True)
class StoredKey:
    fingerprint: str
    has_response: bool
    locked_at: datetime | None
    created_at: datetime


def judge_key(
    stored: StoredKey,
    request_fingerprint: str,
    *,
    now: datetime,
    ttl: timedelta,
    lock_timeout: timedelta,
) -> KeyVerdict:
    if stored.created_at < now - ttl:
        return KeyVerdict.EXPIRED
    if stored.fingerprint != request_fingerprint:
        return KeyVerdict.MISMATCH
    if stored.has_response:
        return KeyVerdict.REPLAY
    if stored.locked_at is not None and stored.locked_at > now - lock_timeout:
        return KeyVerdict.IN_FLIGHT
    return KeyVerdict.ABANDONED
