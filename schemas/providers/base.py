"""What every provider scheme offers: verify a signature, parse a payload, sign (for simulators)."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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
    """A provider's webhook reduced to what payhooks acts on."""

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
