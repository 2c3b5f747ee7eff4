"""Errors of the ops commands. Each docstring is the message a user sees by default.

Every one carries what to do next: the CLI prints it as one line and exits 2, so scripts can tell
"could not check" apart from "found violations" (exit 1).
"""

from __future__ import annotations

from schemas.errors import CommandError


class OpsError(CommandError):
    """The operation could not be carried out."""

    exit_code = 2


class BadSelection(OpsError):
    """The records to act on are not well specified; see --help."""


class UnknownOffset(OpsError):
    """No dead letter has that partition:offset; `payhooks dlq list` shows the ones there are."""


class KafkaUnavailable(OpsError):
    """Kafka did not answer; check `payhooks stack status` or --kafka-bootstrap."""


class TopicMissing(OpsError):
    """The DLQ topic does not exist; check --topic-prefix (PAYHOOKS_TOPIC_PREFIX)."""


class DatabaseUnavailable(OpsError):
    """PostgreSQL did not answer; check --database-url and `payhooks db upgrade`."""


class ReplayBusy(OpsError):
    """Another `payhooks dlq replay` is running on this DLQ; wait for it to finish."""


class PublishFailed(OpsError):
    """Kafka did not acknowledge the replayed records; nothing unacknowledged was marked."""
