"""SQL for the credit and its reversals: rows locked in a fixed order (payments, then processed
events, then wallets last), fixed array-parameter statements for the batch's locks and writes,
sent through the transaction's `StatementChain` (a batch of credits is two round trips: BEGIN
with the payments' lock, then every write with the COMMIT), typed SQLAlchemy 2.x for the rarer
reversal rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    column,
    func,
    select,
    text,
    tuple_,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from consumer.adapters.chained_sql import StatementChain
from consumer.service_layer.ports import (
    ConsumedRow,
    EventRecord,
    LockedPayment,
    PaymentKey,
    ReversalRow,
)
from kernel.db.tables import LedgerReversal, Payment

# The batch statements take one array per column (`unnest`), so each is one fixed text: no
# per-batch SQL compilation, whatever the batch size. Statements that always go together are one
# text; PostgreSQL runs a round trip's statements in order, so the lock order stays as written.
_ADD_CREDITS = text(
    """
    INSERT INTO ledger_transactions (reference, payment_id, wallet_id, amount, currency, event_id,
        provider, provider_transaction_id)
    SELECT * FROM unnest(CAST(:references AS text[]), CAST(:payment_ids AS bigint[]),
        CAST(:wallet_ids AS bigint[]), CAST(:amounts AS bigint[]), CAST(:currencies AS text[]),
        CAST(:event_ids AS text[]), CAST(:providers AS text[]), CAST(:txn_ids AS text[]));
    UPDATE payments SET state = 'completed', credited = true, processing_completed_at = now(),
        updated_at = now(), provider_txn_id = coalesce(payments.provider_txn_id, t.txn_id)
    FROM unnest(CAST(:payment_ids AS bigint[]), CAST(:txn_ids AS text[])) AS t (id, txn_id)
    WHERE payments.id = t.id
    """
)
# Wallets locked in id order, then updated; the UPDATE's RETURNING is the text's result.
# FOR NO KEY UPDATE: what the balance UPDATE takes anyway; it does not block the foreign-key
# checks (KEY SHARE) of other transactions inserting ledger rows for the same wallet.
_SETTLE_WALLETS = text(
    """
    SELECT id FROM wallets WHERE id = ANY (CAST(:ids AS bigint[])) ORDER BY id FOR NO KEY UPDATE;
    UPDATE wallets SET balance = wallets.balance + d.delta, updated_at = now()
    FROM unnest(CAST(:ids AS bigint[]), CAST(:deltas AS bigint[])) AS d (id, delta)
    WHERE wallets.id = d.id
    RETURNING wallets.id, wallets.balance
    """
)
# The payments a batch names, locked in id order; columns in `LockedPayment`'s order.
_LOCK_PAYMENTS = text(
    """
    SELECT id, reference, wallet_id, amount, currency, state, credited, refunded_amount, provider,
        provider_txn_id
    FROM payments
    WHERE reference = ANY (CAST(:references AS text[]))
    ORDER BY id FOR UPDATE
    """
)
_LOCK_PAYMENTS_OR_TXNS = text(
    """
    SELECT id, reference, wallet_id, amount, currency, state, credited, refunded_amount, provider,
        provider_txn_id
    FROM payments
    WHERE reference = ANY (CAST(:references AS text[]))
        OR (provider, provider_txn_id) IN (SELECT * FROM unnest(CAST(:providers AS text[]),
            CAST(:txn_ids AS text[])))
    ORDER BY id FOR UPDATE
    """
)
_RECORD_EVENTS = text(
    """
    INSERT INTO processed_events (event_id, provider, event_type, reference, outcome, detail)
    SELECT * FROM unnest(CAST(:event_ids AS text[]), CAST(:providers AS text[]),
        CAST(:event_types AS text[]), CAST(:references AS text[]), CAST(:outcomes AS text[]),
        CAST(:details AS text[]))
    ON CONFLICT (event_id) DO NOTHING
    """
)
_RECORD_CONSUMED = text(
    """
    INSERT INTO consumed_records
        (source_topic, source_partition, source_offset, event_id, reference, outcome)
    SELECT * FROM unnest(CAST(:topics AS text[]), CAST(:partitions AS integer[]),
        CAST(:offsets AS bigint[]), CAST(:event_ids AS text[]), CAST(:references AS text[]),
        CAST(:outcomes AS text[]))
    ON CONFLICT DO NOTHING
    """
)

# What one batch of credits sends, round trip by round trip (the chain adds BEGIN to the first
# and COMMIT to the last): the payments locked, then every write. The batched-SQL floor of
# `payhooks bench` runs these very texts under pgbench (devtools/payhooks_devtools/bench/
# batch_floor.py); tests/integration/test_consumer_round_trips.py checks the consumer sends them.
CREDIT_BATCH_ROUND_TRIPS = (
    (("lock_payments", _LOCK_PAYMENTS),),
    (
        ("add_credits", _ADD_CREDITS),
        ("record_events", _RECORD_EVENTS),
        ("record_consumed", _RECORD_CONSUMED),
        ("settle_wallets", _SETTLE_WALLETS),
    ),
)


def text_array(values: Iterable[str | None]) -> str:
    """A PostgreSQL `text[]` literal, sent as one string parameter: each element double-quoted
    with `\\` and `"` escaped (PostgreSQL's array input rules), None as NULL. psycopg2 adapts a
    Python list element by element, a Python object per element: ~11 µs per credit for the ledger
    statement's arrays alone, against ~2 µs for the literal (measured, 500-credit batches).
    The common case (no NULL, nothing to escape) is one C-level join."""
    items = values if isinstance(values, list) else list(values)
    if not items:
        return "{}"
    try:
        joined = '","'.join(items)  # type: ignore[arg-type] # a None raises TypeError: below
    except TypeError:  # a None (NULL) among them
        if items.count(None) == len(items):  # e.g. `detail` of a batch of credits
            return "{" + ",".join(["NULL"] * len(items)) + "}"
    else:  # nothing to escape: no backslash, and no quote but the separators' own
        if "\\" not in joined and joined.count('"') == 2 * (len(items) - 1):
            return '{"' + joined + '"}'
    return (
        "{"
        + ",".join(
            "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for v in items
        )
        + "}"
    )


def int_array(values: Iterable[int]) -> str:
    """A PostgreSQL `bigint[]` literal; `int.__repr__` refuses anything that is not an int."""
    return "{" + ",".join(map(int.__repr__, values)) + "}"


class LedgerRepository:
    """The ledger's rows in one transaction: `chain` carries its statements (and its BEGIN and
    COMMIT), `session` the ORM statements of the rarer paths, each after what the chain holds."""

    def __init__(self, session: Session, chain: StatementChain) -> None:
        self.session = session
        self._chain = chain

    def lock_payments_by(self, keys: Iterable[PaymentKey]) -> dict[PaymentKey, LockedPayment]:
        """Lock the payments the keys name (by reference or provider txn id), in id order; each
        payment is found under every key that names it. A txn id naming two payments (it should
        not) finds neither: nothing is credited or reversed on an ambiguous match. Plain rows
        (one fixed statement, no ORM objects): the service layer only reads them."""
        wanted = set(keys)
        references = sorted({k.reference for k in wanted if k.reference})
        txns = sorted({(k.provider, k.txn_id) for k in wanted if not k.reference and k.txn_id})
        if not references and not txns:
            return {}
        if txns:
            params = {
                "references": text_array(references),
                "providers": text_array(provider for provider, _ in txns),
                "txn_ids": text_array(txn_id for _, txn_id in txns),
            }
            rows = self._chain.query(_LOCK_PAYMENTS_OR_TXNS, params)
        else:
            rows = self._chain.query(_LOCK_PAYMENTS, {"references": text_array(references)})
        found: dict[PaymentKey, LockedPayment] = {}
        by_txn: dict[tuple[str, str], list[LockedPayment]] = {}
        for row in rows:
            payment = LockedPayment._make(row)
            found[PaymentKey(payment.reference)] = payment
            if payment.provider_txn_id:
                by_txn.setdefault((payment.provider, payment.provider_txn_id), []).append(payment)
        for (provider, txn_id), matches in by_txn.items():
            if len(matches) == 1:
                found[PaymentKey("", provider, txn_id)] = matches[0]
        return {key: found[key] for key in wanted if key in found}

    def _orm(self) -> Session:
        """The session, for a statement the chain does not carry: what the chain holds is sent
        first, so the transaction's statements run in the order they were written."""
        self._chain.flush()
        return self.session

    def applied_reversals(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (provider, reversal id) already have their ledger row."""
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        rows = (
            self._orm()
            .execute(
                select(LedgerReversal.provider, LedgerReversal.reversal_id).where(
                    tuple_(LedgerReversal.provider, LedgerReversal.reversal_id).in_(wanted)
                )
            )
            .all()
        )
        return {(row.provider, row.reversal_id) for row in rows}

    def add_credits(
        self,
        credits: Sequence[tuple[LockedPayment, str]],
        sources: Sequence[tuple[str, str | None]] = (),
    ) -> None:
        """Credit many locked payments with one text, not two statements per payment: the
        ledger rows, and the payments marked completed (sent with the next round trip). The
        wallets' totals are `settle_wallets`.
        `sources[i]` is the (provider, provider transaction id) of the event crediting
        `credits[i]`: the database refuses a ledger row whose provider is not the payment's
        (provider binding, docs/security.md). The same UPDATE remembers the provider's id of the
        transaction where the payment has none yet (refunds may name only it; the first one
        stays): one new version of each payment row per batch, not two."""
        if not credits:
            return
        paid_by = list(sources) or [(p.provider, None) for p, _ in credits]
        payments, event_ids = _columns(credits, 2)
        ids, _, wallet_ids, amounts, currencies, *_ = _columns(payments, len(LockedPayment._fields))
        providers, txn_ids = _columns(paid_by, 2)
        self._chain.send(
            _ADD_CREDITS,
            {
                "references": text_array([p.reference for p in payments]),
                "payment_ids": int_array(ids),
                "wallet_ids": int_array(wallet_ids),
                "amounts": int_array(amounts),
                "currencies": text_array(currencies),
                "event_ids": text_array(event_ids),
                "providers": text_array(providers),
                "txn_ids": text_array(txn_ids),
            },
        )

    def settle_wallets(self, deltas: dict[int, int], *, below_zero_wanted: bool) -> set[int]:
        """Add each wallet's delta (credits minus reversals): the wallets locked in id order,
        then updated. The last thing a credit transaction does before its commit: the wallet
        rows are the ones every consumer process contends for, so they are held for as short a
        time as possible. With `below_zero_wanted` the wallets left below zero are returned (a
        round trip of its own); without, the update goes with the commit and nothing is
        returned."""
        ids = sorted(wallet for wallet, delta in deltas.items() if delta)
        if not ids:
            return set()
        params = {"ids": int_array(ids), "deltas": int_array(deltas[i] for i in ids)}
        if not below_zero_wanted:
            self._chain.send(_SETTLE_WALLETS, params)
            return set()
        rows = self._chain.query(_SETTLE_WALLETS, params)
        return {row.id for row in rows if row.balance < 0}

    def add_reversals(self, rows: Sequence[ReversalRow]) -> None:
        """Write the reversal rows (the database trigger adds each to its payment's
        refunded_amount, whose CHECK caps it at the amount) and set each payment's final state.
        The wallets' debits are `settle_wallets`."""
        if not rows:
            return
        session = self._orm()
        session.execute(
            insert(LedgerReversal),
            [
                {
                    "payment_id": r.payment.id,
                    "wallet_id": r.payment.wallet_id,
                    "provider": r.provider,
                    "reversal_id": r.reversal_id,
                    "kind": r.kind,
                    "amount": r.amount,
                    "currency": r.payment.currency,
                    "event_id": r.event_id,
                }
                for r in rows
            ],
        )
        final_state: dict[int, str] = {}
        for row in rows:
            final_state[row.payment.id] = row.state_after  # the last one of the batch wins
        states = values(column("id", BigInteger), column("state", String), name="states").data(
            sorted(final_state.items())
        )
        session.execute(
            update(Payment)
            .where(Payment.id == states.c.id)
            .values(state=states.c.state, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )

    def flag_payment(self, payment_id: int, reason: str) -> None:
        self._orm().execute(
            update(Payment).where(Payment.id == payment_id).values(flag_reason=reason)
        )

    def record_consumed(self, rows: Iterable[ConsumedRow]) -> None:
        """Remember each record's outcome once, by its place in the main topic (sorted: a fixed
        lock order); a record settled again after a crash keeps its first outcome."""
        unique = {(r.source_topic, r.source_partition, r.source_offset): r for r in rows}
        if not unique:
            return
        topics, partitions, offsets, event_ids, references, outcomes = _columns(
            [unique[key] for key in sorted(unique)], 6
        )
        self._chain.send(
            _RECORD_CONSUMED,
            {
                "topics": text_array(topics),
                "partitions": int_array(partitions),
                "offsets": int_array(offsets),
                "event_ids": text_array(event_ids),
                "references": text_array(references),
                "outcomes": text_array(outcomes),
            },
        )

    def record_events(self, rows: Iterable[EventRecord]) -> None:
        """Remember many outcomes in one statement, in event-id order (a fixed lock order)."""
        unique = {row.event_id: row for row in reversed(list(rows))}
        if not unique:
            return
        event_ids, providers, event_types, references, outcomes, details = _columns(
            [unique[key] for key in sorted(unique)], 6
        )
        self._chain.send(
            _RECORD_EVENTS,
            {
                "event_ids": text_array(event_ids),
                "providers": text_array(providers),
                "event_types": text_array(event_types),
                "references": text_array(references),
                "outcomes": text_array(outcomes),
                "details": text_array(details),
            },
        )


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows (tuples) as `width` columns, transposed in C (`zip`), not one generator per column."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]
