"""A unit of work over one PostgreSQL transaction that rolls back unless committed.

It is also where driver errors become ours: a lost or refused connection, a deadlock or a
serialization failure is `DependencyUnavailable` (transient), raised from the driver's error.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from consumer.adapters.repository import LedgerRepository
from consumer.domain.errors import DependencyUnavailable


def is_transient_db_error(error: BaseException) -> bool:
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


class SqlAlchemyUnitOfWork:
    ledger: LedgerRepository

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        self._session = self._session_factory()
        self.ledger = LedgerRepository(self._session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._session.rollback()
        except (OperationalError, InterfaceError):
            if exc is None:
                raise
            # The original error says more than the failed rollback on a dead connection.
        finally:
            self._session.close()
        if exc is not None and is_transient_db_error(exc):
            cause = exc.__cause__ or exc
            first_line = (str(cause).strip().splitlines() or [""])[0]
            raise DependencyUnavailable(
                f"PostgreSQL: {type(cause).__name__}: {first_line}"
            ) from exc

    def commit(self) -> None:
        self._session.commit()
