"""Create payhooks' topics with the admin client (never broker auto-create)."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from payhooks.kafka_client import new_admin
from payhooks.settings import Settings
from schemas.names import all_topics


def ensure_topics(settings: Settings, *, timeout: float = 30.0) -> tuple[str, ...]:
    """Create the main, retry and DLQ topics where missing; return their names."""
    names = all_topics(settings.topic_prefix, len(settings.retry_delays))
    # log_level 3: librdkafka's info lines (e.g. purging its queue on close) are noise here.
    admin = new_admin(settings, "topics", {"log_level": 3})
    existing = set(admin.list_topics(timeout=timeout).topics)
    wanted = [
        NewTopic(name, num_partitions=settings.topic_partitions, replication_factor=1)
        for name in names
        if name not in existing
    ]
    if wanted:
        futures = admin.create_topics(wanted, operation_timeout=timeout, request_timeout=timeout)
        for future in futures.values():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
    return names


def delete_topics(settings: Settings, *, timeout: float = 30.0) -> tuple[str, ...]:
    """Delete every topic of `settings.topic_prefix` (tests and demos clean up after themselves:
    a long-lived broker otherwise collects partitions, each holding open files)."""
    admin = new_admin(settings, "topics", {"log_level": 3})
    names = tuple(
        name
        for name in admin.list_topics(timeout=timeout).topics
        if name.startswith(f"{settings.topic_prefix}.")
    )
    if names:
        for future in admin.delete_topics(list(names), operation_timeout=timeout).values():
            future.result()
    return names
