"""The gateway's composition root: everything it needs, built from the settings, nothing global."""

from __future__ import annotations

from dataclasses import dataclass

from payhooks.settings import Settings
from producer_gateway.adapters.kafka_publisher import KafkaPublisher
from schemas.names import main_topic


@dataclass
class Gateway:
    settings: Settings
    publisher: KafkaPublisher
    main_topic: str

    def close(self) -> None:
        self.publisher.close()


def bootstrap(settings: Settings, *, publisher: KafkaPublisher | None = None) -> Gateway:
    return Gateway(
        settings=settings,
        publisher=publisher
        or KafkaPublisher(
            settings.kafka_bootstrap, timeout_seconds=settings.publish_timeout_seconds
        ),
        main_topic=main_topic(settings.topic_prefix),
    )


def create_app() -> object:
    """uvicorn factory (`--factory`): settings from the environment, one gateway per process."""
    from payhooks.logs import configure_logging
    from producer_gateway.entrypoints.app import build_app

    settings = Settings()
    configure_logging(settings.log_format)
    return build_app(bootstrap(settings))
