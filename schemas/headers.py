"""Kafka record header names on retry and DLQ records (values are UTF-8 strings)."""

ATTEMPT = "payhooks.attempt"
NOT_BEFORE = "payhooks.not-before"
FIRST_FAILED_AT = "payhooks.first-failed-at"
ORIGINAL_TOPIC = "payhooks.original-topic"
ORIGINAL_PARTITION = "payhooks.original-partition"
ORIGINAL_OFFSET = "payhooks.original-offset"
ORIGINAL_TIMESTAMP = "payhooks.original-timestamp"
GROUP = "payhooks.group"
ERROR_CLASS = "payhooks.error-class"
ERROR_MESSAGE = "payhooks.error-message"
REPLAYED_FROM_DLQ_OFFSET = "payhooks.replayed-from-dlq-offset"

ALL = (
    ATTEMPT,
    NOT_BEFORE,
    FIRST_FAILED_AT,
    ORIGINAL_TOPIC,
    ORIGINAL_PARTITION,
    ORIGINAL_OFFSET,
    ORIGINAL_TIMESTAMP,
    GROUP,
    ERROR_CLASS,
    ERROR_MESSAGE,
)
