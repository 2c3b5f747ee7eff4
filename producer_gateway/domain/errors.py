"""The gateway's error hierarchy. Each docstring is the message used when none is given."""

from __future__ import annotations


class GatewayError(Exception):
    """The gateway could not complete the request."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip().splitlines()[0])

    @property
    def message(self) -> str:
        return str(self)


class ProviderError(GatewayError):
    """The payment provider did not initialize the payment; retry with a new Idempotency-Key."""


class ProviderUnavailable(ProviderError):
    """The payment provider did not answer in time; retry with a new Idempotency-Key."""


class ProviderRefused(ProviderError):
    """The payment provider refused to initialize the payment."""


class ReferenceTaken(GatewayError):
    """Another payment already uses this reference; choose another or omit it."""


class IdempotencyKeyInFlight(GatewayError):
    """A request with this Idempotency-Key is still being processed; retry in a moment."""


class IdempotencyKeyReused(GatewayError):
    """This Idempotency-Key was used with different parameters; use a new key."""
