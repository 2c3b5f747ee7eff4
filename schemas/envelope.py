"""The versioned event envelope every webhook becomes on `<prefix>.webhooks`."""

from __future__ import annotations

import base64
from datetime import datetime

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.errors import MalformedEnvelope

SCHEMA_VERSION = 1
# Headers whose value is a shared secret, not a signature: never kept in an envelope.
SECRET_HEADERS = frozenset({"verif-hash"})


class WebhookEnvelope(BaseModel):
    """A provider's webhook as received: the normalized fields plus what is needed to re-verify it.

    What is credited derives from `raw_body` once its signature is verified again; the normalized
    fields are for routing, logs and ops tooling.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = SCHEMA_VERSION
    event_id: str = Field(min_length=1, max_length=255)
    provider: str
    event_type: str = Field(max_length=100)  # the columns they end in (processed_events)
    reference: str = Field(max_length=100)
    amount: int | None = None
    currency: str | None = None
    provider_status: str | None = None
    occurred_at: datetime | None = None
    received_at: datetime
    raw_body: str = Field(description="base64 of the exact bytes received")
    signature_headers: dict[str, str] = Field(default_factory=dict)
    # Which scheme and which configured secret verified it at the gateway (never the secret):
    # e.g. "stripe-v1" / "secret-2" during a rotation; None on records written before.
    verified_scheme: str | None = Field(default=None, max_length=64)
    verified_secret: str | None = Field(default=None, max_length=32)

    @field_validator("signature_headers")
    @classmethod
    def _no_shared_secrets(cls, headers: dict[str, str]) -> dict[str, str]:
        """Records written before kept Flutterwave's verif-hash (the secret itself): it is
        dropped on read, so nothing downstream sees, prints or republishes it. Such an event
        reads as hash-only, and the provider's confirmation decides it."""
        return {name: value for name, value in headers.items() if name not in SECRET_HEADERS}

    @property
    def body_bytes(self) -> bytes:
        return base64.b64decode(self.raw_body)

    def to_bytes(self) -> bytes:
        """The record value: `model_dump_json()`'s exact bytes, written by orjson from the
        validated fields (~1 µs instead of ~5.5 per webhook). Where the two could differ, a
        UTC offset with seconds (orjson rounds it, pydantic drops them) or a value orjson does
        not take (an int past 64 bits), pydantic writes it (tests/unit/test_envelope_bytes.py)."""
        if _whole_minutes(self.received_at) and _whole_minutes(self.occurred_at):
            try:
                return orjson.dumps(self.__dict__, option=orjson.OPT_UTC_Z)
            except TypeError:
                pass
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, value: bytes | None) -> WebhookEnvelope:
        if not value:
            raise MalformedEnvelope("the record has no value")
        try:
            return cls.model_validate_json(value)
        except ValidationError as exc:
            raise MalformedEnvelope(f"not a payhooks envelope: {exc.errors()[0]['msg']}") from exc


def _whole_minutes(moment: datetime | None) -> bool:
    offset = moment.utcoffset() if moment is not None else None
    return offset is None or (offset.seconds % 60 == 0 and offset.microseconds == 0)


def encode_body(raw_body: bytes) -> str:
    return base64.b64encode(raw_body).decode()
