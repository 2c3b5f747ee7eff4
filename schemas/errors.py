"""Errors of the shared contracts; each docstring is the message a user sees by default."""

from __future__ import annotations


class ContractError(Exception):
    """The input does not meet a payhooks contract."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self)


class SignatureInvalid(ContractError):
    """The webhook signature is missing or does not match any configured secret."""


class SignatureStale(SignatureInvalid):
    """The webhook timestamp is outside the accepted window; check the sender's clock."""


class MalformedPayload(ContractError):
    """The webhook is signed correctly but its body is not the JSON this provider sends."""


class MalformedEnvelope(ContractError):
    """The Kafka record is not a payhooks event envelope."""
