"""Asking a provider what really happened: the verify API calls and how their answers read. Pure.

Each provider's verify API (Paystack `GET /transaction/verify/:reference`, Flutterwave
`GET /v3/transactions/verify_by_reference?tx_ref=`, Stripe's PaymentIntent / Checkout Session,
the Standard provider's `GET /payments/:reference`) is reduced to one `Confirmation`: the
provider's own word on status, amount (minor units), currency and reference. `disagreement()` is
the rule every caller applies before money moves: credit only when all four agree.

The HTTP side lives in `kernel.provider_verify` (one httpx adapter shared by the consumer and
the sweep).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from schemas.providers.base import MAX_MINOR_UNITS, to_minor_units


class ConfirmedStatus(StrEnum):
    SUCCEEDED = "succeeded"  # the provider holds the money
    PENDING = "pending"  # not paid (yet): abandoned, ongoing, requires action…
    FAILED = "failed"  # a definite no
    NOT_FOUND = "not_found"  # the provider has no such transaction


@dataclass(frozen=True, slots=True)
class Confirmation:
    """The provider's answer about one payment, in payhooks' units."""

    provider: str
    reference: str
    status: ConfirmedStatus
    amount: int | None = None
    currency: str | None = None
    transaction_id: str | None = None
    provider_status: str = ""


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """One GET to the provider's API: path under its API base, query parameters."""

    path: str
    params: Mapping[str, str]


class UnreadableAnswer(ValueError):
    """The provider's verify answer is not the JSON its docs describe."""


def verify_request(provider: str, reference: str, transaction_id: str | None) -> VerifyRequest:
    """Where to ask. Stripe is asked by object id when the event named one (`pi_…`, `cs_…`),
    else by searching PaymentIntents for the reference payhooks put in their metadata."""
    ref = quote(reference, safe="")
    if provider == "paystack":
        return VerifyRequest(f"/transaction/verify/{ref}", {})
    if provider == "flutterwave":
        return VerifyRequest("/v3/transactions/verify_by_reference", {"tx_ref": reference})
    if provider == "stripe":
        if transaction_id and transaction_id.startswith("cs_"):
            return VerifyRequest(f"/v1/checkout/sessions/{quote(transaction_id, safe='')}", {})
        if transaction_id and transaction_id.startswith("pi_"):
            return VerifyRequest(f"/v1/payment_intents/{quote(transaction_id, safe='')}", {})
        escaped = reference.replace("\\", "\\\\").replace("'", "\\'")
        return VerifyRequest(
            "/v1/payment_intents/search", {"query": f"metadata['reference']:'{escaped}'"}
        )
    return VerifyRequest(f"/payments/{ref}", {})


def _int_amount(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_MINOR_UNITS else None


def _currency(value: Any) -> str | None:
    if isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha():
        return value.upper()
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _id(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)[:255]


def _object(answer: Any, *keys: str) -> Mapping[str, Any]:
    found = answer
    for key in keys:
        found = found.get(key) if isinstance(found, Mapping) else None
    if not isinstance(found, Mapping):
        raise UnreadableAnswer(f"the answer has no object at {'.'.join(keys) or 'top level'}")
    return found


def _status(raw: str, succeeded: frozenset[str], failed: frozenset[str]) -> ConfirmedStatus:
    if raw in succeeded:
        return ConfirmedStatus.SUCCEEDED
    if raw in failed:
        return ConfirmedStatus.FAILED
    return ConfirmedStatus.PENDING


def read_paystack(answer: Any) -> Confirmation:
    data = _object(answer, "data")
    raw = _text(data.get("status"))
    return Confirmation(
        "paystack",
        _text(data.get("reference")),
        _status(raw, frozenset({"success"}), frozenset({"failed", "reversed"})),
        _int_amount(data.get("amount")),
        _currency(data.get("currency")),
        _id(data.get("id")),
        raw,
    )


def _major_to_minor(value: Any, currency: str | None) -> int | None:
    if currency is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = to_minor_units(Decimal(str(value)), currency, "flutterwave")
    except (InvalidOperation, ArithmeticError, ValueError):
        return None
    return amount if 0 <= amount <= MAX_MINOR_UNITS else None


def read_flutterwave(answer: Any) -> Confirmation:
    data = _object(answer, "data")
    raw = _text(data.get("status"))
    currency = _currency(data.get("currency"))
    return Confirmation(
        "flutterwave",
        _text(data.get("tx_ref")),
        _status(raw, frozenset({"successful"}), frozenset({"failed", "cancelled"})),
        _major_to_minor(data.get("amount"), currency),  # Flutterwave answers MAJOR units
        currency,
        _id(data.get("id")),
        raw,
    )


def read_stripe(answer: Any) -> Confirmation:
    found = _object(answer)
    if found.get("object") == "search_result":
        hits = found.get("data")
        if not isinstance(hits, list) or not hits:
            return Confirmation("stripe", "", ConfirmedStatus.NOT_FOUND)
        found = _object(hits[0])
    metadata = found.get("metadata")
    reference = _text(metadata.get("reference")) if isinstance(metadata, Mapping) else ""
    if found.get("object") == "checkout.session":
        raw = _text(found.get("payment_status"))
        status = _status(raw, frozenset({"paid"}), frozenset())
        amount = _int_amount(found.get("amount_total"))
    else:
        raw = _text(found.get("status"))
        status = _status(raw, frozenset({"succeeded"}), frozenset({"canceled"}))
        amount = _int_amount(found.get("amount_received"))
    return Confirmation(
        "stripe",
        reference,
        status,
        amount,
        _currency(found.get("currency")),
        _id(found.get("id")),
        raw,
    )


def read_standard(answer: Any) -> Confirmation:
    data = _object(answer)
    raw = _text(data.get("status"))
    return Confirmation(
        "standard",
        _text(data.get("reference")),
        _status(raw, frozenset({"succeeded", "success", "paid"}), frozenset({"failed"})),
        _int_amount(data.get("amount")),
        _currency(data.get("currency")),
        _id(data.get("id")),
        raw,
    )


READERS: dict[str, Callable[[Any], Confirmation]] = {
    "paystack": read_paystack,
    "flutterwave": read_flutterwave,
    "stripe": read_stripe,
    "standard": read_standard,
}


def read_answer(provider: str, answer: Any) -> Confirmation:
    """The provider's JSON answer as a Confirmation; UnreadableAnswer if it is not one."""
    try:
        return READERS[provider](answer)
    except (AttributeError, TypeError, KeyError) as exc:
        raise UnreadableAnswer(f"{provider} verify answer is unreadable: {exc}") from exc


def disagreement(
    confirmation: Confirmation, *, reference: str, amount: int | None, currency: str | None
) -> str | None:
    """Why this confirmation does not back a credit of `amount currency` for `reference`;
    None when status, amount, currency and reference all agree."""
    if confirmation.status is not ConfirmedStatus.SUCCEEDED:
        return (
            f"{confirmation.provider} says the payment is {confirmation.status} "
            f"({confirmation.provider_status or 'no status'})"
        )
    if confirmation.reference != reference:
        return f"{confirmation.provider} confirms another reference"
    if confirmation.amount != amount or confirmation.currency != currency:
        return (
            f"{confirmation.provider} confirms {confirmation.amount} {confirmation.currency}, "
            f"the event says {amount} {currency}"
        )
    return None
