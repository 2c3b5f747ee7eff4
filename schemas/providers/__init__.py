"""Provider schemes by name: the one place that knows which providers exist."""

from __future__ import annotations

from schemas.providers.base import ProviderEvent, ProviderScheme
from schemas.providers.flutterwave import FlutterwaveScheme
from schemas.providers.paystack import PaystackScheme
from schemas.providers.standard import StandardScheme
from schemas.providers.stripe import StripeScheme

SCHEMES: dict[str, ProviderScheme] = {
    scheme.name: scheme
    for scheme in (PaystackScheme(), StripeScheme(), FlutterwaveScheme(), StandardScheme())
}

__all__ = ["SCHEMES", "ProviderEvent", "ProviderScheme"]
