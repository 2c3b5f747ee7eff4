"""Read models for GET /payments/{reference} and GET /wallets/{user_id}: None means 404."""

from __future__ import annotations

from typing import Any

from payments_api.domain.payments import could_be_reference, could_be_user_id
from payments_api.service_layer.ports import ReadModel


def payment_view(reads: ReadModel, reference: str) -> dict[str, Any] | None:
    """Text no reference can be is unknown without asking the store."""
    found = reads.payment(reference) if could_be_reference(reference) else None
    if found is None:
        return None
    completed = found.completed_at
    return {
        "reference": found.reference,
        "state": found.state,
        "credited": found.credited,
        "refunded_amount": found.refunded_amount,
        "user_id": found.user_id,
        "amount": found.amount,
        "currency": found.currency,
        "provider": found.provider,
        "created_at": found.created_at.isoformat(),
        "completed_at": completed.isoformat() if completed else None,
    }


def wallet_view(reads: ReadModel, user_id: str) -> dict[str, Any] | None:
    """Text no user id can be is unknown without asking the store."""
    balances = reads.balances(user_id) if could_be_user_id(user_id) else None
    if balances is None:
        return None
    return {"user_id": user_id, "balances": balances}
