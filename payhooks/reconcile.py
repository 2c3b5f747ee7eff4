"""`payhooks reconcile`: the ledger's invariants, checked in PostgreSQL with set-based queries.

Every check is one SQL query that returns only the rows that break an invariant; all of them run
in one REPEATABLE READ, read-only transaction, so a credit committing mid-check (balance and
ledger row land together) cannot show up as half a credit.

Stuck payments: a payment in `processing` longer than `stuck_processing_seconds` is a violation
unless the database explains it: the payment is flagged (`flag_reason`), or the consumer's inbox
(`processed_events`) holds a non-`applied` outcome for its reference, or it was replayed from the
DLQ (`dlq_replays`) within that window. Kafka is not consulted (a DB-only heuristic).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, text
from sqlalchemy.exc import SQLAlchemyError

from payhooks.ops.errors import DatabaseUnavailable

KINDS = {
    "balance_mismatch": "a wallet's balance differs from the sum of its ledger rows",
    "duplicate_credit": "a reference has more than one ledger row (credited twice)",
    "completed_without_credit": "a completed payment has no ledger row",
    "completed_not_credited": "a completed payment is not marked credited",
    "credit_mismatch": "a ledger row's amount, currency, wallet or reference differs from its "
    "payment's",
    "credit_without_completed_payment": "a ledger row belongs to a payment that is not completed",
    "stuck_processing": "a payment has been processing too long with nothing explaining why",
}


@dataclass(frozen=True, slots=True)
class Violation:
    kind: str
    subject: str  # "reference" or "user_id"
    value: str
    detail: str


@dataclass(frozen=True, slots=True)
class Counts:
    payments: int
    completed: int
    ledger_rows: int
    wallets: int


@dataclass(frozen=True, slots=True)
class Report:
    violations: tuple[Violation, ...]
    counts: Counts

    @property
    def ok(self) -> bool:
        return not self.violations


# --- the checks: SQL returning only offending rows, and how each row reads ---------------------

_BALANCES = """
SELECT u.external_id AS user_id, w.currency, w.balance, COALESCE(l.total, 0) AS total
FROM wallets w
JOIN users u ON u.id = w.user_id
LEFT JOIN (
    SELECT wallet_id, SUM(amount)::bigint AS total FROM ledger_transactions GROUP BY wallet_id
) l ON l.wallet_id = w.id
WHERE w.balance <> COALESCE(l.total, 0)
ORDER BY u.external_id, w.currency
"""

_DUPLICATES = """
SELECT reference, COUNT(*) AS n, SUM(amount)::bigint AS total,
       string_agg(event_id, ', ' ORDER BY id) AS event_ids
FROM ledger_transactions
GROUP BY reference
HAVING COUNT(*) > 1
ORDER BY reference
"""

_COMPLETED_WITHOUT_CREDIT = """
SELECT p.reference, p.amount, p.currency
FROM payments p
WHERE p.state = 'completed'
  AND NOT EXISTS (SELECT 1 FROM ledger_transactions l WHERE l.payment_id = p.id)
ORDER BY p.reference
"""

_COMPLETED_NOT_CREDITED = """
SELECT p.reference FROM payments p
WHERE p.state = 'completed' AND NOT p.credited
ORDER BY p.reference
"""

_CREDIT_MISMATCH = """
SELECT p.reference, l.id AS row_id, l.reference AS row_reference,
       l.amount, l.currency, l.wallet_id,
       p.amount AS payment_amount, p.currency AS payment_currency, p.wallet_id AS payment_wallet
FROM ledger_transactions l
JOIN payments p ON p.id = l.payment_id
WHERE l.amount <> p.amount OR l.currency <> p.currency
   OR l.wallet_id <> p.wallet_id OR l.reference <> p.reference
ORDER BY p.reference, l.id
"""

_CREDIT_WITHOUT_COMPLETED = """
SELECT p.reference, p.state, l.id AS row_id, l.amount, l.currency
FROM ledger_transactions l
JOIN payments p ON p.id = l.payment_id
WHERE p.state <> 'completed'
ORDER BY p.reference, l.id
"""

_STUCK = """
SELECT p.reference, p.updated_at,
       FLOOR(EXTRACT(EPOCH FROM now() - p.updated_at))::bigint AS seconds
FROM payments p
WHERE p.state = 'processing'
  AND p.updated_at < now() - make_interval(secs => :stuck)
  AND p.flag_reason IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM processed_events e
      WHERE e.reference = p.reference AND e.outcome <> 'applied')
  AND NOT EXISTS (
      SELECT 1 FROM dlq_replays r
      WHERE r.reference = p.reference AND r.outcome = 'replayed'
        AND r.replayed_at > now() - make_interval(secs => :stuck))
ORDER BY p.updated_at, p.reference
"""

_COUNTS = """
SELECT (SELECT COUNT(*) FROM payments) AS payments,
       (SELECT COUNT(*) FROM payments WHERE state = 'completed') AS completed,
       (SELECT COUNT(*) FROM ledger_transactions) AS ledger_rows,
       (SELECT COUNT(*) FROM wallets) AS wallets
"""


def _balance(row: Row[Any]) -> Violation:
    return Violation(
        "balance_mismatch",
        "user_id",
        row.user_id,
        f"{row.currency} wallet balance is {row.balance} but its ledger rows sum to {row.total} "
        f"(off by {row.balance - row.total:+d})",
    )


def _duplicate(row: Row[Any]) -> Violation:
    return Violation(
        "duplicate_credit",
        "reference",
        row.reference,
        f"{row.n} ledger rows totalling {row.total} (events {row.event_ids}); expected one",
    )


def _completed_without_credit(row: Row[Any]) -> Violation:
    return Violation(
        "completed_without_credit",
        "reference",
        row.reference,
        f"payment is completed for {row.amount} {row.currency} but has no ledger row",
    )


def _completed_not_credited(row: Row[Any]) -> Violation:
    return Violation(
        "completed_not_credited",
        "reference",
        row.reference,
        "payment is completed but credited is false",
    )


def _credit_mismatch(row: Row[Any]) -> Violation:
    differences = [
        f"{name} {mine} vs the payment's {theirs}"
        for name, mine, theirs in (
            ("amount", row.amount, row.payment_amount),
            ("currency", row.currency, row.payment_currency),
            ("wallet", row.wallet_id, row.payment_wallet),
            ("reference", row.row_reference, row.reference),
        )
        if mine != theirs
    ]
    return Violation(
        "credit_mismatch",
        "reference",
        row.reference,
        f"ledger row {row.row_id}: " + "; ".join(differences),
    )


def _credit_without_completed(row: Row[Any]) -> Violation:
    return Violation(
        "credit_without_completed_payment",
        "reference",
        row.reference,
        f"ledger row {row.row_id} credits {row.amount} {row.currency} but the payment is "
        f"{row.state}",
    )


def _stuck(row: Row[Any]) -> Violation:
    return Violation(
        "stuck_processing",
        "reference",
        row.reference,
        f"processing since {row.updated_at.isoformat()} ({row.seconds} s) with no flag, "
        "inbox outcome or recent DLQ replay explaining it",
    )


_CHECKS: tuple[tuple[str, Callable[[Row[Any]], Violation]], ...] = (
    (_BALANCES, _balance),
    (_DUPLICATES, _duplicate),
    (_COMPLETED_WITHOUT_CREDIT, _completed_without_credit),
    (_COMPLETED_NOT_CREDITED, _completed_not_credited),
    (_CREDIT_MISMATCH, _credit_mismatch),
    (_CREDIT_WITHOUT_COMPLETED, _credit_without_completed),
    (_STUCK, _stuck),
)


def _run(connection: Connection, stuck_after_seconds: int) -> Report:
    connection.execute(text("SET TRANSACTION READ ONLY"))
    violations: list[Violation] = []
    for query, to_violation in _CHECKS:
        rows = connection.execute(text(query), {"stuck": stuck_after_seconds})
        violations.extend(to_violation(row) for row in rows)
    counts = connection.execute(text(_COUNTS)).one()
    return Report(
        tuple(violations),
        Counts(counts.payments, counts.completed, counts.ledger_rows, counts.wallets),
    )


def reconcile(engine: Engine, *, stuck_after_seconds: int) -> Report:
    """Check every invariant in one consistent snapshot."""
    try:
        with (
            engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection,
            connection.begin(),
        ):
            return _run(connection, stuck_after_seconds)
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(
            f"could not read the ledger ({str(getattr(exc, 'orig', exc)).strip()}); "
            "check --database-url (PAYHOOKS_DATABASE_URL) and `payhooks db upgrade`"
        ) from exc


# --- presenting the report (pure) --------------------------------------------------------------


def report_json(report: Report) -> dict[str, Any]:
    """The contract's `reconcile --json` document."""
    return {
        "ok": report.ok,
        "violations": [
            {"kind": v.kind, v.subject: v.value, "detail": v.detail} for v in report.violations
        ],
        "counts": {
            "payments": report.counts.payments,
            "completed": report.counts.completed,
            "ledger_rows": report.counts.ledger_rows,
            "wallets": report.counts.wallets,
        },
    }


def render_report(report: Report) -> str:
    """The readable report: a verdict line, then violations grouped by kind."""
    counts = report.counts
    scope = (
        f"{counts.payments} payments ({counts.completed} completed), "
        f"{counts.ledger_rows} ledger rows, {counts.wallets} wallets"
    )
    if report.ok:
        return f"reconcile: OK - {scope}; all {len(KINDS)} invariants hold"
    lines = [f"reconcile: {len(report.violations)} VIOLATION(S) in {scope}"]
    unknown = sorted({v.kind for v in report.violations} - KINDS.keys())
    for kind in [*KINDS, *unknown]:
        found: Sequence[Violation] = [v for v in report.violations if v.kind == kind]
        if not found:
            continue
        lines += ["", f"{kind} ({len(found)}): {KINDS.get(kind, 'unknown kind')}"]
        lines += [f"  {v.subject}={v.value}: {v.detail}" for v in found]
    return "\n".join(lines)
