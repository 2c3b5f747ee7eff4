"""`consumed_records` is kept for a retention, then deleted by the sweep (every pass).

One row per main-topic record the consumer settled (what it became, for the chaos verdict and for
an operator asking what happened to a record): evidence for a while, not a ledger. The ledger's own
tables (payments, ledger_transactions, processed_events) are never pruned here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from kernel.batches import delete_in_batches
from kernel.db.tables import ConsumedRecord

BATCH = 1000


def prune_consumed_records(
    sessions: sessionmaker[Session], retention: timedelta, *, now: datetime | None = None
) -> int:
    """Delete rows recorded more than `retention` ago, in batches; the number deleted."""
    cutoff = (now or datetime.now(UTC)) - retention
    return delete_in_batches(lambda: _prune_batch(sessions, cutoff), BATCH)


def _prune_batch(sessions: sessionmaker[Session], cutoff: datetime) -> int:
    place = (
        ConsumedRecord.source_topic,
        ConsumedRecord.source_partition,
        ConsumedRecord.source_offset,
    )
    with sessions() as session, session.begin():
        old = (
            select(*place)
            .where(ConsumedRecord.recorded_at < cutoff)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        gone = session.execute(
            delete(ConsumedRecord).where(tuple_(*place).in_(old)).returning(*place)
        ).all()
    return len(gone)
