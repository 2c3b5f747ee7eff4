"""The gateway's composition root: everything it needs, built from the settings, nothing global.

The gateway needs only Kafka: it has no database connection at all (the payment and wallet routes
live in `payhooks api`, payments_api/).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from kernel.logs import flush_tick_lines
from producer_gateway.adapters.kafka_publisher import KafkaPublisher
from producer_gateway.adapters.metrics import GatewayMetrics
from producer_gateway.settings import GatewaySettings
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
    settings: GatewaySettings
    publisher: KafkaPublisher
    main_topic: str
    dlq_topic: str
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    clock: Callable[[], float] = time.time  # injected in tests of the timestamp window

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

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        self.publisher.close()
        flush_tick_lines()  # the last turn's `webhook.accepted` lines


def bootstrap(
    settings: GatewaySettings,
    *,
    publisher: KafkaPublisher | None = None,
    clock: Callable[[], float] = time.time,
) -> Gateway:
    return Gateway(
        settings=settings,
        publisher=publisher
        or KafkaPublisher(settings, timeout_seconds=settings.publish_timeout_seconds),
        main_topic=main_topic(settings.topic_prefix),
        dlq_topic=dlq_topic(settings.topic_prefix),
        clock=clock,
    )
