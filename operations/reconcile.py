"""`payhooks reconcile`: the ledger's invariants, checked in PostgreSQL with set-based queries.

Every check is one SQL query that returns only the rows that break an invariant; all of them run
in one REPEATABLE READ, read-only transaction, so a credit committing mid-check (balance and
ledger row land together) cannot show up as half a credit.

Stuck payments: a payment in `processing` longer than `stuck_processing_seconds` is a violation
unless the database explains it: the payment is flagged (`flag_reason`), or the consumer's inbox
(`processed_events`) holds a non-`applied` outcome for its reference, or it was replayed from the
DLQ (`dlq_replays`) within that window. Kafka is not consulted (a DB-only heuristic).

Reversals (refunds, lost disputes): a wallet's balance is the sum of its credits minus the sum of
its reversals; a payment's reversals never exceed its credit and sum to its `refunded_amount`; one
ledger row per provider refund/dispute id. A wallet below zero is a *finding*, not a violation: a
reversal may take the money back after the user spent it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, text
from sqlalchemy.exc import SQLAlchemyError

from operations.errors import DatabaseUnavailable

KINDS = {
    "balance_mismatch": "a wallet's balance differs from the sum of its ledger rows",
    "duplicate_credit": "a reference has more than one ledger row (credited twice)",
    "completed_without_credit": "a completed payment has no ledger row",
    "completed_not_credited": "a completed payment is not marked credited",
    "credit_mismatch": "a ledger row's amount, currency, wallet or reference differs from its "
    "payment's",
    "credit_without_completed_payment": "a ledger row belongs to a payment that is not completed",
    "stuck_processing": "a payment has been processing too long with nothing explaining why",
    "reversal_exceeds_credit": "a payment's refunds/chargebacks exceed its credited amount",
    "reversal_mismatch": "a payment's reversal rows disagree with its refunded_amount or state",
    "reversal_without_credit": "a refund/chargeback row belongs to a payment never credited",
    "duplicate_reversal": "a provider refund/dispute id has more than one ledger row",
}
FINDINGS = {
    "negative_wallet": "a wallet is below zero: a refund or chargeback came after the money "
    "was spent (collect it from the user)",
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
    reversal_rows: int = 0


@dataclass(frozen=True, slots=True)
class Report:
    violations: tuple[Violation, ...]
    counts: Counts
    findings: tuple[Violation, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations


# --- the checks: SQL returning only offending rows, and how each row reads ---------------------

_BALANCES = """
SELECT u.external_id AS user_id, w.currency, w.balance,
       COALESCE(l.total, 0) - COALESCE(r.total, 0) AS total
FROM wallets w
JOIN users u ON u.id = w.user_id
LEFT JOIN (
    SELECT wallet_id, SUM(amount)::bigint AS total FROM ledger_transactions GROUP BY wallet_id
) l ON l.wallet_id = w.id
LEFT JOIN (
    SELECT wallet_id, SUM(amount)::bigint AS total FROM ledger_reversals GROUP BY wallet_id
) r ON r.wallet_id = w.id
WHERE w.balance <> COALESCE(l.total, 0) - COALESCE(r.total, 0)
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
WHERE p.state IN ('completed', 'partially_refunded', 'refunded', 'charged_back')
  AND NOT EXISTS (SELECT 1 FROM ledger_transactions l WHERE l.payment_id = p.id)
ORDER BY p.reference
"""

_COMPLETED_NOT_CREDITED = """
SELECT p.reference FROM payments p
WHERE p.state IN ('completed', 'partially_refunded', 'refunded', 'charged_back') AND NOT p.credited
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
WHERE p.state NOT IN ('completed', 'partially_refunded', 'refunded', 'charged_back')
ORDER BY p.reference, l.id
"""

_REVERSAL_TOTALS = """
SELECT p.reference, p.amount, p.currency, p.state, p.refunded_amount,
       COALESCE(r.total, 0) AS total, COALESCE(r.chargebacks, 0) AS chargebacks
FROM payments p
LEFT JOIN (
    SELECT payment_id, SUM(amount)::bigint AS total,
           COUNT(*) FILTER (WHERE kind = 'chargeback') AS chargebacks
    FROM ledger_reversals GROUP BY payment_id
) r ON r.payment_id = p.id
WHERE COALESCE(r.total, 0) > p.amount
   OR COALESCE(r.total, 0) <> p.refunded_amount
   OR (COALESCE(r.total, 0) = 0) <> (p.state NOT IN
        ('partially_refunded', 'refunded', 'charged_back'))
   OR (p.state = 'charged_back') <> (COALESCE(r.chargebacks, 0) > 0)
   OR (p.state = 'refunded' AND COALESCE(r.total, 0) <> p.amount)
ORDER BY p.reference
"""

_REVERSAL_WITHOUT_CREDIT = """
SELECT p.reference, r.reversal_id, r.amount, r.currency
FROM ledger_reversals r
JOIN payments p ON p.id = r.payment_id
WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions l WHERE l.payment_id = p.id)
ORDER BY p.reference, r.id
"""

_DUPLICATE_REVERSALS = """
SELECT MIN(p.reference) AS reference, r.provider, r.reversal_id, COUNT(*) AS n
FROM ledger_reversals r
JOIN payments p ON p.id = r.payment_id
GROUP BY r.provider, r.reversal_id
HAVING COUNT(*) > 1
ORDER BY 1
"""

_NEGATIVE_WALLETS = """
SELECT u.external_id AS user_id, w.currency, w.balance
FROM wallets w JOIN users u ON u.id = w.user_id
WHERE w.balance < 0
ORDER BY u.external_id, w.currency
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
       (SELECT COUNT(*) FROM wallets) AS wallets,
       (SELECT COUNT(*) FROM ledger_reversals) AS reversal_rows
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


def _reversal_totals(row: Row[Any]) -> Violation:
    kind = "reversal_exceeds_credit" if row.total > row.amount else "reversal_mismatch"
    return Violation(
        kind,
        "reference",
        row.reference,
        f"payment of {row.amount} {row.currency} is {row.state} with refunded_amount "
        f"{row.refunded_amount}; its reversal rows sum to {row.total} "
        f"({row.chargebacks} chargeback(s))",
    )


def _reversal_without_credit(row: Row[Any]) -> Violation:
    return Violation(
        "reversal_without_credit",
        "reference",
        row.reference,
        f"reversal {row.reversal_id} of {row.amount} {row.currency} but no ledger credit",
    )


def _duplicate_reversal(row: Row[Any]) -> Violation:
    return Violation(
        "duplicate_reversal",
        "reference",
        row.reference,
        f"{row.provider} {row.reversal_id} has {row.n} ledger rows; expected one",
    )


def _negative_wallet(row: Row[Any]) -> Violation:
    return Violation(
        "negative_wallet", "user_id", row.user_id, f"{row.currency} wallet balance is {row.balance}"
    )


_CHECKS: tuple[tuple[str, Callable[[Row[Any]], Violation]], ...] = (
    (_BALANCES, _balance),
    (_DUPLICATES, _duplicate),
    (_COMPLETED_WITHOUT_CREDIT, _completed_without_credit),
    (_COMPLETED_NOT_CREDITED, _completed_not_credited),
    (_CREDIT_MISMATCH, _credit_mismatch),
    (_CREDIT_WITHOUT_COMPLETED, _credit_without_completed),
    (_STUCK, _stuck),
    (_REVERSAL_TOTALS, _reversal_totals),
    (_REVERSAL_WITHOUT_CREDIT, _reversal_without_credit),
    (_DUPLICATE_REVERSALS, _duplicate_reversal),
)


def _run(connection: Connection, stuck_after_seconds: int) -> Report:
    connection.execute(text("SET TRANSACTION READ ONLY"))
    violations: list[Violation] = []
    for query, to_violation in _CHECKS:
        rows = connection.execute(text(query), {"stuck": stuck_after_seconds})
        violations.extend(to_violation(row) for row in rows)
    negative = connection.execute(text(_NEGATIVE_WALLETS))
    findings = tuple(_negative_wallet(row) for row in negative)
    counts = connection.execute(text(_COUNTS)).one()
    return Report(
        tuple(violations),
        Counts(
            counts.payments,
            counts.completed,
            counts.ledger_rows,
            counts.wallets,
            counts.reversal_rows,
        ),
        findings,
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
        "findings": [
            {"kind": f.kind, f.subject: f.value, "detail": f.detail} for f in report.findings
        ],
        "counts": {
            "payments": report.counts.payments,
            "completed": report.counts.completed,
            "ledger_rows": report.counts.ledger_rows,
            "wallets": report.counts.wallets,
        },
    }


def render_report(report: Report) -> str:
    """The readable report: a verdict line, violations grouped by kind, then findings."""
    counts = report.counts
    reversals = f"{counts.reversal_rows} reversal rows, " if counts.reversal_rows else ""
    scope = (
        f"{counts.payments} payments ({counts.completed} completed), "
        f"{counts.ledger_rows} ledger rows, {reversals}{counts.wallets} wallets"
    )
    if report.ok:
        lines = [f"reconcile: OK - {scope}; all {len(KINDS)} invariants hold"]
    else:
        lines = [f"reconcile: {len(report.violations)} VIOLATION(S) in {scope}"]
    lines += _grouped(report.violations, KINDS)
    lines += _grouped(report.findings, FINDINGS, label="finding, not a violation: ")
    return "\n".join(lines)


def _grouped(items: Sequence[Violation], kinds: dict[str, str], label: str = "") -> list[str]:
    lines: list[str] = []
    unknown = sorted({v.kind for v in items} - kinds.keys())
    for kind in [*kinds, *unknown]:
        found = [v for v in items if v.kind == kind]
        if not found:
            continue
        lines += ["", f"{kind} ({len(found)}): {label}{kinds.get(kind, 'unknown kind')}"]
        lines += [f"  {v.subject}={v.value}: {v.detail}" for v in found]
    return lines
