"""The payment state machine: pending → processing → completed | failed, and after money goes
back: completed → partially_refunded → refunded, and → charged_back from any credited state."""

from __future__ import annotations

from consumer.domain.errors import IllegalTransition
from schemas.states import PaymentState

__all__ = ["PaymentState", "can_transition", "path_to", "transition"]


_ALLOWED: dict[PaymentState, frozenset[PaymentState]] = {
    PaymentState.PENDING: frozenset({PaymentState.PROCESSING, PaymentState.FAILED}),
    PaymentState.PROCESSING: frozenset({PaymentState.COMPLETED, PaymentState.FAILED}),
    PaymentState.COMPLETED: frozenset(
        {PaymentState.PARTIALLY_REFUNDED, PaymentState.REFUNDED, PaymentState.CHARGED_BACK}
    ),
    PaymentState.FAILED: frozenset(),
    PaymentState.PARTIALLY_REFUNDED: frozenset(
        {PaymentState.PARTIALLY_REFUNDED, PaymentState.REFUNDED, PaymentState.CHARGED_BACK}
    ),
    PaymentState.REFUNDED: frozenset(),
    PaymentState.CHARGED_BACK: frozenset({PaymentState.CHARGED_BACK}),
}


def can_transition(current: PaymentState, target: PaymentState) -> bool:
    return target in _ALLOWED[current]


def transition(current: PaymentState, target: PaymentState) -> PaymentState:
    if not can_transition(current, target):
        raise IllegalTransition(f"a payment cannot go from {current} to {target}")
    return target


def path_to(current: PaymentState, target: PaymentState) -> tuple[PaymentState, ...]:
    """The legal steps from `current` to `target`: a success webhook can beat the provider's
    initialize answer, so a `pending` payment completes through `processing`."""
    if can_transition(current, target):
        return (target,)
    if current is PaymentState.PENDING and target is PaymentState.COMPLETED:
        return (PaymentState.PROCESSING, PaymentState.COMPLETED)
    raise IllegalTransition(f"a payment cannot go from {current} to {target}")
