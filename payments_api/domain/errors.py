"""The payments API's error hierarchy. Each docstring is the message used when none is given."""

from __future__ import annotations

from schemas.errors import CommandError


class ApiError(CommandError):
    """The API could not complete the request."""


class ProviderError(ApiError):
    """The payment provider did not initialize the payment; retry with a new Idempotency-Key."""


class ProviderUnavailable(ProviderError):
    """The payment provider did not answer in time; retry with a new Idempotency-Key."""


class ProviderRefused(ProviderError):
    """The payment provider refused to initialize the payment."""


class ReferenceTaken(ApiError):
    """Another payment already uses this reference; choose another or omit it."""


class IdempotencyKeyInFlight(ApiError):
    """A request with this Idempotency-Key is still being processed; retry in a moment."""


class IdempotencyKeyReused(ApiError):
    """This Idempotency-Key was used with different parameters; use a new key."""


class ProviderOutcomeUnknown(ProviderError):
    """The provider may have initialized the payment but its answer was lost; the payment stays
    `processing`: a later success webhook credits it, the sweep settles it otherwise."""


class ConfigurationError(ApiError):
    """The API's configuration is invalid."""
