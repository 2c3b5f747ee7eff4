"""payhooks' topics as configured: what they should be (pure), creating the missing ones, and
comparing what the cluster has with the configuration (`payhooks topics create|check`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # NewTopic: C extension, no stubs
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from kernel.kafka_client import bootstrap_servers, new_admin
from kernel.settings import TopicSettings
from schemas.names import all_topics, dlq_topic

MIN_INSYNC = "min.insync.replicas"
RETENTION = "retention.ms"


class TopicsMissing(Exception):
    """payhooks' topics do not exist and PAYHOOKS_CREATE_TOPICS is off."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FoundTopic:
    """What the cluster holds for one topic."""

    partitions: int
    replication_factor: int  # the smallest replica count over its partitions
    config: Mapping[str, str]


def wanted_topics(settings: TopicSettings) -> tuple[TopicSpec, ...]:
    """The main, retry and DLQ topics with the configured partitions, RF, min ISR, retention."""
    base = {MIN_INSYNC: str(settings.topic_min_insync_replicas)}
    dlq = {**base, RETENTION: str(int(settings.dlq_retention * 1000))}
    return tuple(
        TopicSpec(
            name,
            settings.topic_partitions,
            settings.topic_replication_factor,
            dlq if name == dlq_topic(settings.topic_prefix) else base,
        )
        for name in all_topics(settings.topic_prefix, len(settings.retry_delays))
    )


def settings_problems(settings: TopicSettings, brokers: int) -> list[str]:
    """What is wrong with the configuration on a cluster of `brokers` (a one-broker local
    stack can only have RF 1 / min ISR 1, and is not held to the availability rule)."""
    rf, isr = settings.topic_replication_factor, settings.topic_min_insync_replicas
    problems = []
    if rf > brokers:
        problems.append(
            f"PAYHOOKS_TOPIC_REPLICATION_FACTOR={rf} but the cluster has {brokers} broker(s)"
        )
    if rf < isr + 1 and not rf == isr == brokers == 1:
        problems.append(
            f"PAYHOOKS_TOPIC_REPLICATION_FACTOR={rf} is below PAYHOOKS_TOPIC_MIN_INSYNC_REPLICAS"
            f"={isr} + 1: losing one broker would stop every acks=all write or lose data"
        )
    return problems


def differences(wanted: Sequence[TopicSpec], found: Mapping[str, FoundTopic]) -> list[str]:
    """Each way the cluster's topics differ from the wanted ones, one line each."""
    lines: list[str] = []
    for spec in wanted:
        topic = found.get(spec.name)
        if topic is None:
            lines.append(f"{spec.name}: missing (`payhooks topics create` makes it)")
            continue
        if topic.partitions != spec.partitions:
            lines.append(
                f"{spec.name}: {topic.partitions} partitions, configured {spec.partitions}"
            )
        if topic.replication_factor != spec.replication_factor:
            lines.append(
                f"{spec.name}: replication factor {topic.replication_factor}, "
                f"configured {spec.replication_factor}"
            )
        lines.extend(
            f"{spec.name}: {key}={topic.config.get(key, 'unset')}, configured {value}"
            for key, value in spec.config.items()
            if topic.config.get(key) != value
        )
    return lines


# --- the cluster -----------------------------------------------------------------------------


def _admin(settings: TopicSettings) -> AdminClient:
    # log_level 3: librdkafka's info lines (e.g. purging its queue on close) are noise here.
    return new_admin(settings, "topics", {"log_level": 3})


def existing_topics(settings: TopicSettings, *, timeout: float = 30.0) -> set[str]:
    return set(_admin(settings).list_topics(timeout=timeout).topics)


def ensure_topics(settings: TopicSettings, *, timeout: float = 30.0) -> tuple[str, ...]:
    """Create the main, retry and DLQ topics where missing; return their names."""
    admin = _admin(settings)
    specs = wanted_topics(settings)
    existing = set(admin.list_topics(timeout=timeout).topics)
    new = [
        NewTopic(
            spec.name,
            num_partitions=spec.partitions,
            replication_factor=spec.replication_factor,
            config=dict(spec.config),
        )
        for spec in specs
        if spec.name not in existing
    ]
    if new:
        futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
        for future in futures.values():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
    return tuple(spec.name for spec in specs)


def require_topics(settings: TopicSettings, *, timeout: float = 30.0) -> None:
    """At process start: create the topics if PAYHOOKS_CREATE_TOPICS, else insist they exist."""
    if settings.create_topics:
        ensure_topics(settings, timeout=timeout)
        return
    existing = existing_topics(settings, timeout=timeout)
    missing = [s.name for s in wanted_topics(settings) if s.name not in existing]
    if missing:
        raise TopicsMissing(
            f"Kafka at {bootstrap_servers(settings)} has no topic {', '.join(missing)}; "
            "run `payhooks topics create` (PAYHOOKS_CREATE_TOPICS is off)"
        )


def found_topics(
    admin: AdminClient, names: Sequence[str], *, timeout: float = 30.0
) -> dict[str, FoundTopic]:
    """Partitions, replication factor and the checked configs of those of `names` that exist."""
    metadata = admin.list_topics(timeout=timeout).topics
    present = [name for name in names if name in metadata and metadata[name].error is None]
    if not present:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, name) for name in present]
    configs = {
        resource.name: {key: entry.value for key, entry in future.result(timeout).items()}
        for resource, future in admin.describe_configs(resources, request_timeout=timeout).items()
    }
    return {
        name: FoundTopic(
            partitions=len(metadata[name].partitions),
            replication_factor=min(len(p.replicas) for p in metadata[name].partitions.values()),
            config=configs[name],
        )
        for name in present
    }


def check_topics(settings: TopicSettings) -> list[str]:
    """Every difference between the configuration and the cluster (empty: all as configured)."""
    admin = _admin(settings)
    brokers = len(admin.list_topics(timeout=30).brokers)
    wanted = wanted_topics(settings)
    found = found_topics(admin, [spec.name for spec in wanted])
    return settings_problems(settings, brokers) + differences(wanted, found)


def delete_topics(settings: TopicSettings, *, timeout: float = 30.0) -> tuple[str, ...]:
    """Delete every topic of `settings.topic_prefix` (tests and demos clean up after themselves:
    a long-lived broker otherwise collects partitions, each holding open files)."""
    admin = _admin(settings)
    names = tuple(
        name
        for name in admin.list_topics(timeout=timeout).topics
        if name.startswith(f"{settings.topic_prefix}.")
    )
    if names:
        for future in admin.delete_topics(list(names), operation_timeout=timeout).values():
            future.result()
    return names
