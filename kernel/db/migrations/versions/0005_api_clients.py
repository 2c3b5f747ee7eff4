"""api clients: idempotency keys scoped per client, the client recorded on each payment

Revision ID: api_clients
Revises: 0004_consumed_records
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "api_clients"
down_revision = "0004_consumed_records"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Keys stored before clients existed belong to the client named "" (none can send it).
    op.add_column(
        "idempotency_keys",
        sa.Column("client", sa.String(length=64), nullable=False, server_default=""),
    )
    op.alter_column("idempotency_keys", "client", server_default=None)
    op.drop_constraint("pk_idempotency_keys", "idempotency_keys", type_="primary")
    op.create_primary_key("pk_idempotency_keys", "idempotency_keys", ["client", "key"])
    op.create_index(
        op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False
    )
    op.add_column("payments", sa.Column("client", sa.String(length=64), nullable=True))
    op.drop_constraint("uq_payments_idempotency_key", "payments", type_="unique")
    op.create_unique_constraint(
        "uq_payments_client_idempotency_key", "payments", ["client", "idempotency_key"]
    )


def downgrade() -> None:
    op.drop_constraint("uq_payments_client_idempotency_key", "payments", type_="unique")
    op.create_unique_constraint("uq_payments_idempotency_key", "payments", ["idempotency_key"])
    op.drop_column("payments", "client")
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_constraint("pk_idempotency_keys", "idempotency_keys", type_="primary")
    op.execute("DELETE FROM idempotency_keys WHERE client <> ''")
    op.create_primary_key("pk_idempotency_keys", "idempotency_keys", ["key"])
    op.drop_column("idempotency_keys", "client")
