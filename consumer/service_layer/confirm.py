"""Confirmation with the provider before a credit: the provider's verify API must report the
payment paid, for the event's reference, amount and currency.

Asked for every successful-payment event that is hash-only (no signature binds its body) and
for every event of a provider in `PAYHOOKS_CONFIRM_WITH_PROVIDER`. Outside any database
transaction: an HTTP call never holds a row lock. An API that does not answer, or says "not
paid yet", is transient (retry topics, never a credit); a contradiction is permanent (DLQ).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from consumer.domain.errors import (
    ConfirmationMismatch,
    ConfirmationUnavailable,
    ConsumerError,
    NotConfirmedYet,
)
from consumer.service_layer.credit import CreditItem
from kernel.provider_verify import ProviderUnreachable, ProviderVerifier
from schemas.providers.confirm import ConfirmedStatus, disagreement
from schemas.sweep import is_sweep_claim

_NOT_YET = (ConfirmedStatus.PENDING, ConfirmedStatus.NOT_FOUND)


@dataclass
class Confirmer:
    """Asks in parallel (`parallel` calls at once) and stops asking a provider for the rest of a
    batch once its API did not answer: a batch never waits for many timeouts in a row, so the
    poll loop stays well inside max.poll.interval.ms."""

    verifier: ProviderVerifier
    providers: frozenset[str]  # confirmed even when their signature binds the body
    parallel: int = 8
    _down: set[str] = field(default_factory=set)

    def problems(self, items: Sequence[CreditItem]) -> list[ConsumerError | None]:
        """One result per item, in order: None when confirmed (or not needing it)."""
        self._down = set()
        needed = [i for i, item in enumerate(items) if self.needed(item)]
        results: list[ConsumerError | None] = [None] * len(items)
        if not needed:
            return results
        with ThreadPoolExecutor(max_workers=min(self.parallel, len(needed))) as pool:
            for index, problem in zip(
                needed, pool.map(lambda i: self.problem(items[i]), needed), strict=True
            ):
                results[index] = problem
        return results

    def needed(self, item: CreditItem) -> bool:
        """A success that is hash-only or of a listed provider; sweep claims were confirmed
        on their own path (consumer/service_layer/sweep_claims.py)."""
        return (
            item.event.is_successful_payment
            and not is_sweep_claim(item.envelope)
            and (item.hash_only or item.envelope.provider in self.providers)
        )

    def problem(self, item: CreditItem) -> ConsumerError | None:
        """None when the provider confirms the event; else the error to retry or dead-letter."""
        event, provider = item.event, item.envelope.provider
        if provider in self._down:
            return ConfirmationUnavailable(f"{provider} verify API did not answer in this batch")
        try:
            confirmation = self.verifier.confirm(
                provider, event.reference, transaction_id=event.transaction_id
            )
        except ProviderUnreachable as exc:
            self._down.add(provider)
            unavailable = ConfirmationUnavailable(str(exc))
            unavailable.__cause__ = exc
            return unavailable
        if confirmation.status in _NOT_YET:
            return NotConfirmedYet(
                f"{provider} reports {event.reference!r} as {confirmation.status}; not credited"
            )
        reason = disagreement(
            confirmation, reference=event.reference, amount=event.amount, currency=event.currency
        )
        return ConfirmationMismatch(reason) if reason else None
