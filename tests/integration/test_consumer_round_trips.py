"""What the credit transaction sends PostgreSQL, round trip by round trip (`StatementChain`), on
the real server: a batch of credits is two round trips, BEGIN with the first and COMMIT with
the last; a failure anywhere leaves no transaction open on the pooled connection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from consumer.adapters.chained_sql import StatementChain
from consumer.adapters.repository import CREDIT_BATCH_ROUND_TRIPS, text_array
from consumer.adapters.unit_of_work import SqlAlchemyUnitOfWork as UnitOfWork
from consumer.domain.errors import PaymentNotFound
from consumer.service_layer.credit import credit_batch
from consumer.service_layer.ports import PaymentKey
from kernel.db.tables import LedgerTransaction, Payment, Wallet
from tests.integration.test_consumer_credit import given_payment, item

pytestmark = pytest.mark.integration


@pytest.fixture
def sent(engine: Engine) -> Iterator[list[str]]:
    """Every text the engine's connections send, one entry per round trip."""
    texts: list[str] = []

    def record(*args: Any) -> None:
        texts.append(args[2])  # (conn, cursor, statement, parameters, context, executemany)

    event.listen(engine, "before_cursor_execute", record)
    yield texts
    event.remove(engine, "before_cursor_execute", record)


def _normalized(sql: str) -> str:
    return " ".join(sql.split())


def test_a_batch_of_credits_is_two_round_trips_the_ones_the_floor_runs(
    session_factory: sessionmaker[Session], sent: list[str]
) -> None:
    # Given two payments awaiting their webhooks
    given_payment(session_factory, "rt-1")
    given_payment(session_factory, "rt-2", user="bob")
    sent.clear()

    # When one batch of two main-topic records credits both
    batch = [item("rt-1")._replace(source=("t", 0, 7)), item("rt-2")._replace(source=("t", 0, 8))]
    outcomes = credit_batch(UnitOfWork(session_factory), batch)

    # Then it took two round trips: BEGIN with the payments' lock, every write with the COMMIT,
    # the very statements of CREDIT_BATCH_ROUND_TRIPS (what the batched-SQL floor runs)
    assert [o.error for o in outcomes] == [None, None]
    assert len(sent) == len(CREDIT_BATCH_ROUND_TRIPS) == 2
    first, last = (_normalized(trip) for trip in sent)
    assert first.startswith("BEGIN; SELECT id, reference")
    assert last.endswith("RETURNING wallets.id, wallets.balance; COMMIT")
    for trip, statements in zip((first, last), CREDIT_BATCH_ROUND_TRIPS, strict=True):
        heads = [_normalized(sql.text).split("CAST(")[0] for _, sql in statements]
        positions = [trip.find(head) for head in heads]
        assert -1 not in positions
        assert positions == sorted(positions)
    with session_factory() as session:
        assert session.scalar(select(Wallet.balance).limit(1)) == 500_000
        states = session.scalars(select(Payment.state).order_by(Payment.id)).all()
    assert states == ["completed", "completed"]


def test_a_failed_write_rolls_the_whole_batch_back_and_leaves_the_connection_clean(
    session_factory: sessionmaker[Session],
) -> None:
    # Given a payment credited twice in one unit of work: the second ledger row breaks the
    # ledger's UNIQUE(reference) in the last round trip, the one carrying the COMMIT
    given_payment(session_factory, "rt-dup")
    with UnitOfWork(session_factory) as uow:
        payment = uow.ledger.lock_payments_by([PaymentKey("rt-dup")])[PaymentKey("rt-dup")]
        uow.ledger.add_credits([(payment, "evt-rt-1")])
        uow.ledger.add_credits([(payment, "evt-rt-2")])
        with pytest.raises(IntegrityError):
            uow.commit()

    # Then nothing of the batch stayed, and the pooled connection is idle again: the next unit
    # of work finds no transaction left open
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(LedgerTransaction)) == 0
        assert session.scalar(select(Payment.state)) != "completed"
    with UnitOfWork(session_factory) as uow:
        dbapi = uow.ledger.session.connection().connection.dbapi_connection
        assert dbapi is not None
        assert dbapi.info.transaction_status == TRANSACTION_STATUS_IDLE


def test_a_percent_sign_in_the_data_is_sent_as_it_is(engine: Engine) -> None:
    # Given a parameter holding what psycopg2 would read as placeholders
    with engine.connect() as connection:
        chain = StatementChain(connection.execution_options(isolation_level="AUTOCOMMIT"))
        rows = chain.query(text("SELECT CAST(:v AS text) AS v"), {"v": "50%s off %(x)s %"})
        chain.close()

    # Then the value comes back unchanged
    assert [row.v for row in rows] == ["50%s off %(x)s %"]


def test_a_unit_of_work_that_sends_nothing_sends_no_round_trip(
    session_factory: sessionmaker[Session], sent: list[str]
) -> None:
    # Given a unit of work with nothing to do
    with UnitOfWork(session_factory) as uow:
        uow.commit()

    # Then neither BEGIN nor COMMIT went to the server
    assert sent == []


def test_a_chain_left_uncommitted_is_rolled_back_on_close(engine: Engine) -> None:
    # Given a chain whose transaction wrote a row and was never committed
    with engine.connect() as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        chain = StatementChain(autocommit)
        chain.send(text("CREATE TEMP TABLE rt_probe (id int)"), {})
        assert [row.n for row in chain.query(text("SELECT 1 AS n"), {})] == [1]

        # When it is closed
        chain.close()

        # Then the server has no transaction open, and what it wrote is gone
        dbapi = autocommit.connection.dbapi_connection
        assert dbapi is not None
        assert dbapi.info.transaction_status == TRANSACTION_STATUS_IDLE
        assert autocommit.scalar(text("SELECT to_regclass('pg_temp.rt_probe')")) is None


def test_the_committing_hook_runs_as_the_commit_round_trip_goes_out(
    session_factory: sessionmaker[Session], sent: list[str]
) -> None:
    # Given a unit of work told when its commit goes out
    given_payment(session_factory, "rt-hook")
    sent.clear()
    seen: list[int] = []
    uow = UnitOfWork(session_factory, committing=lambda: seen.append(len(sent)))

    # When it credits a batch
    outcomes = credit_batch(uow, [item("rt-hook")._replace(source=("t", 0, 9))])

    # Then it was told once, after the lock's round trip and before the commit's
    assert [o.error for o in outcomes] == [None]
    assert seen == [1]
    assert len(sent) == 2
    assert _normalized(sent[1]).endswith("COMMIT")


HOSTILE = [
    "x'); DROP TABLE payments; --",
    'quote " and backslash \\ and brace }{ and comma ,',
    "$$dollar$$ %s %(x)s ;\nCOMMIT; ROLLBACK",
]


def test_hostile_text_in_an_array_parameter_arrives_as_data(engine: Engine) -> None:
    # Given values a topic record could carry, in the array literal the chain sends
    with engine.connect() as connection:
        chain = StatementChain(connection.execution_options(isolation_level="AUTOCOMMIT"))
        rows = chain.query(
            text("SELECT unnest(CAST(:vs AS text[])) AS v"), {"vs": text_array(HOSTILE)}
        )
        chain.close()

    # Then each comes back as it was: data, never SQL
    assert [row.v for row in rows] == HOSTILE


@pytest.mark.parametrize("reference", HOSTILE)
def test_a_signed_event_naming_a_hostile_reference_credits_nothing_and_breaks_nothing(
    session_factory: sessionmaker[Session], reference: str
) -> None:
    # Given a real payment, and a batch with an event whose reference is SQL-shaped
    given_payment(session_factory, "rt-real")
    batch = [
        item(reference)._replace(source=("t", 0, 1)),
        item("rt-real")._replace(source=("t", 0, 2)),
    ]

    # When the batch is credited
    outcomes = credit_batch(UnitOfWork(session_factory), batch)

    # Then the hostile one is a payment not found (retried, later dead-lettered), its
    # neighbour is credited, and the tables are intact
    assert isinstance(outcomes[0].error, PaymentNotFound)
    assert outcomes[1].error is None
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 1
        assert session.scalar(select(func.count()).select_from(LedgerTransaction)) == 1
