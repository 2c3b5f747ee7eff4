"""The SQLAlchemy engine and session factory, built from a URL (never from globals)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker


def make_engine(database_url: str, *, pool_size: int = 5, pre_ping: bool = True) -> Engine:
    """`pre_ping=False` saves a round trip per checkout, for callers that retry on a lost
    connection anyway (the consumer: its unit of work turns it into a transient error, the
    pool drops the dead connection, the next attempt gets a fresh one)."""
    return create_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,
        connect_args={"connect_timeout": 5, "application_name": "payhooks"},
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
