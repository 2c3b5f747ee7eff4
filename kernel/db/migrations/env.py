"""Alembic environment: online migrations against the configured URL, in one transaction."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from kernel.db.tables import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("payhooks db upgrade needs a database URL")

engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
