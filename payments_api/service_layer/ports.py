"""What the api's service layer needs from the world, as ports: the initialize flow's
Idempotency-Key and payment writes of one transaction and the provider's initialize call; the read
model of GET /payments and GET /wallets; the pruning of old Idempotency-Keys. The SQL and httpx
adapters in payments_api/adapters/ implement them; tests/fakes.py holds in-memory fakes for the
fast tier.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from payments_api.domain.payments import InitializePayment
from schemas.states import PaymentState


@dataclass(frozen=True, slots=True)
class ScopedKey:
    """An Idempotency-Key as the client that sent it sees it: two clients may use the same key."""

    client: str
    key: str


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored Idempotency-Key: who claimed it for which request, and its answer once known."""

    request_fingerprint: str
    response_status: int | None
    response_body: dict[str, Any] | None
    locked_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    id: int
    reference: str
    state: str
    amount: int
    currency: str
    provider: str
    authorization_url: str | None = None


class InitializeTransaction(Protocol):
    """One database transaction of the initialize flow; every write is undone unless it commits."""

    def claim_key(self, key: ScopedKey, request_fingerprint: str, now: datetime) -> bool:
        """Insert the key locked by us; False if it exists (a concurrent insert waits)."""

    def locked_key(self, key: ScopedKey) -> KeyRecord:
        """The existing key, row-locked until the transaction ends."""

    def release_key(self, key: ScopedKey) -> None:
        """An expired key: its old payment lets go of it and the key row is deleted."""

    def relock_key(self, key: ScopedKey, now: datetime) -> None:
        """Take over an abandoned key."""

    def payment_holding(self, key: ScopedKey) -> PaymentRecord | None:
        """The payment created under the key, if any."""

    def add_payment(
        self, key: ScopedKey, request: InitializePayment, reference: str
    ) -> PaymentRecord:
        """A new `pending` payment (and the user's wallet on first use). Raises ReferenceTaken."""

    def locked_payment(self, payment_id: int) -> PaymentRecord:
        """The payment, row-locked until the transaction ends."""

    def update_payment(
        self, payment_id: int, state: PaymentState | str, authorization_url: str | None
    ) -> None:
        """Set the payment's state (and its checkout URL when there is one)."""

    def store_response(self, key: ScopedKey, status: int, body: dict[str, Any]) -> None:
        """Keep the answer under the key (a replay returns it) and unlock the key."""


class InitializeStore(Protocol):
    def transaction(self) -> AbstractContextManager[InitializeTransaction]:
        """A transaction that commits when the block ends normally, else rolls back."""


class ProviderInitializer(Protocol):
    async def initialize(
        self, request: InitializePayment, reference: str, idempotency_key: str
    ) -> str:
        """The checkout URL; raises ProviderRefused or ProviderOutcomeUnknown."""


@dataclass(frozen=True, slots=True)
class PaymentSnapshot:
    """A payment as GET /payments/{reference} shows it; `user_id` is the merchant's id."""

    reference: str
    state: str
    credited: bool
    refunded_amount: int
    user_id: str
    amount: int
    currency: str
    provider: str
    created_at: datetime
    completed_at: datetime | None


class ReadModel(Protocol):
    def payment(self, reference: str) -> PaymentSnapshot | None:
        """The payment with this reference, if any."""

    def balances(self, user_id: str) -> dict[str, int] | None:
        """The user's balance per currency (in currency order); None when no such user."""


class KeyPruner(Protocol):
    def delete_keys_before(self, cutoff: datetime, limit: int) -> int:
        """One transaction: delete at most `limit` Idempotency-Keys created before `cutoff`
        (skipping rows another transaction holds), each key's payment letting go of it; the
        number deleted."""
