"""The pruning of old Idempotency-Keys (service_layer/ports.py) on PostgreSQL: one short
transaction per batch, rows another transaction holds skipped rather than waited for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.tables import IdempotencyKey, Payment


class SqlKeyPruner:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def delete_keys_before(self, cutoff: datetime, limit: int) -> int:
        with self._sessions() as session, session.begin():
            old = (
                select(IdempotencyKey.client, IdempotencyKey.key)
                .where(IdempotencyKey.created_at < cutoff)
                .limit(limit)
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
