"""The replay ledger (`dlq_replays`) in PostgreSQL: what was replayed and by whom; a replay lock."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from kernel.db.tables import DlqReplay
from operations.dlq.dead_letters import Position
from operations.errors import DatabaseUnavailable, ReplayBusy


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    position: Position
    event_id: str | None
    reference: str | None
    outcome: str  # 'replayed' | 'refused'
    detail: str | None = None


def _database_error(exc: SQLAlchemyError) -> DatabaseUnavailable:
    if isinstance(exc, ProgrammingError):
        return DatabaseUnavailable(
            f"the replay ledger is not there ({exc.orig}); run `payhooks db upgrade`"
        )
    return DatabaseUnavailable(
        f"PostgreSQL did not answer ({str(getattr(exc, 'orig', exc)).strip()}); "
        "check --database-url (PAYHOOKS_DATABASE_URL)"
    )


class ReplayLedger:
    def __init__(self, engine: Engine, topic: str) -> None:
        self.engine = engine
        self.topic = topic

    def replayed_positions(self) -> set[Position]:
        query = select(DlqReplay.dlq_partition, DlqReplay.dlq_offset).where(
            DlqReplay.dlq_topic == self.topic, DlqReplay.outcome == "replayed"
        )
        try:
            with self.engine.connect() as connection:
                return {(int(p), int(o)) for p, o in connection.execute(query)}
        except SQLAlchemyError as exc:
            raise _database_error(exc) from exc

    def record(self, entries: Sequence[LedgerEntry], actor: str) -> None:
        """Write the outcomes; a 'replayed' row is final, a 'refused' one may become 'replayed'."""
        if not entries:
            return
        rows = [
            {
                "dlq_topic": self.topic,
                "dlq_partition": entry.position[0],
                "dlq_offset": entry.position[1],
                "event_id": entry.event_id,
                "reference": entry.reference,
                "actor": actor,
                "outcome": entry.outcome,
                "detail": entry.detail,
            }
            for entry in entries
        ]
        statement = insert(DlqReplay).values(rows)
        statement = statement.on_conflict_do_update(
            constraint="uq_dlq_replays_record",
            set_={
                "outcome": statement.excluded.outcome,
                "actor": statement.excluded.actor,
                "detail": statement.excluded.detail,
                "replayed_at": text("now()"),
            },
            where=DlqReplay.outcome != "replayed",
        )
        try:
            with self.engine.begin() as connection:
                connection.execute(statement)
        except SQLAlchemyError as exc:
            raise _database_error(exc) from exc

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold a session advisory lock on this DLQ: two replays never plan from the same state."""
        key = f"payhooks.dlq-replay:{self.topic}"
        try:
            connection: Connection = self.engine.connect()
        except OperationalError as exc:
            raise _database_error(exc) from exc
        try:
            got = connection.scalar(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": key})
            connection.commit()
            if not got:
                raise ReplayBusy()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})
                connection.commit()
        finally:
            connection.close()
