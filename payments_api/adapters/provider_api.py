"""The providers' initialize APIs over httpx (the simulator stands in for them locally).

Each provider gets one function turning our request into theirs and one reading the checkout URL
out of their answer. Stripe and Flutterwave carry our reference in metadata / `tx_ref`, which is
where their webhooks give it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from payments_api.domain.errors import (
    ProviderOutcomeUnknown,
    ProviderRefused,
    ProviderUnavailable,
)
from payments_api.domain.payments import InitializePayment, metadata_for_provider
from payments_api.settings import ApiSettings
from schemas.providers.base import to_major_units


@dataclass(frozen=True, slots=True)
class ProviderCall:
    path: str
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class CallContext:
    reference: str
    return_url: str
    metadata: dict[str, Any]  # the allow-listed part of the request's metadata


def paystack_call(request: InitializePayment, ctx: CallContext) -> ProviderCall:
    return ProviderCall(
        "/transaction/initialize",
        json={
            "email": request.email,
            "amount": str(request.amount),  # kobo, as Paystack's docs show it
            "currency": request.currency,
            "reference": ctx.reference,
            "callback_url": ctx.return_url,
            "metadata": ctx.metadata,
        },
    )


def stripe_call(request: InitializePayment, ctx: CallContext) -> ProviderCall:
    # A Checkout Session; the reference rides in both the session's and the intent's metadata,
    # so checkout.session.* and payment_intent.* webhooks both carry it.
    return ProviderCall(
        "/v1/checkout/sessions",
        form={
            "mode": "payment",
            "success_url": ctx.return_url,
            "customer_email": request.email,
            "client_reference_id": ctx.reference,
            "line_items[0][quantity]": "1",
            "line_items[0][price_data][currency]": request.currency.lower(),
            "line_items[0][price_data][unit_amount]": str(request.amount),
            "line_items[0][price_data][product_data][name]": f"Payment {ctx.reference}",
            "metadata[reference]": ctx.reference,
            "payment_intent_data[metadata][reference]": ctx.reference,
        },
    )


def flutterwave_call(request: InitializePayment, ctx: CallContext) -> ProviderCall:
    return ProviderCall(
        "/v3/payments",
        json={
            "tx_ref": ctx.reference,
            # Flutterwave takes major units; ours are minor.
            "amount": str(to_major_units(request.amount, request.currency)),
            "currency": request.currency,
            "redirect_url": ctx.return_url,
            "customer": {"email": request.email},
            "meta": ctx.metadata,
        },
    )


def standard_call(request: InitializePayment, ctx: CallContext) -> ProviderCall:
    return ProviderCall(
        "/payments",
        json={
            "reference": ctx.reference,
            "amount": request.amount,
            "currency": request.currency,
            "email": request.email,
            "return_url": ctx.return_url,
        },
    )


def _paystack_url(answer: Any) -> Any:
    return answer["data"]["authorization_url"] if answer.get("status") is True else None


def _stripe_url(answer: Any) -> Any:
    return answer.get("url")


def _flutterwave_url(answer: Any) -> Any:
    return answer["data"]["link"] if answer.get("status") == "success" else None


def _standard_url(answer: Any) -> Any:
    return answer.get("authorization_url")


Builder = Callable[[InitializePayment, CallContext], ProviderCall]
_PROVIDERS: dict[str, tuple[Builder, Callable[[Any], Any]]] = {
    "paystack": (paystack_call, _paystack_url),
    "stripe": (stripe_call, _stripe_url),
    "flutterwave": (flutterwave_call, _flutterwave_url),
    "standard": (standard_call, _standard_url),
}


class ProviderApi:
    """Initializes payments at the providers. One shared httpx.AsyncClient per gateway."""

    def __init__(self, settings: ApiSettings, client: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._client = client or httpx.AsyncClient(timeout=settings.provider_timeout_seconds)

    async def initialize(
        self, request: InitializePayment, reference: str, idempotency_key: str
    ) -> str:
        """The checkout URL the payer is sent to.

        ProviderRefused: a definite no (4xx, or the request never left: connection refused).
        ProviderOutcomeUnknown: the request may have reached the provider (timeout mid-answer,
        5xx, connection lost, unreadable success): the payment may exist there.
        """
        build, read_url = _PROVIDERS[request.provider]
        settings = self._settings
        call = build(
            request,
            CallContext(
                reference,
                settings.payment_return_url,
                metadata_for_provider(request.metadata, settings.api_metadata_keys),
            ),
        )
        headers = {"Idempotency-Key": idempotency_key}
        key = settings.provider_api_key(request.provider)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = settings.provider_api_base(request.provider).rstrip("/") + call.path
        try:
            response = await self._client.post(url, json=call.json, data=call.form, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ProviderUnavailable(
                f"{request.provider} could not be reached ({type(exc).__name__}); "
                "retry with a new Idempotency-Key"
            ) from exc
        except httpx.HTTPError as exc:
            raise ProviderOutcomeUnknown(
                f"{request.provider} did not answer ({type(exc).__name__})"
            ) from exc
        return self._checkout_url(request.provider, response, read_url)

    @staticmethod
    def _checkout_url(
        provider: str, response: httpx.Response, read_url: Callable[[Any], Any]
    ) -> str:
        if response.status_code >= 500:
            raise ProviderOutcomeUnknown(f"{provider} answered {response.status_code}")
        if not response.is_success:
            raise ProviderRefused(
                f"{provider} refused to initialize the payment (HTTP {response.status_code})"
            )
        try:
            found = read_url(response.json())
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ProviderOutcomeUnknown(f"{provider} answered something unreadable") from exc
        if not isinstance(found, str) or not found:
            raise ProviderRefused(f"{provider} refused to initialize the payment")
        return found

    async def aclose(self) -> None:
        await self._client.aclose()
