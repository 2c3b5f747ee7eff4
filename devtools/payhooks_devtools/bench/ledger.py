"""The benchmark's own database and data: pre-initialized payments, signed Paystack webhooks for
them, and a reset between runs so every run credits the same payments from the same state."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

from psycopg2 import sql
from sqlalchemy.engine import make_url

from kernel.db.migrate import upgrade
from payhooks_devtools.stack import create_database
from payhooks_devtools.stack.probes import pg_connect
from schemas.envelope import WebhookEnvelope, encode_body
from schemas.providers import SCHEMES
from schemas.providers.base import deterministic_event_id

SECRET = "sk_test_bench_paystack_0123456789abcdef"  # noqa: S105 - a throwaway key for a throwaway database
USERS = 200  # several payments per wallet: credits contend for wallet rows, as in production


def amount_of(n: int) -> int:
    return 1000 + n


@contextmanager
def bench_database(base_url: str, token: str, *, keep: bool = False) -> Iterator[str]:
    """A fresh migrated database `payhooks_bench_<token>`, dropped afterwards unless `keep`."""
    url = make_url(base_url).set(database=f"payhooks_bench_{token}")
    rendered = url.render_as_string(hide_password=False)
    create_database(rendered)
    upgrade(rendered)
    try:
        yield rendered
    finally:
        if not keep:
            conn = pg_connect(rendered, dbname="postgres")
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(url.database or "")
                    )
                )
            conn.close()


def seed_payments(database_url: str, prefix: str, count: int) -> None:
    """`count` pending payments `<prefix>0..` of amount_of(n) NGN over USERS users' wallets."""
    with pg_connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO users (external_id) SELECT 'bench-' || g FROM generate_series(0, %s) g "
            "ON CONFLICT DO NOTHING",
            (USERS - 1,),
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
            JOIN users u ON u.external_id = 'bench-' || (g %% %s)
            JOIN wallets w ON w.user_id = u.id AND w.currency = 'NGN'
            """,
            (prefix, count, USERS),
        )
    conn.close()


def reset_credits(database_url: str, *prefixes: str) -> None:
    """Undo every credit of the `<prefix>…` payments, vacuum and checkpoint, so the next run
    starts from the same state: dead tuples from earlier runs would otherwise slow later runs
    down, and a checkpoint due (`checkpoint_timeout`) would land in whichever run happens to be
    under way then, making it write full-page images of every page it touches first. After an
    explicit CHECKPOINT every run pays those alike, and no timed one comes for minutes."""
    with pg_connect(database_url) as conn, conn.cursor() as cur:
        for prefix in prefixes:
            like = prefix + "%"
            cur.execute("DELETE FROM ledger_transactions WHERE reference LIKE %s", (like,))
            cur.execute("DELETE FROM processed_events WHERE reference LIKE %s", (like,))
            cur.execute("DELETE FROM consumed_records WHERE reference LIKE %s", (like,))
            cur.execute(
                "UPDATE payments SET state = 'pending', credited = false, "
                "processing_completed_at = NULL WHERE reference LIKE %s",
                (like,),
            )
        cur.execute("UPDATE wallets SET balance = 0")
    conn.close()
    conn = pg_connect(database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
        cur.execute("CHECKPOINT")
    conn.close()


def credited_count(database_url: str, prefix: str) -> int:
    with pg_connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM payments WHERE credited AND reference LIKE %s", (prefix + "%",)
        )
        row = cur.fetchone()
    conn.close()
    return int(row[0]) if row else 0


def paystack_webhook(reference: str, amount: int) -> tuple[bytes, dict[str, str]]:
    """A genuine charge.success body and its signature headers, as Paystack sends them."""
    body = json.dumps(
        {
            "event": "charge.success",
            "data": {
                "reference": reference,
                "amount": amount,
                "currency": "NGN",
                "status": "success",
            },
        },
        separators=(",", ":"),
    ).encode()
    headers = SCHEMES["paystack"].sign(body, SECRET.encode(), now=time.time(), event_id="")
    return body, headers


def envelope(reference: str, amount: int) -> bytes:
    """What the gateway would have published for that webhook."""
    body, headers = paystack_webhook(reference, amount)
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
