"""The gateway's composition root: everything it needs, built from the settings, nothing global.

The webhook path needs only Kafka; the database is built on first use by the payment routes, so a
gateway that only takes webhooks never opens a PostgreSQL connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from payhooks.db.engine import make_engine, make_session_factory
from payhooks.settings import Settings
from producer_gateway.adapters.kafka_publisher import KafkaPublisher
from producer_gateway.adapters.metrics import GatewayMetrics
from producer_gateway.adapters.provider_api import ProviderApi
from schemas.names import dlq_topic, main_topic
from schemas.providers import SCHEMES, ProviderScheme


@dataclass(frozen=True, slots=True)
class WebhookProvider:
    """A configured provider as the webhook path needs it, worked out once per process."""

    scheme: ProviderScheme
    secrets: tuple[bytes, ...]
    body_signature_required: bool


@dataclass
class Gateway:
    settings: Settings
    publisher: KafkaPublisher
    provider_api: ProviderApi
    main_topic: str
    dlq_topic: str
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    clock: Callable[[], float] = time.time  # injected in tests of the timestamp window
    _sessions: sessionmaker[Session] | None = None
    _engine: Engine | None = None

    @cached_property
    def webhook_providers(self) -> dict[str, WebhookProvider]:
        """Every configured provider: its scheme, its secrets (decoded once, not per request)
        and whether its webhooks must sign the body."""
        hash_only = self.settings.hash_only_providers()
        return {
            name: WebhookProvider(scheme, secrets, name not in hash_only)
            for name, scheme in SCHEMES.items()
            if (secrets := self.settings.provider_secrets(name))
        }

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The payment routes' database, connected on first use."""
        if self._sessions is None:
            self._engine = make_engine(self.settings.database_url)
            self._sessions = make_session_factory(self._engine)
        return self._sessions

    async def aclose(self) -> None:
        await self.provider_api.aclose()
        self.close()

    def close(self) -> None:
        self.publisher.close()
        if self._engine is not None:
            self._engine.dispose()


def bootstrap(
    settings: Settings,
    *,
    publisher: KafkaPublisher | None = None,
    sessions: sessionmaker[Session] | None = None,
    provider_api: ProviderApi | None = None,
    clock: Callable[[], float] = time.time,
) -> Gateway:
    return Gateway(
        settings=settings,
        publisher=publisher
        or KafkaPublisher(settings, timeout_seconds=settings.publish_timeout_seconds),
        provider_api=provider_api or ProviderApi(settings),
        main_topic=main_topic(settings.topic_prefix),
        dlq_topic=dlq_topic(settings.topic_prefix),
        clock=clock,
        _sessions=sessions,
    )


def create_app() -> object:
    """uvicorn factory (`--factory`): settings from the environment, one gateway per process."""
    from payhooks.logs import configure_logging
    from producer_gateway.entrypoints.app import build_app

    settings = Settings()
    configure_logging(settings.log_format)
    return build_app(bootstrap(settings))
