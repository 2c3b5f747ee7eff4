"""The one error base class of payhooks, and the errors of the shared contracts.

Each class's docstring is the message a user sees when none is given (one line, whitespace
collapsed). Every package's hierarchy derives from `PayhooksError`.
"""

from __future__ import annotations


class PayhooksError(Exception):
    """payhooks could not do what was asked."""

    def __init__(self, message: str | None = None) -> None:
        text = message or (self.__doc__ or "").strip()
        super().__init__(" ".join(text.split()))  # one line, whatever the cause's text held

    @property
    def message(self) -> str:
        return str(self)


class CommandError(PayhooksError):
    """The command could not be carried out.

    The `payhooks` CLI prints these as one line `error: <message>` and exits with `exit_code`,
    even from a server command: they are the user's to fix, not crashes.
    """

    exit_code = 1


class ContractError(PayhooksError):
    """The input does not meet a payhooks contract."""


class SignatureInvalid(ContractError):
    """The webhook signature is missing or does not match any configured secret."""


class SignatureStale(SignatureInvalid):
    """The webhook timestamp is outside the accepted window; check the sender's clock."""


class MalformedPayload(ContractError):
    """The webhook is signed correctly but its body is not the JSON this provider sends."""


class MalformedEnvelope(ContractError):
    """The Kafka record is not a payhooks event envelope."""
