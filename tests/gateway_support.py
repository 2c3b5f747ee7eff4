"""Builders for the gateway's and the api's tests: settings with every provider on, and a real
app around them, over real HTTP."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp

from kernel.settings import Settings
from payhooks_devtools.localnet import free_port
from payments_api.adapters.provider_api import ProviderApi
from payments_api.bootstrap import bootstrap as bootstrap_api
from payments_api.entrypoints.app import build_app as build_api_app
from payments_api.settings import ApiSettings
from producer_gateway.bootstrap import bootstrap
from producer_gateway.entrypoints.app import build_app
from producer_gateway.settings import GatewaySettings
from tests.helpers import eventually, narrowed

SECRETS = {
    "paystack": "sk_test_paystack_primary_0123456789abcdef",
    "stripe": "whsec_stripe_primary_0123456789abcdef",
    "flutterwave": "flw_secret_hash_primary",
    "standard": "whsec_" + base64.b64encode(b"standard-webhooks-primary-key!!").decode(),
}
OLD_SECRETS = {
    "paystack": "sk_test_paystack_old_0123456789abcdef",
    "stripe": "whsec_stripe_old_0123456789abcdef",
    "flutterwave": "flw_secret_hash_old",
    "standard": "whsec_" + base64.b64encode(b"standard-webhooks-old-key").decode(),
}
# The api's clients in tests: "tests" (two tokens: rotation) and "other".
API_TOKEN = "tests-token-new-0123456789"
API_OLD_TOKEN = "tests-token-old-0123456789"
OTHER_TOKEN = "other-token-0123456789abc"
API_TOKENS = f"tests:{API_TOKEN},tests:{API_OLD_TOKEN},other:{OTHER_TOKEN}"
FIELDS = {
    "paystack": "paystack_secret_key",
    "stripe": "stripe_webhook_secret",
    "flutterwave": "flutterwave_secret_hash",
    "standard": "standard_webhook_secret",
}


def with_providers(settings: Settings, *, rotation: bool = False, **overrides: object) -> Settings:
    """`settings` with every provider's secret set (new first, then old when `rotation`)."""
    values: dict[str, Any] = {
        FIELDS[p]: f"{SECRETS[p]},{OLD_SECRETS[p]}" if rotation else SECRETS[p] for p in SECRETS
    }
    values["api_tokens"] = API_TOKENS
    parsed = Settings(**values)  # the comma-separated parsing of the real settings
    return settings.model_copy(
        update={field: getattr(parsed, field) for field in values} | overrides
    )


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """`app` served by a real uvicorn on a free port, in a thread; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    eventually(lambda: server.started or not thread.is_alive(), seconds=30, every=0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def gateway_client(
    settings: Settings, *, clock: Callable[[], float] = time.time
) -> Iterator[httpx.Client]:
    """The real gateway app, with a real Kafka publisher, over real HTTP."""
    app = build_app(bootstrap(narrowed(settings, GatewaySettings), clock=clock))
    with serving(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


@contextmanager
def api_client(
    settings: Settings, *, provider_api: ProviderApi | None = None, token: str | None = API_TOKEN
) -> Iterator[httpx.Client]:
    """The real api app (real PostgreSQL and Redis) over real HTTP, sending `token` as bearer."""
    api = bootstrap_api(narrowed(settings, ApiSettings), provider_api=provider_api)
    app = build_api_app(api, prune=False)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with serving(app) as url, httpx.Client(base_url=url, timeout=60, headers=headers) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
