"""Provider schemes by name: the one place that knows which providers exist."""

from __future__ import annotations

from schemas.providers.base import ProviderEvent, ProviderScheme
from schemas.providers.paystack import PaystackScheme

SCHEMES: dict[str, ProviderScheme] = {scheme.name: scheme for scheme in (PaystackScheme(),)}

__all__ = ["SCHEMES", "ProviderEvent", "ProviderScheme"]
