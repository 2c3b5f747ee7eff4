"""A unit of work over one PostgreSQL transaction that rolls back unless committed.

The transaction's statements go through a `StatementChain`: `BEGIN` with the first round trip,
`COMMIT` with the last, the writes in between sent together (chained_sql.py says why). It is
also where driver errors become ours: a lost or refused connection, a deadlock or a
serialization failure is `DependencyUnavailable` (transient), raised from the driver's error.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from consumer.adapters.chained_sql import StatementChain
from consumer.adapters.repository import LedgerRepository
from consumer.domain.errors import DependencyUnavailable

# psycopg2 then adds no BEGIN of its own: the chain sends it (the pool restores the default
# when the connection comes back).
_CHAINED = {"isolation_level": "AUTOCOMMIT"}


def is_transient_db_error(error: BaseException) -> bool:
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def _nothing() -> None:
    return None


class SqlAlchemyUnitOfWork:
    ledger: LedgerRepository

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        committing: Callable[[], None] = _nothing,
    ) -> None:
        """`committing` is called as the commit's round trip goes out: the transaction's
        longest wait (its writes and the COMMIT) starts."""
        self._session_factory = session_factory
        self._committing = committing

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        self._session = self._session_factory()
        try:
            self._chain = StatementChain(self._session.connection(execution_options=_CHAINED))
        except BaseException as exc:
            self._session.close()
            transient = _as_ours(exc)
            if transient is None:
                raise
            raise transient from exc
        self.ledger = LedgerRepository(self._session, self._chain)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._chain.close()
            self._session.rollback()
        except (OperationalError, InterfaceError):
            if exc is None:
                raise
            # The original error says more than the failed rollback on a dead connection.
        finally:
            self._session.close()
        transient = None if exc is None else _as_ours(exc)
        if transient is not None:
            raise transient from exc

    def commit(self) -> None:
        self._committing()
        self._chain.commit()
        self._session.commit()


def _as_ours(error: BaseException) -> DependencyUnavailable | None:
    """A transient driver error as ours; None for anything else."""
    if not is_transient_db_error(error):
        return None
    cause = error.__cause__ or error
    first_line = (str(cause).strip().splitlines() or [""])[0]
    return DependencyUnavailable(f"PostgreSQL: {type(cause).__name__}: {first_line}")
