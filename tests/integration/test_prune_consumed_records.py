"""`consumed_records` past its retention is deleted (by the sweep's passes) on the real
PostgreSQL; younger rows stay."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.tables import ConsumedRecord
from operations.prune import BATCH, prune_consumed_records
from operations.sweep import SqlSweepLedger, Sweeper
from tests.helpers import ScriptedVerifier

pytestmark = pytest.mark.integration
OLD = 2 * BATCH + 500  # more than one batch


def recorded(factory: sessionmaker[Session], count: int, age: str, partition: int) -> None:
    """`count` rows of one partition, recorded `age` ago (a PostgreSQL interval)."""
    with factory() as session:
        session.execute(
            text(
                "INSERT INTO consumed_records (source_topic, source_partition, source_offset, "
                "event_id, reference, outcome, recorded_at) "
                "SELECT 't.webhooks', :partition, n, 'evt-' || n, 'ref-' || n, 'applied', "
                "now() - CAST(:age AS interval) FROM generate_series(1, :count) AS n"
            ),
            {"partition": partition, "age": age, "count": count},
        )
        session.commit()


def left(factory: sessionmaker[Session]) -> list[tuple[int, int]]:
    with factory() as session:
        rows = session.execute(
            select(ConsumedRecord.source_partition, func.count()).group_by(
                ConsumedRecord.source_partition
            )
        ).all()
    return sorted((partition, count) for partition, count in rows)


def test_rows_past_the_retention_are_deleted_and_younger_ones_kept(
    session_factory: sessionmaker[Session],
) -> None:
    recorded(session_factory, OLD, "8 days", partition=0)
    recorded(session_factory, 3, "6 days 23 hours", partition=1)
    recorded(session_factory, 2, "1 minute", partition=2)
    assert prune_consumed_records(session_factory, timedelta(days=7)) == OLD
    assert left(session_factory) == [(1, 3), (2, 2)]
    assert prune_consumed_records(session_factory, timedelta(days=7)) == 0


def test_a_sweep_pass_prunes_them(session_factory: sessionmaker[Session]) -> None:
    recorded(session_factory, 5, "8 days", partition=0)
    recorded(session_factory, 1, "1 hour", partition=1)
    sweep = Sweeper(
        SqlSweepLedger(session_factory),
        ScriptedVerifier({}),
        lambda _: None,
        older_than=0,
        expire_after=86_400,
        prune=lambda: prune_consumed_records(session_factory, timedelta(days=7)),
    )
    assert sweep.sweep_once() == Counter()  # nothing stale to sweep
    assert left(session_factory) == [(1, 1)]
