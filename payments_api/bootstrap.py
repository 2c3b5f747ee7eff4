"""The api's composition root: everything `payhooks api` needs, built from the settings.

Nothing connects at import time; the database engine, the provider client and the Redis client
are built here and closed by `Api.aclose()`. The service layer's ports (service_layer/ports.py) get
their SQL adapters here: the initialize store, the read model and the key pruner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kernel.db.engine import make_engine, make_session_factory
from payments_api.adapters.initialize_store import SqlInitializeStore
from payments_api.adapters.key_pruner import SqlKeyPruner
from payments_api.adapters.metrics import ApiMetrics
from payments_api.adapters.provider_api import ProviderApi
from payments_api.adapters.rate_limiter import RateLimiter
from payments_api.adapters.read_model import SqlReadModel
from payments_api.domain.clients import ApiClients
from payments_api.domain.rate_limit import Limit
from payments_api.service_layer.ports import InitializeStore, KeyPruner, ReadModel
from payments_api.settings import ApiSettings


@dataclass
class Api:
    settings: ApiSettings
    sessions: sessionmaker[Session]  # /readyz asks PostgreSQL directly
    initialize_store: InitializeStore
    reads: ReadModel
    key_pruner: KeyPruner
    provider_api: ProviderApi
    clients: ApiClients
    rate_limiter: RateLimiter
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    clock: Callable[[], datetime] = field(default=partial(datetime.now, UTC))  # the api's one clock
    engine: Engine | None = None

    async def aclose(self) -> None:
        await self.provider_api.aclose()
        await self.rate_limiter.aclose()
        if self.engine is not None:
            self.engine.dispose()


def bootstrap(
    settings: ApiSettings,
    *,
    sessions: sessionmaker[Session] | None = None,
    provider_api: ProviderApi | None = None,
    rate_limiter: RateLimiter | None = None,
) -> Api:
    """Raises ConfigurationError (one line naming the variable, never a token) on bad tokens."""
    clients = ApiClients.parse(token.get_secret_value() for token in settings.api_tokens)
    metrics = ApiMetrics()
    engine = None
    if sessions is None:
        engine = make_engine(settings.database_url)
        sessions = make_session_factory(engine)
    return Api(
        settings=settings,
        sessions=sessions,
        initialize_store=SqlInitializeStore(sessions),
        reads=SqlReadModel(sessions),
        key_pruner=SqlKeyPruner(sessions),
        provider_api=provider_api or ProviderApi(settings),
        clients=clients,
        rate_limiter=rate_limiter
        or RateLimiter(
            settings.redis_url,
            settings.topic_prefix,
            Limit(settings.api_rate_per_second, settings.api_rate_burst),
            on_degraded=metrics.rate_limit_degraded.inc,
        ),
        metrics=metrics,
        engine=engine,
    )
