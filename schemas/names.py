"""Every Kafka topic and Redis key name payhooks uses, derived in one place."""

from __future__ import annotations


def main_topic(prefix: str) -> str:
    return f"{prefix}.webhooks"


def retry_topic(prefix: str, attempt: int) -> str:
    """Retry topic n (1-based): the n-th backoff delay."""
    if attempt < 1:
        raise ValueError("retry topics are numbered from 1")
    return f"{prefix}.webhooks.retry.{attempt}"


def retry_topics(prefix: str, delay_count: int) -> tuple[str, ...]:
    return tuple(retry_topic(prefix, n) for n in range(1, delay_count + 1))


def dlq_topic(prefix: str) -> str:
    return f"{prefix}.webhooks.dlq"


def all_topics(prefix: str, delay_count: int) -> tuple[str, ...]:
    return (main_topic(prefix), *retry_topics(prefix, delay_count), dlq_topic(prefix))


def credit_lock_key(prefix: str, reference: str) -> str:
    """Redis key of the per-reference credit lock."""
    return f"{prefix}:lock:credit:{reference}"


def retry_attempt_of(prefix: str, topic: str) -> int:
    """0 for the main topic, n for retry topic n; ValueError for any other topic."""
    if topic == main_topic(prefix):
        return 0
    head = f"{main_topic(prefix)}.retry."
    if topic.startswith(head) and topic[len(head) :].isdigit():
        return int(topic[len(head) :])
    raise ValueError(f"{topic!r} is not a payhooks webhook topic for prefix {prefix!r}")


def rate_limit_key(prefix: str, client: str) -> str:
    """Redis key of one API client's token bucket (shared by every api replica)."""
    return f"{prefix}:ratelimit:api:{client}"
