"""The ops commands' composition root: adapters built from Settings, nothing at import time."""

from __future__ import annotations

import getpass
import os

from sqlalchemy import Engine

from kernel.db.engine import make_engine
from kernel.kafka_client import KafkaAuthFailed, KafkaUnreachable, check_connection
from kernel.settings import Settings
from operations.dlq.kafka_dlq import DlqReader, RetryPublisher
from operations.dlq.replay_ledger import ReplayLedger
from operations.dlq.service import ReplayPorts
from operations.errors import KafkaUnavailable
from schemas.names import dlq_topic, retry_topic


def current_actor() -> str:
    """Who runs the command, for the audit trail: login name and numeric uid."""
    try:
        name = getpass.getuser()
    except OSError:  # no login name and no passwd entry (some containers)
        name = "unknown"
    return f"{name}/{os.getuid()}"


def _kafka_answers(settings: Settings) -> None:
    """Refused credentials or TLS, or no broker at all: one OpsError line, no retry storm."""
    try:
        check_connection(settings, "ops", timeout=5.0)
    except KafkaAuthFailed as exc:
        raise KafkaUnavailable(str(exc)) from exc
    except KafkaUnreachable as exc:
        hint = "check `payhooks stack status` or --kafka-bootstrap"
        raise KafkaUnavailable(f"{exc}; {hint}") from exc


def dlq_reader(settings: Settings) -> DlqReader:
    _kafka_answers(settings)
    return DlqReader(settings, dlq_topic(settings.topic_prefix))


def replay_ports(settings: Settings, engine: Engine) -> ReplayPorts:
    return ReplayPorts(
        reader=dlq_reader(settings),
        ledger=ReplayLedger(engine, dlq_topic(settings.topic_prefix)),
        publisher=RetryPublisher(
            settings,
            retry_topic(settings.topic_prefix, 1),
            timeout=settings.publish_timeout_seconds,
        ),
        secrets_for=settings.provider_secrets,
    )


def ops_engine(settings: Settings) -> Engine:
    return make_engine(settings.database_url, pool_size=1)
