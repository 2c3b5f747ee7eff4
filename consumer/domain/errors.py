"""The consumer's error hierarchy. Each docstring is the message used when none is given.

Retryable errors may succeed later (the payment is not there yet, a server is down); permanent
errors never will (the event contradicts the payment); poison messages cannot even be read.
"""

from __future__ import annotations

from schemas.errors import PayhooksError


class ConsumerError(PayhooksError):
    """The event could not be applied."""


class RetryableError(ConsumerError):
    """The event could not be applied now; it may be later."""


class PaymentNotFound(RetryableError):
    """No payment has this reference yet; initialization may not have committed."""


class ReversalBeforeCredit(RetryableError):
    """The refund or dispute names a payment not credited yet; it waits for the success."""


class ConfirmationUnavailable(RetryableError):
    """The provider's verify API gave no usable answer; the event is confirmed later."""


class NotConfirmedYet(RetryableError):
    """The provider does not (yet) report this payment as paid; nothing is credited."""


class DependencyUnavailable(RetryableError):
    """PostgreSQL or Redis did not answer."""


class LockTimeout(RetryableError):
    """Another worker held the reference's lock for longer than we wait."""


class PermanentError(ConsumerError):
    """The event can never be applied as it is."""


class CreditMismatch(PermanentError):
    """The event's amount or currency differs from the initialized payment's."""


class ReversalRejected(PermanentError):
    """The refund or dispute cannot apply: it exceeds what is left of the credit, its currency
    differs, or the payment was never credited and cannot be."""


class ConfirmationMismatch(PermanentError):
    """The provider's own record of the payment contradicts the event."""


class ProviderMismatch(PermanentError):
    """The event comes from another provider (or provider transaction) than the payment's."""


class IllegalTransition(PermanentError):
    """The payment's state does not allow this change."""


class PoisonMessage(PermanentError):
    """The record cannot be read as a verified payhooks event."""

    def __init__(self, message: str | None = None, *, raw: bytes | None = None) -> None:
        super().__init__(message)
        self.raw = raw
