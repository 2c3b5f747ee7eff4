"""The seed's `credit_user`, for one event or a whole batch: one PostgreSQL transaction, at most
one credit per payment.

Lock order is fixed for every transaction: payments by id, then the processed_events inbox by
event id, then wallets by id, so concurrent credits never deadlock. The wallets come last
because every consumer process contends for them: a transaction holds them only for its last
two statements and its commit, so two processes' batches overlap instead of queueing.
Per-event semantics hold inside a batch: each event is decided against the payment as the
events before it in the same batch left it (a second success for a reference is a duplicate, a
refund after its success in the same batch applies).

Reversals (refunds, lost disputes) ride the same transaction: their payments are locked with the
others (found by reference, or by the provider's transaction id for Stripe), each reversal id is
checked against the ledger, then one ledger_reversals row per new id debits the wallet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from consumer.domain.credit import PaymentView, Verdict, binding_problem, decide_credit, ignored
from consumer.domain.errors import (
    ConsumerError,
    CreditMismatch,
    PaymentNotFound,
    PoisonMessage,
    ProviderMismatch,
    ReversalRejected,
)
from consumer.domain.reversal import decide_reversal, reversed_view
from consumer.domain.state_machine import PaymentState
from consumer.service_layer.ports import (
    ConsumedRow,
    EventRecord,
    LockedPayment,
    PaymentKey,
    ReversalRow,
    UnitOfWork,
)
from schemas.envelope import WebhookEnvelope
from schemas.errors import ContractError
from schemas.providers import SCHEMES, ProviderEvent
from schemas.reverify import NotReverifiable, reverified_event


class CreditItem(NamedTuple):
    """A decoded record's verified event (named tuples here: one per record, built in C)."""

    envelope: WebhookEnvelope
    event: ProviderEvent
    source: tuple[str, int, int] | None = None  # the main-topic record it came from
    # True when no signature binds the body (Flutterwave verif-hash): only the provider's
    # confirmation can make it credit.
    hash_only: bool = False


class CreditOutcome(NamedTuple):
    """An event's settled result: a verdict, or the error that stopped it (nothing written)."""

    verdict: Verdict | None
    event: ProviderEvent
    reason: str = ""
    error: ConsumerError | None = None
    wallet_negative: bool = False


def credit_item(
    envelope: WebhookEnvelope,
    secrets: Sequence[bytes],
    source: tuple[str, int, int] | None = None,
) -> CreditItem:
    """The event from the stored raw body: re-verified when a signature binds the body, else
    parsed and flagged hash-only (the provider's confirmation decides it). `source` is the
    main-topic record it came from (built here, not `dataclasses.replace`d per record)."""
    scheme = SCHEMES.get(envelope.provider)
    if scheme is None:
        raise PoisonMessage(f"unknown provider {envelope.provider!r}")
    if scheme.body_signed(envelope.signature_headers):
        return CreditItem(envelope, verified_event(envelope, secrets), source)
    try:
        event = scheme.parse(envelope.body_bytes, {})
        return CreditItem(envelope, event, source, hash_only=True)
    except ContractError as exc:
        raise PoisonMessage(f"stored webhook does not parse: {exc}") from exc


def verified_event(envelope: WebhookEnvelope, secrets: Sequence[bytes]) -> ProviderEvent:
    """Re-verify the stored raw body and derive the event from it, never from envelope fields;
    what cannot be verified again (hash-only schemes included) is poison."""
    try:
        return reverified_event(envelope, secrets)
    except NotReverifiable as exc:
        raise PoisonMessage(str(exc)) from exc


_STATES = {state.value: state for state in PaymentState}


def _view(payment: LockedPayment) -> PaymentView:
    return PaymentView(
        payment.reference,
        payment.amount,
        payment.currency,
        _STATES.get(payment.state) or PaymentState(payment.state),  # unknown: ValueError
        payment.credited,
        payment.refunded_amount,
        payment.provider,
    )


def _acts(item: CreditItem) -> bool:
    return item.event.is_successful_payment or item.event.reversal is not None


def _key(item: CreditItem) -> PaymentKey | None:
    """How an acting event names its payment: our reference, else the provider's txn id; None
    for an event that acts on no payment."""
    event = item.event
    if not (event.is_successful_payment or event.reversal is not None):
        return None
    if event.reference or not event.provider_txn_id:
        return PaymentKey(event.reference)
    return PaymentKey("", item.envelope.provider, event.provider_txn_id)


@dataclass
class _Ledger:
    """The batch's payments as the events decided so far left them."""

    applied_reversals: set[tuple[str, str]]
    views: dict[int, PaymentView]

    def view(self, payment: LockedPayment) -> PaymentView:
        view = self.views.get(payment.id)
        if view is None:
            view = self.views[payment.id] = _view(payment)
        return view


def _not_found(item: CreditItem) -> CreditOutcome:
    event = item.event
    named = event.reference or f"{item.envelope.provider} transaction {event.provider_txn_id}"
    error = PaymentNotFound(f"no payment has reference {named!r} yet")
    return CreditOutcome(None, event, str(error), error)


def _decide_one(item: CreditItem, payment: LockedPayment | None, ledger: _Ledger) -> CreditOutcome:
    event = item.event
    if payment is None:
        return _not_found(item)
    mismatch = binding_problem(
        payment.provider, payment.provider_txn_id, item.envelope.provider, event
    )
    if mismatch is not None:
        return CreditOutcome(Verdict.REJECT, event, mismatch, ProviderMismatch(mismatch))
    view = ledger.view(payment)
    if event.reversal is None:
        decision = decide_credit(view, event)
        if decision.verdict is Verdict.APPLY:
            ledger.views[payment.id] = view.credited_now()
        return CreditOutcome(decision.verdict, event, decision.reason)
    key = (item.envelope.provider, event.reversal.reversal_id)
    reversal = decide_reversal(
        view,
        event,
        provider=item.envelope.provider,
        already_applied=key in ledger.applied_reversals,
    )
    if reversal.wait is not None:
        return CreditOutcome(None, event, str(reversal.wait), reversal.wait)
    if reversal.verdict is Verdict.REVERSE:
        ledger.applied_reversals.add(key)
        ledger.views[payment.id] = reversed_view(view, event.reversal.kind, event.amount or 0)
    return CreditOutcome(reversal.verdict, event, reversal.reason)


def _decide_all(
    items: Sequence[CreditItem], found: Sequence[LockedPayment | None], ledger: _Ledger
) -> list[CreditOutcome]:
    """Decide each event in order against the payment as the earlier events left it."""
    outcomes: list[CreditOutcome] = []
    for item, payment in zip(items, found, strict=True):
        skip = ignored(item.event)
        if skip is not None:
            outcomes.append(CreditOutcome(skip.verdict, item.event, skip.reason))
        else:
            outcomes.append(_decide_one(item, payment, ledger))
    return outcomes


def _reversal_rows(
    settled: Sequence[tuple[CreditItem, CreditOutcome, LockedPayment | None]], ledger: _Ledger
) -> list[ReversalRow]:
    rows: list[ReversalRow] = []
    for item, outcome, payment in settled:
        reversal = item.event.reversal
        if outcome.verdict is not Verdict.REVERSE or reversal is None or payment is None:
            continue
        rows.append(
            ReversalRow(
                payment=payment,
                provider=item.envelope.provider,
                reversal_id=reversal.reversal_id,
                kind=reversal.kind.value,
                amount=item.event.amount or 0,
                event_id=item.event.event_id,
                state_after=ledger.views[payment.id].state.value,
            )
        )
    return rows


def credit_batch(uow: UnitOfWork, items: Sequence[CreditItem]) -> list[CreditOutcome]:
    """Settle `items` in one transaction; outcomes in the same order. Nothing is written for an
    event whose outcome carries an error (it is retried); rejections are flagged and recorded."""
    with uow:
        keys = [_key(item) for item in items]  # once per item: every step below reuses it
        payments = uow.ledger.lock_payments_by(key for key in keys if key is not None)
        found = [None if key is None else payments.get(key) for key in keys]
        ledger = _Ledger(
            uow.ledger.applied_reversals(
                (i.envelope.provider, i.event.reversal.reversal_id)
                for i in items
                if i.event.reversal is not None
            ),
            {},
        )
        outcomes = _decide_all(items, found, ledger)
        settled = list(zip(items, outcomes, found, strict=True))
        _write(uow, settled, ledger)
        # Last: the wallet rows are held from here to the commit, and only that long. Only a
        # reversal's outcome says whether its wallet went below zero: a batch without one
        # sends its wallets' update with the commit.
        negative = uow.ledger.settle_wallets(
            _wallet_deltas(settled),
            below_zero_wanted=any(o.verdict is Verdict.REVERSE for o in outcomes),
        )
        uow.commit()
    return [_finished(o, payment, negative) for _, o, payment in settled]


def _write(
    uow: UnitOfWork,
    settled: Sequence[tuple[CreditItem, CreditOutcome, LockedPayment | None]],
    ledger: _Ledger,
) -> None:
    """Every row the batch writes but the wallets' totals, in the lock order."""
    applying = [(item, o, p) for item, o, p in settled if o.verdict is Verdict.APPLY and p]
    # Who paid, as the events say: the ledger's foreign key holds it to the payment's.
    uow.ledger.add_credits(
        [(p, o.event.event_id) for _, o, p in applying],
        [(item.envelope.provider, o.event.provider_txn_id) for item, o, _ in applying],
    )
    uow.ledger.add_reversals(_reversal_rows(settled, ledger))
    for _, outcome, payment in settled:
        if outcome.verdict is Verdict.REJECT and payment is not None:
            uow.ledger.flag_payment(payment.id, outcome.reason)
    recorded = [
        (item, o, o.event.reference or (p.reference if p is not None else ""))
        for item, o, p in settled
        if o.verdict is not None
    ]
    uow.ledger.record_events(
        EventRecord(
            o.event.event_id,
            item.envelope.provider,
            o.event.event_type,
            reference,
            o.verdict,  # type: ignore[arg-type] # not None (filtered above); a StrEnum is a str
            o.reason or None,
        )
        for item, o, reference in recorded
    )
    uow.ledger.record_consumed(
        ConsumedRow(*item.source, o.event.event_id, reference, o.verdict)  # type: ignore[arg-type] # as above
        for item, o, reference in recorded
        if item.source is not None
    )


def _wallet_deltas(
    settled: Sequence[tuple[CreditItem, CreditOutcome, LockedPayment | None]],
) -> dict[int, int]:
    """Each touched wallet's change: its credits minus its reversals."""
    deltas: dict[int, int] = {}
    for item, outcome, payment in settled:
        if payment is None:
            continue
        if outcome.verdict is Verdict.APPLY:
            deltas[payment.wallet_id] = deltas.get(payment.wallet_id, 0) + payment.amount
        elif outcome.verdict is Verdict.REVERSE and item.event.reversal is not None:
            amount = item.event.amount or 0
            deltas[payment.wallet_id] = deltas.get(payment.wallet_id, 0) - amount
    return deltas


def _finished(
    outcome: CreditOutcome, payment: LockedPayment | None, negative: set[int]
) -> CreditOutcome:
    if outcome.verdict is Verdict.REVERSE:
        return outcome._replace(
            wallet_negative=payment is not None and payment.wallet_id in negative
        )
    return _with_rejection_error(outcome)


def _with_rejection_error(outcome: CreditOutcome) -> CreditOutcome:
    if outcome.verdict is Verdict.REJECT and outcome.error is None:
        error_class = ReversalRejected if outcome.event.reversal else CreditMismatch
        return CreditOutcome(
            outcome.verdict, outcome.event, outcome.reason, error_class(outcome.reason)
        )
    return outcome


def credit_payment(
    uow: UnitOfWork, envelope: WebhookEnvelope, event: ProviderEvent
) -> CreditOutcome:
    """One event: raises PaymentNotFound (retryable) or CreditMismatch (permanent, recorded)."""
    (outcome,) = credit_batch(uow, [CreditItem(envelope, event)])
    if outcome.error is not None:
        raise outcome.error
    return outcome
