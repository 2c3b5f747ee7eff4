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

from payhooks.settings import Settings
from producer_gateway.domain.errors import ProviderRefused, ProviderUnavailable
from producer_gateway.domain.payments import InitializePayment
from schemas.providers.base import to_major_units


@dataclass(frozen=True, slots=True)
class ProviderCall:
    path: str
    json: dict[str, Any] | None = None
    form: dict[str, str] | None = None


def paystack_call(request: InitializePayment, reference: str, return_url: str) -> ProviderCall:
    return ProviderCall(
        "/transaction/initialize",
        json={
            "email": request.email,
            "amount": str(request.amount),  # kobo, as Paystack's docs show it
            "currency": request.currency,
            "reference": reference,
            "callback_url": return_url,
            "metadata": request.metadata or {},
        },
    )


def stripe_call(request: InitializePayment, reference: str, return_url: str) -> ProviderCall:
    # A Checkout Session; the reference rides in both the session's and the intent's metadata,
    # so checkout.session.* and payment_intent.* webhooks both carry it.
    return ProviderCall(
        "/v1/checkout/sessions",
        form={
            "mode": "payment",
            "success_url": return_url,
            "customer_email": request.email,
            "client_reference_id": reference,
            "line_items[0][quantity]": "1",
            "line_items[0][price_data][currency]": request.currency.lower(),
            "line_items[0][price_data][unit_amount]": str(request.amount),
            "line_items[0][price_data][product_data][name]": f"Payment {reference}",
            "metadata[reference]": reference,
            "payment_intent_data[metadata][reference]": reference,
        },
    )


def flutterwave_call(request: InitializePayment, reference: str, return_url: str) -> ProviderCall:
    return ProviderCall(
        "/v3/payments",
        json={
            "tx_ref": reference,
            # Flutterwave takes major units; ours are minor.
            "amount": str(to_major_units(request.amount, request.currency)),
            "currency": request.currency,
            "redirect_url": return_url,
            "customer": {"email": request.email},
            "meta": request.metadata or {},
        },
    )


def standard_call(request: InitializePayment, reference: str, return_url: str) -> ProviderCall:
    return ProviderCall(
        "/payments",
        json={
            "reference": reference,
            "amount": request.amount,
            "currency": request.currency,
            "email": request.email,
            "return_url": return_url,
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


Builder = Callable[[InitializePayment, str, str], ProviderCall]
_PROVIDERS: dict[str, tuple[Builder, Callable[[Any], Any]]] = {
    "paystack": (paystack_call, _paystack_url),
    "stripe": (stripe_call, _stripe_url),
    "flutterwave": (flutterwave_call, _flutterwave_url),
    "standard": (standard_call, _standard_url),
}


def _api_key(settings: Settings, provider: str) -> str | None:
    if provider == "paystack":
        keys = settings.provider_secrets("paystack")
        return keys[0].decode() if keys else None
    secret = {
        "stripe": settings.stripe_api_key,
        "flutterwave": settings.flutterwave_secret_key,
        "standard": settings.standard_api_key,
    }[provider]
    return secret.get_secret_value() if secret else None


class ProviderApi:
    """Initializes payments at the providers. One shared httpx.AsyncClient per gateway."""

    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._client = client or httpx.AsyncClient(timeout=settings.provider_timeout_seconds)

    async def initialize(
        self, request: InitializePayment, reference: str, idempotency_key: str
    ) -> str:
        """The checkout URL the payer is sent to; ProviderUnavailable / ProviderRefused if none."""
        build, read_url = _PROVIDERS[request.provider]
        call = build(request, reference, self._settings.payment_return_url)
        headers = {"Idempotency-Key": idempotency_key}
        key = _api_key(self._settings, request.provider)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = self._settings.provider_api_base(request.provider).rstrip("/") + call.path
        try:
            response = await self._client.post(url, json=call.json, data=call.form, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"{request.provider} did not answer ({type(exc).__name__}); "
                "retry with a new Idempotency-Key"
            ) from exc
        return self._checkout_url(request.provider, response, read_url)

    @staticmethod
    def _checkout_url(
        provider: str, response: httpx.Response, read_url: Callable[[Any], Any]
    ) -> str:
        if response.status_code >= 500:
            raise ProviderUnavailable(f"{provider} answered {response.status_code}")
        try:
            found = read_url(response.json()) if response.is_success else None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ProviderRefused(f"{provider} answered something unreadable") from exc
        if not isinstance(found, str) or not found:
            raise ProviderRefused(
                f"{provider} refused to initialize the payment (HTTP {response.status_code})"
            )
        return found

    async def aclose(self) -> None:
        await self._client.aclose()
