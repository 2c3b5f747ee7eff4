"""Builders for the gateway's tests: settings with every provider on, and a real app around them."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from starlette.types import ASGIApp

from payhooks.localnet import free_port
from payhooks.settings import Settings
from producer_gateway.adapters.provider_api import ProviderApi
from producer_gateway.bootstrap import bootstrap
from producer_gateway.entrypoints.app import build_app
from tests.helpers import eventually

SECRETS = {
    "paystack": "sk_test_paystack_primary",
    "stripe": "whsec_stripe_primary",
    "flutterwave": "flw_secret_hash_primary",
    "standard": "whsec_" + base64.b64encode(b"standard-webhooks-primary-key!!").decode(),
}
OLD_SECRETS = {
    "paystack": "sk_test_paystack_old",
    "stripe": "whsec_stripe_old",
    "flutterwave": "flw_secret_hash_old",
    "standard": "whsec_" + base64.b64encode(b"standard-webhooks-old-key").decode(),
}
FIELDS = {
    "paystack": "paystack_secret_key",
    "stripe": "stripe_webhook_secret",
    "flutterwave": "flutterwave_secret_hash",
    "standard": "standard_webhook_secret",
}


def with_providers(settings: Settings, *, rotation: bool = False, **overrides: object) -> Settings:
    """`settings` with every provider's secret set (new first, then old when `rotation`)."""
    values = {
        FIELDS[p]: f"{SECRETS[p]},{OLD_SECRETS[p]}" if rotation else SECRETS[p] for p in SECRETS
    }
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
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    provider_api: ProviderApi | None = None,
) -> Iterator[httpx.Client]:
    """The real app, with a real Kafka publisher, over real HTTP."""
    app = build_app(bootstrap(settings, clock=clock, provider_api=provider_api))
    with serving(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
