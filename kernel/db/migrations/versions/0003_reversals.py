"""reversals: refunds and lost disputes as their own ledger rows, exactly once per provider id

Revision ID: 0003_reversals
Revises: 0002

- `ledger_reversals`: one row per provider refund / lost dispute, UNIQUE(provider, reversal_id).
- A trigger adds every reversal row's amount to its payment's `refunded_amount` (and refuses a row
  whose payment is not credited or whose currency/wallet differ); CHECK refunded_amount <= amount
  then makes "reversals never exceed the credit" a database rule, not only the consumer's.
- payments: `refunded_amount`, `provider_txn_id` (the provider's own id, stored at credit time;
  Stripe's refunds and disputes name the PaymentIntent, not our reference), the states
  `partially_refunded`, `refunded`, `charged_back`.
- wallets: the `balance >= 0` CHECK goes: a reversal may take a wallet below zero (the money has
  already left); `payhooks reconcile` reports such wallets as findings.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_reversals"
down_revision = "0002"
branch_labels = None
depends_on = None

_STATES_V1 = "state IN ('pending', 'processing', 'completed', 'failed')"
_STATES_V2 = (
    "state IN ('pending', 'processing', 'completed', 'failed', "
    "'partially_refunded', 'refunded', 'charged_back')"
)
_CREDITED_V1 = "NOT credited OR state = 'completed'"
_CREDITED_V2 = (
    "NOT credited OR state IN ('completed', 'partially_refunded', 'refunded', 'charged_back')"
)

_TRIGGER_FUNCTION = """
CREATE FUNCTION ledger_reversal_applies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE payments
       SET refunded_amount = refunded_amount + NEW.amount
     WHERE id = NEW.payment_id
       AND credited
       AND currency = NEW.currency
       AND wallet_id = NEW.wallet_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reversal % of payment % does not match a credited payment',
            NEW.reversal_id, NEW.payment_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$
"""


def upgrade() -> None:
    op.add_column(
        "payments",
        sa.Column("refunded_amount", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.add_column("payments", sa.Column("provider_txn_id", sa.String(length=255), nullable=True))
    op.create_index(
        "ix_payments_provider_txn_id",
        "payments",
        ["provider", "provider_txn_id"],
        postgresql_where=sa.text("provider_txn_id IS NOT NULL"),
    )
    op.alter_column(
        "payments",
        "state",
        type_=sa.String(length=32),
        existing_type=sa.String(length=16),
        existing_nullable=False,
        existing_server_default="pending",
    )
    op.drop_constraint(op.f("ck_payments_state_known"), "payments", type_="check")
    op.create_check_constraint(op.f("ck_payments_state_known"), "payments", _STATES_V2)
    op.drop_constraint(op.f("ck_payments_credited_means_completed"), "payments", type_="check")
    op.create_check_constraint(
        op.f("ck_payments_credited_means_completed"), "payments", _CREDITED_V2
    )
    op.create_check_constraint(
        op.f("ck_payments_refunded_within_amount"),
        "payments",
        "refunded_amount >= 0 AND refunded_amount <= amount",
    )
    op.create_check_constraint(
        op.f("ck_payments_reversed_means_credited"), "payments", "refunded_amount = 0 OR credited"
    )
    op.create_check_constraint(
        op.f("ck_payments_reversed_state_has_reversals"),
        "payments",
        "state NOT IN ('partially_refunded', 'refunded', 'charged_back') OR refunded_amount > 0",
    )
    op.create_check_constraint(
        op.f("ck_payments_refunded_is_whole"),
        "payments",
        "state <> 'refunded' OR refunded_amount = amount",
    )
    op.drop_constraint(op.f("ck_wallets_balance_not_negative"), "wallets", type_="check")
    op.create_table(
        "ledger_reversals",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("wallet_id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("reversal_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_ledger_reversals_amount_positive")),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_ledger_reversals_currency_iso4217")
        ),
        sa.CheckConstraint(
            "kind IN ('refund', 'chargeback')", name=op.f("ck_ledger_reversals_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_ledger_reversals_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["wallet_id"], ["wallets.id"], name=op.f("fk_ledger_reversals_wallet_id_wallets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_reversals")),
        sa.UniqueConstraint("provider", "reversal_id", name="uq_ledger_reversals_provider_id"),
    )
    op.create_index(
        op.f("ix_ledger_reversals_payment_id"), "ledger_reversals", ["payment_id"], unique=False
    )
    op.create_index(
        op.f("ix_ledger_reversals_wallet_id"), "ledger_reversals", ["wallet_id"], unique=False
    )
    op.execute(_TRIGGER_FUNCTION)
    op.execute(
        "CREATE TRIGGER ledger_reversal_applies AFTER INSERT ON ledger_reversals "
        "FOR EACH ROW EXECUTE FUNCTION ledger_reversal_applies()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER ledger_reversal_applies ON ledger_reversals")
    op.execute("DROP FUNCTION ledger_reversal_applies()")
    op.drop_index(op.f("ix_ledger_reversals_wallet_id"), table_name="ledger_reversals")
    op.drop_index(op.f("ix_ledger_reversals_payment_id"), table_name="ledger_reversals")
    op.drop_table("ledger_reversals")
    op.create_check_constraint(op.f("ck_wallets_balance_not_negative"), "wallets", "balance >= 0")
    for name in (
        "refunded_is_whole",
        "reversed_state_has_reversals",
        "reversed_means_credited",
        "refunded_within_amount",
        "credited_means_completed",
        "state_known",
    ):
        op.drop_constraint(op.f(f"ck_payments_{name}"), "payments", type_="check")
    op.create_check_constraint(
        op.f("ck_payments_credited_means_completed"), "payments", _CREDITED_V1
    )
    op.create_check_constraint(op.f("ck_payments_state_known"), "payments", _STATES_V1)
    op.alter_column(
        "payments",
        "state",
        type_=sa.String(length=16),
        existing_type=sa.String(length=32),
        existing_nullable=False,
        existing_server_default="pending",
    )
    op.drop_index("ix_payments_provider_txn_id", table_name="payments")
    op.drop_column("payments", "provider_txn_id")
    op.drop_column("payments", "refunded_amount")
