"""Consumer throughput against a pgbench baseline, in one run on one database.

    .venv/bin/python -m consumer.benchmark [--events 20000]

Scenarios (each on its own topics, draining a pre-filled topic of `--events` webhooks for
pre-initialized payments): 1 consumer process, 2 processes, 1 process with 1 % of events failing
transiently (their payments do not exist: they go to the retry topics). The baseline is pgbench
running the per-event credit SQL transaction (lock payment, lock wallet, insert ledger row,
add to balance, complete payment, record the event) at the same connection count (one per
consumer process) on the same database. Rates are credits (settled events) per second, measured
from the moment every consumer has its partitions to the moment the group's committed offsets
cover the topic, so group start-up is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy.engine import make_url

from payhooks.db.migrate import upgrade
from payhooks.settings import Settings
from payhooks.stack import create_database
from payhooks.topics import ensure_topics
from schemas.envelope import WebhookEnvelope, encode_body
from schemas.names import main_topic
from schemas.providers import SCHEMES
from schemas.providers.base import deterministic_event_id

SECRET = "sk_bench_paystack"  # noqa: S105 - a throwaway key for a throwaway database
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"

CREDIT_SQL = """\
SELECT nextval('bench_seq') AS n \\gset
BEGIN;
SELECT id AS pid, wallet_id AS wid, amount AS amt FROM payments
  WHERE reference = 'pg' || :n FOR UPDATE \\gset
SELECT id FROM wallets WHERE id = :wid FOR UPDATE;
INSERT INTO ledger_transactions (reference, payment_id, wallet_id, amount, currency, event_id)
  VALUES ('pg' || :n, :pid, :wid, :amt, 'NGN', 'evt-pg' || :n);
UPDATE wallets SET balance = balance + :amt, updated_at = now() WHERE id = :wid;
UPDATE payments SET state = 'completed', credited = true, processing_completed_at = now(),
  updated_at = now() WHERE id = :pid;
INSERT INTO processed_events (event_id, provider, event_type, reference, outcome)
  VALUES ('evt-pg' || :n, 'paystack', 'charge.success', 'pg' || :n, 'applied')
  ON CONFLICT DO NOTHING;
COMMIT;
"""


def pg_connect(database_url: str) -> psycopg2.extensions.connection:
    url = make_url(database_url)
    return psycopg2.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        dbname=url.database,
    )


def seed_payments(database_url: str, prefix: str, count: int) -> None:
    """`count` pending payments `<prefix>0..` of 1000+n NGN, spread over 200 users."""
    with pg_connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO users (external_id) SELECT 'bench-' || g FROM generate_series(0, 199) g "
            "ON CONFLICT DO NOTHING"
        )
        cur.execute(
            "INSERT INTO wallets (user_id, currency, balance) SELECT id, 'NGN', 0 FROM users "
            "ON CONFLICT DO NOTHING"
        )
        cur.execute(
            """
            INSERT INTO payments (reference, user_id, wallet_id, amount, currency, provider, state)
            SELECT %s || g, w.user_id, w.id, 1000 + g, 'NGN', 'paystack', 'pending'
            FROM generate_series(0, %s - 1) g
            JOIN wallets w ON w.user_id = (SELECT id FROM users
                                           WHERE external_id = 'bench-' || (g %% 200))
            """,
            (prefix, count),
        )


def envelope(reference: str, amount: int) -> bytes:
    body = json.dumps(
        {
            "event": "charge.success",
            "data": {
                "reference": reference,
                "amount": amount,
                "currency": "NGN",
                "status": "success",
            },
        }
    ).encode()
    headers = SCHEMES["paystack"].sign(body, SECRET.encode(), now=time.time(), event_id="")
    return WebhookEnvelope(
        event_id=deterministic_event_id("paystack", "charge.success", reference),
        provider="paystack",
        event_type="charge.success",
        reference=reference,
        amount=amount,
        currency="NGN",
        received_at="2026-01-01T00:00:00Z",
        raw_body=encode_body(body),
        signature_headers=headers,
    ).to_bytes()


def prefill(settings: Settings, prefix: str, count: int, failing_every: int) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 50})
    for n in range(count):
        failing = failing_every and n % failing_every == 0
        reference = f"missing-{prefix}{n}" if failing else f"{prefix}{n}"
        producer.produce(
            main_topic(settings.topic_prefix),
            key=reference.encode(),
            value=envelope(reference, 1000 + n),
        )
        producer.poll(0)
    producer.flush(120)


def committed(settings: Settings) -> int:
    reader = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.consumer_group}
    )
    try:
        parts = [
            TopicPartition(main_topic(settings.topic_prefix), p)
            for p in range(settings.topic_partitions)
        ]
        return sum(max(tp.offset, 0) for tp in reader.committed(parts, timeout=30))
    finally:
        reader.close()


def assigned_everything(logs: list[Path], partitions: int, topics: int) -> bool:
    if not all(log.exists() and "partitions_assigned" in log.read_text() for log in logs):
        return False
    owned: set[str] = set()
    for log in logs:
        for line in log.read_text().splitlines():
            if '"consumer.partitions_assigned"' in line:
                owned |= set(json.loads(line)["partitions"])
            if '"consumer.partitions_revoked"' in line:
                owned -= set(json.loads(line)["partitions"])
    return len(owned) == partitions * topics


def drain(settings: Settings, processes: int, count: int, workdir: Path) -> float:
    env = {
        **os.environ,
        "PAYHOOKS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PAYHOOKS_DATABASE_URL": settings.database_url,
        "PAYHOOKS_REDIS_URL": settings.redis_url,
        "PAYHOOKS_TOPIC_PREFIX": settings.topic_prefix,
        "PAYHOOKS_CONSUMER_GROUP": settings.consumer_group,
        "PAYHOOKS_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "PAYHOOKS_RETRY_DELAYS": "100ms,100ms",
        "PAYHOOKS_CONSUMER_INPROCESS_WAIT_MAX_SECONDS": "0.02",
        "PAYHOOKS_PAYSTACK_SECRET_KEY": SECRET,
        "PAYHOOKS_LOG_FORMAT": "json",
    }
    logs = [workdir / f"{settings.topic_prefix}-{n}.log" for n in range(processes)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "payhooks", "consumer"],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        for log in logs
    ]
    try:
        topics = 1 + len(settings.retry_delays)
        while not assigned_everything(logs, settings.topic_partitions, topics):
            time.sleep(0.05)
        start, done_at_start = time.monotonic(), committed(settings)
        while (done := committed(settings)) < count:
            time.sleep(0.1)
        return (done - done_at_start) / (time.monotonic() - start)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)


def pgbench(database_url: str, clients: int, transactions: int) -> float:
    url = make_url(database_url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(CREDIT_SQL)
    out = subprocess.run(
        [
            PGBENCH,
            "-n",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            "-c",
            str(clients),
            "-j",
            str(clients),
            "-t",
            str(transactions // clients),
            "-f",
            script.name,
            url.database or "",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    assert match, out
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    count = args.events
    base = Settings()
    token = uuid.uuid4().hex[:8]
    database_url = make_url(base.database_url).set(database=f"payhooks_bench_{token}")
    rendered = database_url.render_as_string(hide_password=False)
    create_database(rendered)
    upgrade(rendered)
    with pg_connect(rendered) as conn, conn.cursor() as cur:
        cur.execute("CREATE SEQUENCE bench_seq")
    seed_payments(rendered, "pg", count + 1)
    workdir = Path(tempfile.mkdtemp(prefix="payhooks-bench-"))
    results: dict[str, float] = {}
    for name, processes, failing_every in (
        ("1 consumer", 1, 0),
        ("2 consumers", 2, 0),
        ("1 consumer, 1% transient", 1, 100),
    ):
        prefix = f"b{len(results)}x{token}"
        settings = base.model_copy(
            update={
                "database_url": rendered,
                "topic_prefix": prefix,
                "consumer_group": f"{prefix}-credit",
                "retry_delays": (0.1, 0.1),
            }
        )
        ensure_topics(settings)
        seed_payments(rendered, prefix, count)
        prefill(settings, prefix, count, failing_every)
        results[name] = drain(settings, processes, count, workdir)
        with pg_connect(rendered) as conn, conn.cursor() as cur:
            cur.execute("ALTER SEQUENCE bench_seq RESTART WITH 1")
            cur.execute(
                "UPDATE payments SET state='pending', credited=false WHERE reference LIKE 'pg%'"
            )
            cur.execute("DELETE FROM ledger_transactions WHERE reference LIKE 'pg%'")
            cur.execute("DELETE FROM processed_events WHERE reference LIKE 'pg%'")
        results[f"pgbench -c {processes} ({name})"] = pgbench(rendered, processes, count)
    for name, rate in results.items():
        print(f"{name:<45} {rate:>10.0f} credits/s")
    drop = f"DROP DATABASE {database_url.database} WITH (FORCE)"
    print(f"logs in {workdir}; database {database_url.database} kept ({drop})")


if __name__ == "__main__":
    main()
