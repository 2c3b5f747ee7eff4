"""One PostgreSQL transaction in as few round trips as its reads allow.

psycopg2 sends `BEGIN` as a round trip of its own before a transaction's first statement and
`COMMIT` as another, and each statement waits for its answer: seven round trips for a batch of
credits that reads one answer (the payments it locks). At light load each round trip is a
wake-up of the PostgreSQL backend and of this thread (0.6-2 ms at 60 records/s, README
Benchmarks), so the credit's latency is mostly their count.

Here the connection is in autocommit (psycopg2 adds nothing) and the transaction's own `BEGIN`
and `COMMIT` are statements: `BEGIN` rides with the first round trip, a write whose answer
nobody reads waits for the next one (`send`), and `COMMIT` rides with the last. A round trip is
one multi-statement text, which psycopg2 sends as one simple query: PostgreSQL runs it in order
and stops at the first error, the transaction then aborted until `close` rolls it back. Each
statement's parameters are rendered by psycopg2's own `mogrify` (its quoting, as it would send
them), and the text is run with `no_parameters` so a `%` in the data stays a `%`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg2.extensions import TRANSACTION_STATUS_IDLE, encodings
from sqlalchemy import Connection, CursorResult, Row, TextClause

# A text's psycopg2 form (`%(name)s` placeholders), compiled once per statement.
_COMPILED: dict[TextClause, str] = {}

_NO_PARAMETERS = {"no_parameters": True}


class StatementChain:
    """The statements of one transaction on `connection` (which must be in autocommit)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        dbapi = connection.connection.dbapi_connection
        assert dbapi is not None  # a connection in use has its DBAPI connection
        self._dbapi = dbapi
        self._cursor = dbapi.cursor()  # for `mogrify` only, never executed
        self._encoding = encodings[dbapi.encoding]  # what `mogrify`'s bytes are in
        self._pending: list[str] = []  # rendered statements waiting for the next round trip
        self._begun = False

    def send(self, statement: TextClause, params: Mapping[str, Any]) -> None:
        """A statement whose answer is not read: it goes with the next round trip."""
        self._pending.append(self._render(statement, params))

    def query(self, statement: TextClause, params: Mapping[str, Any]) -> Sequence[Row[Any]]:
        """Everything pending, then `statement`, in one round trip; `statement`'s rows."""
        self._pending.append(self._render(statement, params))
        rows: Sequence[Row[Any]] = self._round_trip().all()
        return rows

    def flush(self) -> None:
        """Open the transaction and send what is pending: before a statement that does not go
        through the chain (it must run inside the transaction, after what was sent before it)."""
        if self._pending or not self._begun:
            self._round_trip()

    def commit(self) -> None:
        """What is pending and `COMMIT`, in one round trip (none if nothing was ever sent)."""
        if not self._begun and not self._pending:
            return
        self._pending.append("COMMIT")
        self._round_trip()

    def close(self) -> None:
        """Roll back whatever transaction the server still has open (libpq knows it from the
        last answer: no round trip when there is none). A connection found dead was dropped
        from the pool: the server ends its transaction."""
        self._pending.clear()
        if self._connection.invalidated or self._dbapi.closed:
            return
        if self._dbapi.info.transaction_status == TRANSACTION_STATUS_IDLE:
            return
        try:
            self._connection.exec_driver_sql("ROLLBACK", execution_options=_NO_PARAMETERS)
        except BaseException:
            self._connection.invalidate()  # never back to the pool with a transaction open
            raise

    def _round_trip(self) -> CursorResult[Any]:
        statements, self._pending = self._pending, []
        if not self._begun:
            statements.insert(0, "BEGIN")
            self._begun = True
        return self._connection.exec_driver_sql(
            ";\n".join(statements), execution_options=_NO_PARAMETERS
        )

    def _render(self, statement: TextClause, params: Mapping[str, Any]) -> str:
        compiled = _COMPILED.get(statement)
        if compiled is None:
            compiled = _COMPILED[statement] = str(
                statement.compile(dialect=self._connection.dialect)
            )
        rendered: bytes = self._cursor.mogrify(compiled, params)
        return rendered.decode(self._encoding).strip()
