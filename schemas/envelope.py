"""The versioned event envelope every webhook becomes on `<prefix>.webhooks`."""

from __future__ import annotations

import binascii
import itertools
from datetime import datetime
from typing import TypedDict

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas.errors import MalformedEnvelope

SCHEMA_VERSION = 1
# Headers whose value is a shared secret, not a signature: never kept in an envelope.
SECRET_HEADERS = frozenset({"verif-hash"})
# The columns the fields end in (processed_events, kernel/db/tables.py), and the labels'.
EVENT_ID_MAX = 255
EVENT_TYPE_MAX = 100
REFERENCE_MAX = 100
SCHEME_LABEL_MAX = 64
SECRET_LABEL_MAX = 32


class WebhookEnvelope(BaseModel):
    """A provider's webhook as received: the normalized fields plus what is needed to re-verify it.

    What is credited derives from `raw_body` once its signature is verified again; the normalized
    fields are for routing, logs and ops tooling.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = SCHEMA_VERSION
    event_id: str = Field(min_length=1, max_length=EVENT_ID_MAX)
    provider: str
    event_type: str = Field(max_length=EVENT_TYPE_MAX)  # the columns they end in
    reference: str = Field(max_length=REFERENCE_MAX)
    amount: int | None = None
    currency: str | None = None
    provider_status: str | None = None
    occurred_at: datetime | None = None
    received_at: datetime
    raw_body: str = Field(description="base64 of the exact bytes received")
    signature_headers: dict[str, str] = Field(default_factory=dict)
    # Which scheme and which configured secret verified it at the gateway (never the secret):
    # e.g. "stripe-v1" / "secret-2" during a rotation; None on records written before.
    verified_scheme: str | None = Field(default=None, max_length=SCHEME_LABEL_MAX)
    verified_secret: str | None = Field(default=None, max_length=SECRET_LABEL_MAX)

    @field_validator("signature_headers")
    @classmethod
    def _no_shared_secrets(cls, headers: dict[str, str]) -> dict[str, str]:
        """Records written before kept Flutterwave's verif-hash (the secret itself): it is
        dropped on read, so nothing downstream sees, prints or republishes it. Such an event
        reads as hash-only, and the provider's confirmation decides it."""
        if SECRET_HEADERS.isdisjoint(headers):  # every record written since: kept as parsed
            return headers
        return {name: value for name, value in headers.items() if name not in SECRET_HEADERS}

    @property
    def body_bytes(self) -> bytes:
        """`base64.b64decode(raw_body)` without its Python wrapper (the same C decoder and the
        same errors: ValueError for a non-ASCII string, binascii.Error for bad padding)."""
        return binascii.a2b_base64(self.raw_body)

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


class EnvelopeFields(TypedDict):
    """Every field of a `WebhookEnvelope`, in its order (`envelope_value`'s input)."""

    schema_version: int
    event_id: str
    provider: str
    event_type: str
    reference: str
    amount: int | None
    currency: str | None
    provider_status: str | None
    occurred_at: datetime | None
    received_at: datetime
    raw_body: str
    signature_headers: dict[str, str]
    verified_scheme: str | None
    verified_secret: str | None


def envelope_value(fields: EnvelopeFields) -> bytes:
    """`WebhookEnvelope(**fields).to_bytes()`, the same bytes, without building and validating
    the model when the fields already fit it — the gateway's fields come from a provider
    payload its scheme has just validated (~6 µs per webhook). `fields` in the model's order,
    as `EnvelopeFields` lists them (orjson writes them in that order). Anything that might not
    fit (a type other than the field's own, a length over its column, a secret header, a
    value orjson writes differently) goes through the model: its ValidationError as before."""
    if _fits(fields) and _whole_minutes(fields["received_at"]):
        try:
            return orjson.dumps(fields, option=orjson.OPT_UTC_Z)
        except TypeError:
            pass
    return WebhookEnvelope(**fields).to_bytes()


_OPTIONAL_TEXT, _OPTIONAL_INT = (str, type(None)), (int, type(None))
# The type of each field's value, in the model's order, that validation keeps as it is (an int
# for an int, not a bool or "12"): every combination of them, for one set lookup per envelope.
_KEPT_TYPES = frozenset(
    itertools.product(
        (int,), (str,), (str,), (str,), (str,), _OPTIONAL_INT, _OPTIONAL_TEXT, _OPTIONAL_TEXT,
        (datetime, type(None)), (datetime,), (str,), (dict,), _OPTIONAL_TEXT, _OPTIONAL_TEXT,
    )
)  # fmt: skip


_TEXT = frozenset({str})  # the one type a signature header's name and value may have


def _fits(fields: EnvelopeFields) -> bool:
    """True when validation would keep every field as it is: exactly its type, within its
    column, the signature headers plain text and no shared secret among them."""
    headers = fields["signature_headers"]
    return (
        tuple(map(type, fields.values())) in _KEPT_TYPES
        and 0 < len(fields["event_id"]) <= EVENT_ID_MAX
        and len(fields["event_type"]) <= EVENT_TYPE_MAX
        and len(fields["reference"]) <= REFERENCE_MAX
        and len(fields["verified_scheme"] or "") <= SCHEME_LABEL_MAX
        and len(fields["verified_secret"] or "") <= SECRET_LABEL_MAX
        and _whole_minutes(fields["occurred_at"])
        and headers.keys().isdisjoint(SECRET_HEADERS)
        and _TEXT.issuperset(map(type, headers))
        and _TEXT.issuperset(map(type, headers.values()))
    )


def _whole_minutes(moment: datetime | None) -> bool:
    offset = moment.utcoffset() if moment is not None else None
    return offset is None or (offset.seconds % 60 == 0 and offset.microseconds == 0)


def encode_body(raw_body: bytes) -> str:
    """`base64.b64encode(raw_body).decode()`: the same C encoder without its Python wrapper."""
    return binascii.b2a_base64(raw_body, newline=False).decode("ascii")
