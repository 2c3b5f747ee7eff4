"""The payment-state vocabulary, once: the domain's state machine, the tables' CHECK constraints,
the api and the sweep all use this enum (docs/lifecycle.md walks through the states)."""

from __future__ import annotations

from enum import StrEnum


class PaymentState(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CHARGED_BACK = "charged_back"


# The states of a payment whose credit landed (money may have gone back since).
CREDITED_STATES = frozenset(
    {
        PaymentState.COMPLETED,
        PaymentState.PARTIALLY_REFUNDED,
        PaymentState.REFUNDED,
        PaymentState.CHARGED_BACK,
    }
)
