"""`payhooks simulator`: the providers' initialize/verify APIs, minimal but shaped like the real
ones, plus `POST /simulate/pay` that signs and posts a provider's webhook to the gateway.

Routes live under the provider's name, so `PAYHOOKS_<PROVIDER>_API_BASE=http://host:port/<provider>`
points the gateway at it. State is in memory: a restart forgets every payment.
"""

from __future__ import annotations

import re
import secrets
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kernel.settings import PROVIDERS, Settings
from payhooks_devtools.simulator.events import reversal_body, webhook_body
from schemas.providers import SCHEMES
from schemas.providers.base import to_major_units, to_minor_units


@dataclass
class SimulatedPayment:
    provider: str
    reference: str
    amount: int
    currency: str
    email: str
    status: str = "pending"
    refunded: int = 0  # refunds and lost disputes so far, minor units


@dataclass
class SimulatorState:
    settings: Settings
    base_url: str
    payments: dict[str, SimulatedPayment] = field(default_factory=dict)
    outages: dict[str, tuple[int, int]] = field(default_factory=dict)  # provider → (status, count)
    client: httpx.AsyncClient | None = None

    def checkout_url(self, provider: str, reference: str) -> str:
        return f"{self.base_url}/{provider}/checkout/{reference}"

    def take_outage(self, provider: str) -> int | None:
        status, count = self.outages.get(provider, (0, 0))
        if count <= 0:
            return None
        self.outages[provider] = (status, count - 1)
        return status


class BadInput(Exception):
    pass


def _state(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.simulator
    return state


def _record(state: SimulatorState, payment: SimulatedPayment) -> SimulatedPayment:
    state.payments[payment.reference] = payment
    return payment


async def _paystack_initialize(state: SimulatorState, request: Request) -> Response:
    body = await request.json()
    payment = _record(
        state,
        SimulatedPayment(
            "paystack",
            str(body.get("reference") or f"ps_{secrets.token_hex(6)}"),
            int(body["amount"]),
            str(body.get("currency", "NGN")),
            str(body["email"]),
        ),
    )
    return JSONResponse(
        {
            "status": True,
            "message": "Authorization URL created",
            "data": {
                "authorization_url": state.checkout_url("paystack", payment.reference),
                "access_code": secrets.token_hex(8),
                "reference": payment.reference,
            },
        }
    )


async def _stripe_initialize(state: SimulatorState, request: Request) -> Response:
    # Stripe's API is form-encoded; parsed by hand (no python-multipart dependency for this).
    form = dict(parse_qsl((await request.body()).decode()))
    reference = str(form.get("metadata[reference]") or f"cs_{secrets.token_hex(6)}")
    payment = _record(
        state,
        SimulatedPayment(
            "stripe",
            reference,
            int(str(form["line_items[0][price_data][unit_amount]"])),
            str(form["line_items[0][price_data][currency]"]).upper(),
            str(form.get("customer_email", "")),
        ),
    )
    return JSONResponse(_stripe_session(state, payment))


def _stripe_session(state: SimulatorState, payment: SimulatedPayment) -> dict[str, Any]:
    return {
        "id": f"cs_test_{payment.reference}",
        "object": "checkout.session",
        "url": state.checkout_url("stripe", payment.reference),
        "amount_total": payment.amount,
        "currency": payment.currency.lower(),
        "payment_status": "paid" if payment.status == "success" else "unpaid",
        "metadata": {"reference": payment.reference},
    }


async def _flutterwave_initialize(state: SimulatorState, request: Request) -> Response:
    body = await request.json()
    currency = str(body.get("currency", "NGN"))
    try:
        amount = to_minor_units(Decimal(str(body["amount"])), currency, "flutterwave")
    except (InvalidOperation, ValueError) as exc:
        raise BadInput("amount is not a number") from exc
    _record(
        state,
        SimulatedPayment(
            "flutterwave",
            str(body["tx_ref"]),
            amount,
            currency,
            str(body.get("customer", {}).get("email", "")),
        ),
    )
    return JSONResponse(
        {
            "status": "success",
            "message": "Hosted Link",
            "data": {"link": state.checkout_url("flutterwave", str(body["tx_ref"]))},
        }
    )


async def _standard_initialize(state: SimulatorState, request: Request) -> Response:
    body = await request.json()
    payment = _record(
        state,
        SimulatedPayment(
            "standard",
            str(body["reference"]),
            int(body["amount"]),
            str(body["currency"]),
            str(body.get("email", "")),
        ),
    )
    return JSONResponse(
        {
            "reference": payment.reference,
            "authorization_url": state.checkout_url("standard", payment.reference),
        }
    )


Handler = Callable[[SimulatorState, Request], Awaitable[Response]]
_INITIALIZERS: dict[str, Handler] = {
    "paystack": _paystack_initialize,
    "stripe": _stripe_initialize,
    "flutterwave": _flutterwave_initialize,
    "standard": _standard_initialize,
}


def initializer(provider: str) -> Callable[[Request], Awaitable[Response]]:
    async def initialize(request: Request) -> Response:
        state = _state(request)
        outage = state.take_outage(provider)
        if outage is not None:
            return JSONResponse({"status": False, "message": "simulated outage"}, outage)
        try:
            return await _INITIALIZERS[provider](state, request)
        except (BadInput, KeyError, ValueError, TypeError) as exc:
            return JSONResponse({"status": False, "message": f"bad request: {exc}"}, 400)

    return initialize


def _stripe_intent(payment: SimulatedPayment) -> dict[str, Any]:
    paid = payment.status == "success"
    return {
        "id": f"pi_{payment.reference}",
        "object": "payment_intent",
        "amount": payment.amount,
        "amount_received": payment.amount if paid else 0,
        "currency": payment.currency.lower(),
        "status": "succeeded" if paid else "requires_payment_method",
        "metadata": {"reference": payment.reference},
    }


def _verify_answer(provider: str, state: SimulatorState, payment: SimulatedPayment) -> Any:
    """What the real verify API answers, truthfully: pending until the payment is paid."""
    if provider == "paystack":
        data = {
            "reference": payment.reference,
            "amount": payment.amount,
            "currency": payment.currency,
            "status": payment.status if payment.status == "success" else "abandoned",
        }
        return {"status": True, "message": "Verification successful", "data": data}
    if provider == "stripe":
        return _stripe_session(state, payment)
    if provider == "flutterwave":
        data = {
            "id": zlib.crc32(payment.reference.encode()),
            "tx_ref": payment.reference,
            # Major units, a JSON number, as the real API answers.
            "amount": float(to_major_units(payment.amount, payment.currency)),
            "currency": payment.currency,
            "status": "successful" if payment.status == "success" else "pending",
        }
        return {"status": "success", "message": "Transaction fetched successfully", "data": data}
    return {
        "reference": payment.reference,
        "status": "succeeded" if payment.status == "success" else "pending",
        "amount": payment.amount,
        "currency": payment.currency,
    }


def _with_refunds(answer: Any, payment: SimulatedPayment) -> Any:
    """Refunds show in the verify answer (`amount_refunded`, minor units) without changing its
    status: the payment was paid; what went back is a separate figure, as at the providers."""
    target = answer.get("data") if isinstance(answer.get("data"), dict) else answer
    target["amount_refunded"] = payment.refunded
    return answer


def _known(state: SimulatorState, provider: str, reference: str) -> SimulatedPayment | None:
    payment = state.payments.get(reference)
    return payment if payment is not None and payment.provider == provider else None


async def stripe_intent(request: Request) -> Response:
    """`GET /v1/payment_intents/pi_<reference>` (the simulator's intents are named so)."""
    state = _state(request)
    reference = str(request.path_params["intent_id"]).removeprefix("pi_")
    payment = _known(state, "stripe", reference)
    if payment is None:
        return JSONResponse({"error": {"message": "No such payment_intent"}}, 404)
    return JSONResponse(_with_refunds(_stripe_intent(payment), payment))


async def stripe_intent_search(request: Request) -> Response:
    """`GET /v1/payment_intents/search?query=metadata['reference']:'<reference>'`."""
    state = _state(request)
    match = re.fullmatch(r"metadata\['reference'\]:'(.*)'", request.query_params.get("query", ""))
    payment = _known(state, "stripe", match.group(1)) if match else None
    hits = [_stripe_intent(payment)] if payment is not None else []
    return JSONResponse({"object": "search_result", "data": hits, "has_more": False})


def verifier(provider: str) -> Callable[[Request], Awaitable[Response]]:
    async def verify(request: Request) -> Response:
        state = _state(request)
        reference = request.path_params.get("reference") or request.query_params.get("tx_ref", "")
        reference = reference.removeprefix("cs_test_")
        payment = _known(state, provider, reference)
        if payment is None:
            return JSONResponse({"status": False, "message": "Transaction not found"}, 404)
        return JSONResponse(_with_refunds(_verify_answer(provider, state, payment), payment))

    return verify


async def simulate_pay(request: Request) -> Response:
    """Sign and post the provider's webhook for a payment initialized here (or described)."""
    state = _state(request)
    body = await request.json()
    reference = str(body["reference"])
    payment = state.payments.get(reference)
    if payment is None:
        if not {"provider", "amount", "currency"} <= body.keys():
            return JSONResponse({"error": f"unknown reference {reference!r}"}, 404)
        payment = _record(
            state,
            SimulatedPayment(
                body["provider"], reference, int(body["amount"]), body["currency"], ""
            ),
        )
    succeeded = bool(body.get("succeeded", True))
    raw = webhook_body(
        payment.provider, reference, payment.amount, payment.currency, succeeded=succeeded
    )
    if succeeded:
        payment.status = "success"  # paid at the provider first; then it tells the merchant
    if body.get("webhook", True) is False:  # a lost webhook: only the verify API knows
        return JSONResponse({"provider": payment.provider, "status": payment.status})
    answer = await _post_webhook(state, payment.provider, raw)
    return JSONResponse(
        {
            "provider": payment.provider,
            "status_code": answer.status_code,
            "response": _json_or_text(answer),
        }
    )


async def _post_webhook(state: SimulatorState, provider: str, raw: bytes) -> httpx.Response:
    secrets_ = state.settings.provider_secrets(provider)
    if not secrets_:
        raise BadInput(f"no secret is configured for {provider}; set its PAYHOOKS_ variable")
    headers = SCHEMES[provider].sign(
        raw, secrets_[0], now=time.time(), event_id=f"msg_{secrets.token_hex(8)}"
    )
    assert state.client is not None
    return await state.client.post(
        f"{state.settings.gateway_url.rstrip('/')}/webhooks/{provider}",
        content=raw,
        headers={**headers, "content-type": "application/json"},
    )


def _json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def reverser(kind: str) -> Callable[[Request], Awaitable[Response]]:
    """`POST /simulate/refund` / `/simulate/dispute` `{"reference", "amount"?, "id"?}`: money goes
    back at the provider (a refund, or a dispute the merchant lost), then its signed webhook."""

    async def reverse(request: Request) -> Response:
        state = _state(request)
        body = await request.json()
        payment = state.payments.get(str(body["reference"]))
        if payment is None or payment.status != "success":
            return JSONResponse({"error": "no paid payment has this reference"}, 404)
        amount = int(body.get("amount", payment.amount - payment.refunded))
        if not 0 < amount <= payment.amount - payment.refunded:
            raise BadInput(f"{amount} is more than the {payment.amount - payment.refunded} left")
        reversal_id = str(body.get("id") or f"{kind[:2]}_{secrets.token_hex(6)}")
        payment.refunded += amount
        raw = reversal_body(
            payment.provider,
            payment.reference,
            amount,
            payment.currency,
            reversal_id=reversal_id,
            kind=kind,
        )
        answer = await _post_webhook(state, payment.provider, raw)
        return JSONResponse(
            {
                "provider": payment.provider,
                "id": reversal_id,
                "amount": amount,
                "refunded": payment.refunded,
                "status_code": answer.status_code,
                "response": _json_or_text(answer),
            }
        )

    return reverse


async def simulate_outage(request: Request) -> Response:
    """The next `count` initialize calls to `provider` answer `status` (default 503)."""
    body = await request.json()
    provider = str(body["provider"])
    _state(request).outages[provider] = (int(body.get("status", 503)), int(body.get("count", 1)))
    return JSONResponse({"provider": provider, "outage": _state(request).outages[provider]})


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def bad_input(_: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, 400)


def _routes() -> list[Route]:
    paths = {
        "paystack": ("/transaction/initialize", "/transaction/verify/{reference}"),
        "stripe": ("/v1/checkout/sessions", "/v1/checkout/sessions/{reference}"),
        "flutterwave": ("/v3/payments", "/v3/transactions/verify_by_reference"),
        "standard": ("/payments", "/payments/{reference}"),
    }
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/simulate/pay", simulate_pay, methods=["POST"]),
        Route("/simulate/outage", simulate_outage, methods=["POST"]),
        Route("/simulate/refund", reverser("refund"), methods=["POST"]),
        Route("/simulate/dispute", reverser("chargeback"), methods=["POST"]),
    ]
    for provider in PROVIDERS:
        init_path, verify_path = paths[provider]
        routes.append(Route(f"/{provider}{init_path}", initializer(provider), methods=["POST"]))
        routes.append(Route(f"/{provider}{verify_path}", verifier(provider), methods=["GET"]))
    routes += [
        Route("/stripe/v1/payment_intents/search", stripe_intent_search, methods=["GET"]),
        Route("/stripe/v1/payment_intents/{intent_id}", stripe_intent, methods=["GET"]),
    ]
    return routes


def build_simulator(settings: Settings, base_url: str) -> Starlette:
    state = SimulatorState(settings=settings, base_url=base_url.rstrip("/"))

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        state.client = httpx.AsyncClient(timeout=30)
        yield
        await state.client.aclose()

    app = Starlette(
        routes=_routes(),
        exception_handlers={BadInput: bad_input, KeyError: bad_input, ValueError: bad_input},
        lifespan=lifespan,
    )
    app.state.simulator = state
    return app
