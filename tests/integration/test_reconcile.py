"""`payhooks reconcile` on a real PostgreSQL: a clean ledger passes, each broken invariant is named.

Broken ledgers are made by writing rows directly with SQL, dropping a constraint where the schema
would refuse the damage (each test has its own database).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import Engine, text

from kernel.settings import Settings
from operations.reconcile import reconcile

pytestmark = pytest.mark.integration

CLEAN_LEDGER = """
INSERT INTO users (id, external_id) VALUES (1, 'ada'), (2, 'bob');
INSERT INTO wallets (id, user_id, currency, balance) VALUES (1, 1, 'NGN', 1500), (2, 2, 'USD', 700);
INSERT INTO payments
    (id, reference, user_id, wallet_id, amount, currency, provider, state, credited)
VALUES (1, 'p-1', 1, 1, 1000, 'NGN', 'paystack', 'completed', true),
       (2, 'p-2', 1, 1, 500, 'NGN', 'paystack', 'completed', true),
       (3, 'p-3', 2, 2, 700, 'USD', 'stripe', 'completed', true),
       (4, 'p-4', 2, 2, 300, 'USD', 'stripe', 'pending', false);
INSERT INTO ledger_transactions (reference, payment_id, wallet_id, amount, currency, event_id)
VALUES ('p-1', 1, 1, 1000, 'NGN', 'evt-1'),
       ('p-2', 2, 1, 500, 'NGN', 'evt-2'),
       ('p-3', 3, 2, 700, 'USD', 'evt-3');
"""

STUCK_P4 = "UPDATE payments SET state = 'processing', updated_at = now() - interval '2 hours' "
STUCK_P4 += "WHERE reference = 'p-4';"


def run_sql(engine: Engine, script: str) -> None:
    with engine.begin() as connection:
        for statement in filter(str.strip, script.split(";")):
            connection.execute(text(statement))


@pytest.fixture
def clean_ledger(engine: Engine) -> Engine:
    run_sql(engine, CLEAN_LEDGER)
    return engine


def found(engine: Engine) -> set[tuple[str, str, str]]:
    report = reconcile(engine, stuck_after_seconds=3600)
    return {(v.kind, v.subject, v.value) for v in report.violations}


def test_clean_ledger_passes(clean_ledger: Engine) -> None:
    report = reconcile(clean_ledger, stuck_after_seconds=3600)

    assert report.ok
    assert report.violations == ()
    assert (report.counts.payments, report.counts.completed) == (4, 3)
    assert (report.counts.ledger_rows, report.counts.wallets) == (3, 2)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        pytest.param(
            "UPDATE wallets SET balance = balance + 1 WHERE id = 1",
            {("balance_mismatch", "user_id", "ada")},
            id="balance",
        ),
        pytest.param(
            """ALTER TABLE ledger_transactions DROP CONSTRAINT uq_ledger_transactions_reference;
            ALTER TABLE ledger_transactions DROP CONSTRAINT uq_ledger_transactions_payment_id;
            INSERT INTO ledger_transactions (reference, payment_id, wallet_id, amount, currency,
                event_id) VALUES ('p-1', 1, 1, 1000, 'NGN', 'evt-1-again');
            UPDATE wallets SET balance = 2500 WHERE id = 1""",
            {("duplicate_credit", "reference", "p-1")},
            id="double-credit",
        ),
        pytest.param(
            "UPDATE payments SET state = 'completed', credited = true WHERE reference = 'p-4'",
            {("completed_without_credit", "reference", "p-4")},
            id="completed-without-ledger-row",
        ),
        pytest.param(
            "UPDATE payments SET state = 'completed' WHERE reference = 'p-4'",
            {
                ("completed_without_credit", "reference", "p-4"),
                ("completed_not_credited", "reference", "p-4"),
            },
            id="completed-not-credited",
        ),
        pytest.param(
            "UPDATE ledger_transactions SET currency = 'EUR' WHERE reference = 'p-3'",
            {("credit_mismatch", "reference", "p-3")},
            id="ledger-row-differs-from-payment",
        ),
        pytest.param(
            "UPDATE payments SET state = 'processing', credited = false WHERE reference = 'p-2'",
            {("credit_without_completed_payment", "reference", "p-2")},
            id="ledger-row-without-completed-payment",
        ),
        pytest.param(STUCK_P4, {("stuck_processing", "reference", "p-4")}, id="stuck"),
    ],
)
def test_each_broken_invariant_is_reported(
    clean_ledger: Engine, damage: str, expected: set[tuple[str, str, str]]
) -> None:
    run_sql(clean_ledger, damage)

    assert found(clean_ledger) == expected


@pytest.mark.parametrize(
    "explanation",
    [
        pytest.param("UPDATE payments SET flag_reason = 'amount differs' WHERE id = 4", id="flag"),
        pytest.param(
            """INSERT INTO processed_events (event_id, provider, event_type, reference, outcome)
            VALUES ('evt-4', 'stripe', 'payment_intent.succeeded', 'p-4', 'rejected')""",
            id="inbox-outcome",
        ),
        pytest.param(
            """INSERT INTO dlq_replays (dlq_topic, dlq_partition, dlq_offset, reference, actor,
                outcome) VALUES ('x.webhooks.dlq', 0, 3, 'p-4', 'ops/0', 'replayed')""",
            id="recent-dlq-replay",
        ),
    ],
)
def test_a_stuck_payment_with_an_explanation_is_not_a_violation(
    clean_ledger: Engine, explanation: str
) -> None:
    run_sql(clean_ledger, STUCK_P4)
    run_sql(clean_ledger, explanation)

    assert found(clean_ledger) == set()


def test_recently_processing_is_not_stuck(clean_ledger: Engine) -> None:
    run_sql(clean_ledger, "UPDATE payments SET state = 'processing' WHERE reference = 'p-4'")

    assert found(clean_ledger) == set()


def payhooks(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payhooks", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_exit_codes_and_json_contract(
    clean_ledger: Engine, settings: Settings, env_for: dict[str, str]
) -> None:
    clean = payhooks(["reconcile"], env_for)
    run_sql(clean_ledger, "UPDATE wallets SET balance = 1 WHERE id = 2")
    run_sql(clean_ledger, STUCK_P4)
    broken_text = payhooks(["reconcile"], env_for)
    broken_json = payhooks(["reconcile", "--json"], env_for)
    short_window = payhooks(["reconcile", "--json", "--stuck-after", "86400"], env_for)
    no_database = payhooks(
        ["reconcile", "--database-url", "postgresql+psycopg2://postgres@127.0.0.1:1/x"], env_for
    )

    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.startswith("reconcile: OK - 4 payments (3 completed), 3 ledger rows")
    assert broken_text.returncode == 1
    assert "reconcile: 2 VIOLATION(S)" in broken_text.stdout
    assert "user_id=bob: USD wallet balance is 1 but its ledger rows sum to 700" in (
        broken_text.stdout
    )
    assert broken_json.returncode == 1
    document = json.loads(broken_json.stdout)
    assert document["ok"] is False
    assert document["counts"] == {"payments": 4, "completed": 3, "ledger_rows": 3, "wallets": 2}
    assert [
        (v["kind"], v.get("user_id") or v.get("reference")) for v in document["violations"]
    ] == [
        ("balance_mismatch", "bob"),
        ("stuck_processing", "p-4"),
    ]
    assert all(
        set(v) in ({"kind", "user_id", "detail"}, {"kind", "reference", "detail"})
        for v in document["violations"]
    )
    assert [v["kind"] for v in json.loads(short_window.stdout)["violations"]] == [
        "balance_mismatch"
    ]
    assert no_database.returncode == 2
    assert no_database.stderr.startswith("error: could not read the ledger")
    assert no_database.stderr.count("\n") == 1
