"""Webhook bodies shaped like each provider's real ones (minimal), for the simulator and tests."""

from __future__ import annotations

import json
import zlib
from typing import Any

from schemas.providers.base import to_major_units


def _paystack(event: str, reference: str, amount: int, currency: str, status: str) -> Any:
    return {
        "event": event,
        "data": {
            "id": 302961,
            "reference": reference,
            "amount": amount,
            "currency": currency,
            "status": status,
            "paid_at": "2026-11-27T10:00:00Z",
        },
    }


def _stripe(event: str, reference: str, amount: int, currency: str, status: str) -> Any:
    return {
        "id": f"evt_{reference}_{event}",
        "object": "event",
        "type": event,
        "created": 1_800_000_000,
        "data": {
            "object": {
                "id": f"pi_{reference}",
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount if status == "succeeded" else 0,
                "currency": currency.lower(),
                "status": status,
                "metadata": {"reference": reference},
            }
        },
    }


def _flutterwave(event: str, reference: str, amount: int, currency: str, status: str) -> Any:
    return {
        "event": event,
        "data": {
            "id": zlib.crc32(f"{reference}|{event}".encode()),
            "tx_ref": reference,
            "flw_ref": f"FLW-{reference}",
            # Flutterwave sends major units: a JSON number, never a string.
            "amount": float(to_major_units(amount, currency)),
            "currency": currency,
            "status": status,
            "created_at": "2026-11-27T10:00:00.000Z",
        },
    }


def _standard(event: str, reference: str, amount: int, currency: str, status: str) -> Any:
    return {
        "type": event,
        "timestamp": "2026-11-27T10:00:00Z",
        "data": {"reference": reference, "amount": amount, "currency": currency, "status": status},
    }


# provider → (success event, its status, failure event, its status, body builder)
_SHAPES = {
    "paystack": ("charge.success", "success", "charge.failed", "failed", _paystack),
    "stripe": (
        "payment_intent.succeeded",
        "succeeded",
        "payment_intent.payment_failed",
        "requires_payment_method",
        _stripe,
    ),
    "flutterwave": ("charge.completed", "successful", "charge.completed", "failed", _flutterwave),
    "standard": ("payment.succeeded", "succeeded", "payment.failed", "failed", _standard),
}


def webhook_body(
    provider: str, reference: str, amount: int, currency: str, *, succeeded: bool = True
) -> bytes:
    """The bytes `provider` would post when the payment `reference` succeeds (or fails)."""
    ok_event, ok_status, ko_event, ko_status, _ = _SHAPES[provider]
    event, status = (ok_event, ok_status) if succeeded else (ko_event, ko_status)
    payload = payment_payload(provider, reference, amount, currency, event=event, status=status)
    return json.dumps(payload).encode()


def payment_payload(
    provider: str, reference: str, amount: int, currency: str, *, event: str, status: str
) -> Any:
    """A payment event's JSON document shaped like `provider`'s, with any event type and status."""
    return _SHAPES[provider][4](event, reference, amount, currency, status)


def non_payment_body(provider: str) -> bytes:
    """An event payhooks does not act on and that names no payment (a transfer, a customer)."""
    bodies: dict[str, Any] = {
        "paystack": {"event": "transfer.success", "data": {"id": 77, "amount": 1000}},
        "stripe": {
            "id": "evt_customer_1",
            "type": "customer.created",
            "created": 1_800_000_000,
            "data": {"object": {"id": "cus_1", "object": "customer"}},
        },
        "flutterwave": {"event": "transfer.completed", "data": {"id": 88, "status": "SUCCESSFUL"}},
        "standard": {"type": "transfer.created", "data": {"status": "created"}},
    }
    return json.dumps(bodies[provider]).encode()


# --- money going back: refunds and lost disputes (docs/providers.md) ---------------------------


def _paystack_reversal(kind: str, reference: str, amount: int, currency: str, rid: str) -> Any:
    if kind == "refund":
        return {
            "event": "refund.processed",
            "data": {
                "id": zlib.crc32(rid.encode()),
                "status": "processed",
                "transaction_reference": reference,
                "refund_reference": rid,
                "amount": amount,
                "currency": currency,
            },
        }
    return {
        "event": "charge.dispute.resolve",
        "data": {
            "id": zlib.crc32(rid.encode()),
            "status": "resolved",
            "resolution": "merchant-accepted",
            "refund_amount": amount,
            "currency": currency,
            "transaction": {"id": 302961, "reference": reference, "amount": amount},
        },
    }


def _stripe_reversal(kind: str, reference: str, amount: int, currency: str, rid: str) -> Any:
    # Refunds and disputes carry no metadata of ours: they name the PaymentIntent.
    obj: dict[str, Any] = {
        "id": rid,
        "amount": amount,
        "currency": currency.lower(),
        "payment_intent": f"pi_{reference}",
        "metadata": {},
    }
    if kind == "refund":
        event, obj = "refund.updated", {**obj, "object": "refund", "status": "succeeded"}
    else:
        event, obj = "charge.dispute.closed", {**obj, "object": "dispute", "status": "lost"}
    return {
        "id": f"evt_{rid}",
        "object": "event",
        "type": event,
        "created": 1_800_000_000,
        "data": {"object": obj},
    }


def _flutterwave_reversal(kind: str, reference: str, amount: int, currency: str, rid: str) -> Any:
    event, status = (
        ("refund.completed", "completed")
        if kind == "refund"
        else (
            "chargeback.updated",
            "lost",
        )
    )
    return {
        "event": event,
        "data": {
            "id": zlib.crc32(rid.encode()),
            "tx_ref": reference,
            "tx_id": zlib.crc32(f"{reference}|charge.completed".encode()),
            "amount": float(to_major_units(amount, currency)),
            "currency": currency,
            "status": status,
            "created_at": "2026-11-27T11:00:00.000Z",
        },
    }


def _standard_reversal(kind: str, reference: str, amount: int, currency: str, rid: str) -> Any:
    event, id_field = (
        ("payment.refunded", "refund_id")
        if kind == "refund"
        else ("payment.charged_back", "dispute_id")
    )
    return {
        "type": event,
        "timestamp": "2026-11-27T11:00:00Z",
        "data": {"reference": reference, "amount": amount, "currency": currency, id_field: rid},
    }


_REVERSALS = {
    "paystack": _paystack_reversal,
    "stripe": _stripe_reversal,
    "flutterwave": _flutterwave_reversal,
    "standard": _standard_reversal,
}


def reversal_body(
    provider: str,
    reference: str,
    amount: int,
    currency: str,
    *,
    reversal_id: str,
    kind: str = "refund",
) -> bytes:
    """The bytes `provider` posts when `amount` of payment `reference` is refunded
    (`kind="refund"`) or lost in a dispute (`kind="chargeback"`); `reversal_id` is the provider's
    id of the refund or dispute."""
    build = _REVERSALS[provider]
    return json.dumps(build(kind, reference, amount, currency, reversal_id)).encode()
