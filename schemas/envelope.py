"""The versioned event envelope every webhook becomes on `<prefix>.webhooks`."""

from __future__ import annotations

import base64
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.errors import MalformedEnvelope

SCHEMA_VERSION = 1


class WebhookEnvelope(BaseModel):
    """A provider's webhook as received: the normalized fields plus what is needed to re-verify it.

    What is credited derives from `raw_body` once its signature is verified again; the normalized
    fields are for routing, logs and ops tooling.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = SCHEMA_VERSION
    event_id: str = Field(min_length=1, max_length=255)
    provider: str
    event_type: str
    reference: str
    amount: int | None = None
    currency: str | None = None
    provider_status: str | None = None
    occurred_at: datetime | None = None
    received_at: datetime
    raw_body: str = Field(description="base64 of the exact bytes received")
    signature_headers: dict[str, str] = Field(default_factory=dict)

    @property
    def body_bytes(self) -> bytes:
        return base64.b64decode(self.raw_body)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, value: bytes | None) -> WebhookEnvelope:
        if not value:
            raise MalformedEnvelope("the record has no value")
        try:
            return cls.model_validate_json(value)
        except ValidationError as exc:
            raise MalformedEnvelope(f"not a payhooks envelope: {exc.errors()[0]['msg']}") from exc


def encode_body(raw_body: bytes) -> str:
    return base64.b64encode(raw_body).decode()
