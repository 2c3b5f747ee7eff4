"""The consumer's composition root: nothing connects to anything until `bootstrap()` runs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from consumer.adapters.kafka import KafkaChannel
from consumer.adapters.lag import LagMetrics
from consumer.adapters.redis_lock import CreditLocks, NoLocks, redis_client
from consumer.adapters.unit_of_work import SqlAlchemyUnitOfWork
from consumer.domain.records import DuePolicy
from consumer.domain.retry_policy import RetryPolicy
from consumer.service_layer.batch import BatchHandler
from consumer.service_layer.confirm import Confirmer
from consumer.service_layer.ports import Locks, UnitOfWork
from consumer.service_layer.settle import Settler
from consumer.settings import ConsumerSettings
from kernel.db.engine import make_engine, make_session_factory
from kernel.provider_verify import HttpProviderVerifier, ProviderVerifier
from kernel.settings import PROVIDERS, CreditLockSettings, TopicSettings, WebhookSecretsSettings
from schemas.names import dlq_topic, main_topic, retry_topics


@dataclass
class CreditApp:
    settings: ConsumerSettings
    group: str
    engine: Engine
    session_factory: sessionmaker[Session]
    main_topic: str
    dlq_topic: str
    locks: Locks
    handler: BatchHandler
    due_policy: DuePolicy
    # Set while no batch computes on the settle thread: none in flight, or the one in flight
    # waits on its commit round trip (the worker prepares the next batch then, not before).
    settle_waits: threading.Event

    def new_uow(self) -> UnitOfWork:
        return SqlAlchemyUnitOfWork(self.session_factory)

    @property
    def source_topics(self) -> list[str]:
        """The main topic and every retry topic: one process type consumes them all."""
        return [
            self.main_topic,
            *retry_topics(self.settings.topic_prefix, len(self.settings.retry_delays)),
        ]

    def channel(self, stop: threading.Event | None = None) -> KafkaChannel:
        """`stop` cuts Kafka retries short (SIGTERM is honoured mid-retry)."""
        retries = retry_topics(self.settings.topic_prefix, len(self.settings.retry_delays))
        return KafkaChannel(
            self.settings, self.group, self.source_topics, LagMetrics(frozenset(retries)), stop
        )

    def close(self) -> None:
        self.engine.dispose()
        if isinstance(self.handler.verifier, HttpProviderVerifier):
            self.handler.verifier.close()


def default_locks(settings: CreditLockSettings) -> Locks:
    if not settings.consumer_redis_lock:
        return NoLocks()
    return CreditLocks(
        redis_client(settings.redis_url),
        settings.topic_prefix,
        lease_seconds=settings.redis_lock_lease_seconds,
        wait_seconds=settings.redis_lock_wait_seconds,
        retry_after_seconds=settings.consumer_redis_retry_after_seconds,
    )


def _secrets_of(settings: WebhookSecretsSettings) -> Callable[[str], tuple[bytes, ...]]:
    """Each provider's secrets, decoded once (every record asks for its provider's)."""
    known = {provider: settings.provider_secrets(provider) for provider in PROVIDERS}
    return lambda provider: known.get(provider, ())


def due_policy(settings: TopicSettings) -> DuePolicy:
    """not-before counts on retry topics only, and never past the longest retry delay."""
    retry = frozenset(retry_topics(settings.topic_prefix, len(settings.retry_delays)))
    return DuePolicy(
        is_retry_topic=retry.__contains__,
        longest_delay_ms=round(max(settings.retry_delays, default=0.0) * 1000),
    )


def bootstrap(
    settings: ConsumerSettings,
    *,
    group: str | None = None,
    locks: Locks | None = None,
    verifier: ProviderVerifier | None = None,
) -> CreditApp:
    engine = make_engine(settings.database_url, pre_ping=False)  # a batch retries anyway
    session_factory = make_session_factory(engine)
    settle_waits = threading.Event()
    settle_waits.set()
    group = group or settings.consumer_group
    verifier = verifier or HttpProviderVerifier(settings)
    locks = locks or default_locks(settings)
    settler = Settler(
        new_uow=lambda: SqlAlchemyUnitOfWork(session_factory, committing=settle_waits.set),
        locks=locks,
        attempts=settings.consumer_inprocess_attempts,
        wait_max_seconds=settings.consumer_inprocess_wait_max_seconds,
    )
    return CreditApp(
        settings=settings,
        group=group,
        engine=engine,
        session_factory=session_factory,
        main_topic=main_topic(settings.topic_prefix),
        dlq_topic=dlq_topic(settings.topic_prefix),
        locks=locks,
        handler=BatchHandler(
            settler=settler,
            policy=RetryPolicy(settings.retry_delays),
            prefix=settings.topic_prefix,
            group=group,
            secrets=_secrets_of(settings),
            verifier=verifier,
            # Hash-only events are always confirmed; these providers' other successes too.
            confirmer=Confirmer(verifier, settings.confirmed_providers()),
        ),
        due_policy=due_policy(settings),
        settle_waits=settle_waits,
    )
