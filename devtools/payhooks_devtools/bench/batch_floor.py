"""The batched-SQL floor: pgbench running what one consumer's batch transaction runs, no more, no
less — the same statement texts (`consumer.adapters.repository.CREDIT_BATCH_ROUND_TRIPS`, read
from the code, not copied), in the same order and round trips (the statements of one round trip
are one request: pgbench's `\\;`), BEGIN with the first and COMMIT with the last, as the
consumer's `StatementChain` sends them, on one connection, `size` credits per
transaction: lock the batch's payments, insert the ledger rows and complete the payments,
record the processed events and the consumed records, lock and update the wallets.

The consumer sends each column as an array literal; here every batch's arrays are computed
before the run (untimed, `prepare`) into `bench_batch`, and each statement reads its arrays from
that batch's row (`CAST(:ids AS bigint[])` becomes `CAST((SELECT ids FROM bench_batch WHERE b = :b)
AS bigint[])`: one primary-key lookup per array, in place of parsing the literal): the same
rows, in the consumer's orders (ledger rows in record order, processed events by event id,
consumed records by place, wallets by id), the same event ids (`deterministic_event_id`) and
the same provider columns (`paystack`, no provider transaction id for a Paystack charge).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sqlalchemy import TextClause

from consumer.adapters.repository import CREDIT_BATCH_ROUND_TRIPS
from payhooks_devtools.stack.probes import pg_connect
from schemas.providers.base import deterministic_event_id

TABLE = "bench_batch"
FLOOR_TOPIC = "bench-floor.webhooks"  # the consumed records' topic: the floor's own places

# Each statement's array parameters → the bench_batch column holding that batch's array.
_COLUMNS = {
    "lock_payments": {"references": "refs"},
    "add_credits": {
        "references": "refs",
        "payment_ids": "ids",
        "wallet_ids": "wallet_ids",
        "amounts": "amounts",
        "currencies": "currencies",
        "event_ids": "event_ids",
        "providers": "providers",
        "txn_ids": "txn_ids",
    },
    "record_events": {
        "event_ids": "ev_ids",
        "providers": "ev_providers",
        "event_types": "ev_types",
        "references": "ev_refs",
        "outcomes": "ev_outcomes",
        "details": "ev_details",
    },
    "record_consumed": {
        "topics": "c_topics",
        "partitions": "c_partitions",
        "offsets": "c_offsets",
        "event_ids": "c_event_ids",
        "references": "c_refs",
        "outcomes": "c_outcomes",
    },
    "settle_wallets": {"ids": "w_ids", "deltas": "w_deltas"},
}
_PARAMETER = re.compile(r"(?<=CAST\():(\w+)(?= AS \w+\[\]\))")


def script() -> str:
    """The pgbench script: batch `b` (from the sequence), then the consumer's round trips, each
    one request (its statements joined by `\\;`), BEGIN with the first, COMMIT with the last."""
    trips = [[_floor_sql(name, sql) for name, sql in trip] for trip in CREDIT_BATCH_ROUND_TRIPS]
    trips[0].insert(0, "BEGIN")
    trips[-1].append("COMMIT")
    lines = ["SELECT nextval('bench_batch_seq') - 1 AS b \\gset"]
    lines += [" \\;\n".join(trip) + ";" for trip in trips]
    return "\n".join(lines) + "\n"


def _floor_sql(name: str, statement: TextClause) -> str:
    """The statement with each array read from the batch's `bench_batch` row."""
    columns = _COLUMNS[name]

    def column(match: re.Match[str]) -> str:
        held_in = columns[match.group(1)]
        return f"(SELECT {held_in} FROM {TABLE} WHERE b = :b)"  # noqa: S608 - our constants

    sql = _PARAMETER.sub(column, statement.text.strip())
    if ":" in sql.replace(":b)", ""):
        raise RuntimeError(f"{name}: a parameter the floor does not provide: {sql}")
    return sql.replace(";\n", " \\;\n")  # a two-statement text: still one request


def prepare(database_url: str, prefix: str, count: int, size: int) -> int:
    """Every batch's arrays for the `<prefix>0..count-1` payments, `size` per batch, into
    `bench_batch` (replaced); returns the number of batches."""
    with pg_connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT reference, id, wallet_id, amount, currency FROM payments "
            "WHERE reference = ANY (%s)",
            ([f"{prefix}{n}" for n in range(count)],),
        )
        payments = {row[0]: row for row in cur.fetchall()}
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(
            f"CREATE TABLE {TABLE} (b integer PRIMARY KEY, refs text[], ids bigint[], "
            "wallet_ids bigint[], amounts bigint[], currencies text[], event_ids text[], "
            "providers text[], txn_ids text[], ev_ids text[], ev_providers text[], "
            "ev_types text[], ev_refs text[], ev_outcomes text[], ev_details text[], "
            "c_topics text[], c_partitions integer[], c_offsets bigint[], c_event_ids text[], "
            "c_refs text[], c_outcomes text[], w_ids bigint[], w_deltas bigint[])"
        )
        batches = count // size
        for b in range(batches):
            rows = [payments[f"{prefix}{n}"] for n in range(b * size, (b + 1) * size)]
            values = ", ".join(["%s"] * 23)
            cur.execute(f"INSERT INTO {TABLE} VALUES ({values})", (b, *_arrays(b, rows)))  # noqa: S608 - our constants
    conn.close()
    return batches


def _arrays(b: int, rows: list[tuple[str, int, int, int, str]]) -> list[list[Any]]:
    """One batch's columns, as the consumer builds them for the same records."""
    n = len(rows)
    refs = [row[0] for row in rows]
    event_ids = [deterministic_event_id("paystack", "charge.success", ref) for ref in refs]
    by_event = sorted(zip(event_ids, refs, strict=True))
    deltas: dict[int, int] = defaultdict(int)
    for _, _, wallet_id, amount, _ in rows:
        deltas[wallet_id] += amount
    wallets = sorted(deltas)
    return [
        refs,
        [row[1] for row in rows],
        [row[2] for row in rows],
        [row[3] for row in rows],
        [row[4] for row in rows],
        event_ids,
        ["paystack"] * n,
        [None] * n,
        [e for e, _ in by_event],
        ["paystack"] * n,
        ["charge.success"] * n,
        [r for _, r in by_event],
        ["applied"] * n,
        [None] * n,
        [FLOOR_TOPIC] * n,
        [0] * n,
        list(range(b * n, (b + 1) * n)),
        event_ids,
        refs,
        ["applied"] * n,
        wallets,
        [deltas[w] for w in wallets],
    ]
