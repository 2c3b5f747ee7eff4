"""The providers' verify APIs over httpx: the one client the consumer (confirmation before a
credit) and the sweep (payments nobody heard back about) share.

`ProviderVerifier` is the port; `HttpProviderVerifier` the adapter. What to ask and how to read
the answer are pure functions in `schemas.providers.confirm`. Anything short of a readable answer
(connection error, timeout, 5xx, 429, 401/403, a body that is not the provider's JSON) is
`ProviderUnreachable`: the caller retries later and never credits on it. A 404 is the provider's
definite "no such transaction" (`ConfirmedStatus.NOT_FOUND`).
"""

from __future__ import annotations

from typing import Protocol

import httpx

from kernel.settings import ProviderApiSettings
from schemas.providers.confirm import (
    Confirmation,
    ConfirmedStatus,
    UnreadableAnswer,
    read_answer,
    verify_request,
)


class ProviderUnreachable(Exception):
    """The provider's verify API gave no usable answer; ask again later."""


class ProviderVerifier(Protocol):
    def confirm(
        self, provider: str, reference: str, *, transaction_id: str | None = None
    ) -> Confirmation:
        """The provider's word on `reference`; ProviderUnreachable if it gave none."""

    def close(self) -> None:
        """Release connections."""


class HttpProviderVerifier:
    """One shared httpx.Client (connection pooling); close() when done."""

    def __init__(self, settings: ProviderApiSettings, client: httpx.Client | None = None) -> None:
        self._settings = settings
        self._client = client or httpx.Client(timeout=settings.provider_timeout_seconds)

    def confirm(
        self, provider: str, reference: str, *, transaction_id: str | None = None
    ) -> Confirmation:
        request = verify_request(provider, reference, transaction_id)
        url = self._settings.provider_api_base(provider).rstrip("/") + request.path
        headers = {"Accept": "application/json"}
        key = self._settings.provider_api_key(provider)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            response = self._client.get(url, params=dict(request.params), headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(
                f"{provider} verify API did not answer ({type(exc).__name__})"
            ) from exc
        return _read(provider, response)

    def close(self) -> None:
        self._client.close()


def _read(provider: str, response: httpx.Response) -> Confirmation:
    if response.status_code == 404:
        return Confirmation(provider, "", ConfirmedStatus.NOT_FOUND)
    if not response.is_success:
        raise ProviderUnreachable(f"{provider} verify API answered HTTP {response.status_code}")
    try:
        return read_answer(provider, response.json())
    except (ValueError, UnreadableAnswer) as exc:
        raise ProviderUnreachable(f"{provider} verify API answered something unreadable") from exc
