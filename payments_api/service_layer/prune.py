"""Idempotency keys are kept for the TTL (≥ 24 h), then deleted by the api's periodic pruning.

A deleted key lets go of its payment too (the payment row stays, its key is cleared), so the key
can start afresh, exactly as an expired key does on reuse.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.batches import delete_in_batches
from kernel.db.tables import IdempotencyKey, Payment

BATCH = 1000


def prune_idempotency_keys(
    sessions: sessionmaker[Session], ttl: timedelta, *, now: datetime | None = None
) -> int:
    """Delete keys created more than `ttl` ago, in batches; the number deleted."""
    cutoff = (now or datetime.now(UTC)) - ttl
    return delete_in_batches(lambda: _prune_batch(sessions, cutoff), BATCH)


def _prune_batch(sessions: sessionmaker[Session], cutoff: datetime) -> int:
    with sessions() as session, session.begin():
        old = (
            select(IdempotencyKey.client, IdempotencyKey.key)
            .where(IdempotencyKey.created_at < cutoff)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        gone = session.execute(
            delete(IdempotencyKey)
            .where(tuple_(IdempotencyKey.client, IdempotencyKey.key).in_(old))
            .returning(IdempotencyKey.client, IdempotencyKey.key)
        ).all()
        if gone:
            session.execute(
                update(Payment)
                .where(tuple_(Payment.client, Payment.idempotency_key).in_(gone))
                .values(idempotency_key=None)
            )
    return len(gone)
