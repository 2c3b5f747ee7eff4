"""The ledger's tables. Money is BIGINT minor units; constraints guard what the code promises."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from schemas.states import CREDITED_STATES as CREDITED
from schemas.states import PaymentState

PAYMENT_STATES = tuple(state.value for state in PaymentState)
CREDITED_STATES = tuple(state.value for state in PaymentState if state in CREDITED)
REVERSAL_KINDS = ("refund", "chargeback")


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> Any:
    return func.now()


class User(Base):
    """A merchant's user; wallets hang off it, one per currency."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class Wallet(Base):
    """One balance per (user, currency), in minor units. A reversal may take it below zero (the
    money already left); `payhooks reconcile` reports such wallets as findings."""

    __tablename__ = "wallets"
    __table_args__ = (
        UniqueConstraint("user_id", "currency", name="uq_wallets_user_currency"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso4217"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    currency: Mapped[str] = mapped_column(String(3))
    balance: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), onupdate=_now()
    )


class Payment(Base):
    """The payment log: one row per initialized payment, walked through the state machine."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(f"state IN ({_sql_list(PAYMENT_STATES)})", name="state_known"),
        CheckConstraint(
            f"NOT credited OR state IN ({_sql_list(CREDITED_STATES)})",
            name="credited_means_completed",
        ),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso4217"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name="refunded_within_amount"
        ),
        CheckConstraint("refunded_amount = 0 OR credited", name="reversed_means_credited"),
        CheckConstraint(
            "state NOT IN ('partially_refunded', 'refunded', 'charged_back') "
            "OR refunded_amount > 0",
            name="reversed_state_has_reversals",
        ),
        CheckConstraint(
            "state <> 'refunded' OR refunded_amount = amount", name="refunded_is_whole"
        ),
        # The target of the ledger's (payment_id, provider) foreign key: provider binding.
        UniqueConstraint("id", "provider", name="uq_payments_id_provider"),
        Index(
            "ix_payments_provider_txn_id",
            "provider",
            "provider_txn_id",
            postgresql_where=text("provider_txn_id IS NOT NULL"),
        ),
        UniqueConstraint("client", "idempotency_key", name="uq_payments_client_idempotency_key"),
        CheckConstraint("sweep_claims >= 0", name="sweep_claims_counted"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(320))
    state: Mapped[str] = mapped_column(
        String(32), default=PaymentState.PENDING.value, server_default=PaymentState.PENDING.value
    )
    credited: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    client: Mapped[str | None] = mapped_column(String(64))  # the API client that asked for it
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    authorization_url: Mapped[str | None] = mapped_column(Text)
    payment_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    flag_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), onupdate=_now()
    )
    processing_completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Σ of the payment's ledger_reversals rows, kept by the database's trigger (migration 0003).
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The provider's own id of the paid transaction (Stripe's PaymentIntent), stored at credit time.
    provider_txn_id: Mapped[str | None] = mapped_column(String(255))
    # The sweep's last claim for this payment and how many it published (migration 0007): a
    # payment claimed is not claimed again before its back-off (operations/sweep.py) has passed.
    sweep_claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sweep_claims: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class LedgerTransaction(Base):
    """One row per credit. UNIQUE(reference) makes a second credit impossible at the database;
    the (payment_id, provider) foreign key makes a credit by another provider impossible."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso4217"),
        ForeignKeyConstraint(
            ["payment_id", "provider"],
            ["payments.id", "payments.provider"],
            name="fk_ledger_transactions_payment_provider",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), unique=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    event_id: Mapped[str] = mapped_column(String(255))
    # The provider whose event credited it (NULL only on rows written before migration 0006).
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_transaction_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class LedgerReversal(Base):
    """One row per provider refund or lost dispute: it debits the wallet, once per provider id
    (UNIQUE(provider, reversal_id)). A trigger adds `amount` to the payment's `refunded_amount`,
    whose CHECK keeps the sum of reversals within the credited amount."""

    __tablename__ = "ledger_reversals"
    __table_args__ = (
        UniqueConstraint("provider", "reversal_id", name="uq_ledger_reversals_provider_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso4217"),
        CheckConstraint(f"kind IN ({_sql_list(REVERSAL_KINDS)})", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    wallet_id: Mapped[int] = mapped_column(ForeignKey("wallets.id"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    reversal_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    event_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class ProcessedEvent(Base):
    """Every webhook event the consumer reached an outcome for, once per event id (the inbox)."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(100))
    reference: Mapped[str] = mapped_column(String(100), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())


class ConsumedRecord(Base):
    """The outcome of every webhook record the consumer settled in PostgreSQL, once per record:
    keyed by the record's place in the main topic (a retried record keeps its original place,
    from the `payhooks.original-*` headers), so a record processed again after a crash or an
    abandoned Kafka transaction is not counted twice. Duplicates absorbed are counted here."""

    __tablename__ = "consumed_records"

    source_topic: Mapped[str] = mapped_column(String(249), primary_key=True)
    source_partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255))
    reference: Mapped[str] = mapped_column(String(100), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    # Pruned past PAYHOOKS_CONSUMED_RECORDS_RETENTION by the sweep (operations/prune.py).
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), index=True
    )


class IdempotencyKey(Base):
    """Stripe-style idempotency for POST /payments: the first response is stored and replayed.
    Keys are scoped per API client; rows older than the TTL are pruned by `payhooks api`."""

    __tablename__ = "idempotency_keys"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    locked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=_now(), index=True
    )


class DlqReplay(Base):
    """The replay ledger: one row per dead letter ops acted on, so a replay never runs twice.

    Only `outcome = 'replayed'` rows stop a later replay; a `refused` row (signature did not
    verify) is overwritten when the record is replayed after the cause was fixed.
    """

    __tablename__ = "dlq_replays"
    __table_args__ = (
        UniqueConstraint("dlq_topic", "dlq_partition", "dlq_offset", name="uq_dlq_replays_record"),
        CheckConstraint("outcome IN ('replayed', 'refused')", name="outcome_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dlq_topic: Mapped[str] = mapped_column(String(249))
    dlq_partition: Mapped[int] = mapped_column(Integer)
    dlq_offset: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str | None] = mapped_column(String(255))
    reference: Mapped[str | None] = mapped_column(String(100), index=True)
    replayed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=_now())
    actor: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
