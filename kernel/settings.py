"""The settings, read from `PAYHOOKS_*` variables and passed in everywhere.

Field groups, one small class each (where Kafka is, the topics, the database, Redis, the providers'
secrets and APIs, the HTTP listeners, each deployable's own knobs). Each deployable composes the
groups it reads into its own class, next to its composition root (docs/architecture.md, "Settings"):
`producer_gateway/settings.py::GatewaySettings`, `payments_api/settings.py::ApiSettings`,
`consumer/settings.py::ConsumerSettings`, and `operations/settings.py::SweepSettings`. `Settings`,
every group at once, is for the other operations commands, the dev tooling and tests. A field's
variable is `PAYHOOKS_<FIELD>` wherever it is read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROVIDERS = ("paystack", "stripe", "flutterwave", "standard")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(text: str) -> float:
    """`"5s"`, `"2m"`, `"250ms"`, `"1h"`, `"30d"` or a bare number of seconds → seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write e.g. 5s, 30s, 2m, 250ms")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _seconds(value: object) -> float:
    return parse_duration(value) if isinstance(value, str) else float(str(value))


def _split_secrets(value: object) -> tuple[SecretStr, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str):
        return tuple(SecretStr(part.strip()) for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple):
        return tuple(
            item if isinstance(item, SecretStr) else SecretStr(str(item)) for item in value
        )
    raise ValueError("expected a comma-separated list of secrets")


def _delays(value: object) -> tuple[float, ...]:
    if isinstance(value, str):
        return tuple(parse_duration(part) for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple):
        return tuple(parse_duration(str(v)) if isinstance(v, str) else float(v) for v in value)
    raise ValueError("expected delays like 5s,30s,2m,10m")


def _names(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


# Comma-separated in the variable, several for rotation; never shown (SecretStr).
Secrets = Annotated[tuple[SecretStr, ...], NoDecode, BeforeValidator(_split_secrets)]
# Seconds; the variable may say "30d", "15m", "250ms" or a bare number.
Duration = Annotated[float, NoDecode, BeforeValidator(_seconds)]


class _PayhooksSettings(BaseSettings):
    """Every group reads `PAYHOOKS_<FIELD>`, ignores the variables of the others, is frozen."""

    model_config = SettingsConfigDict(env_prefix="PAYHOOKS_", extra="ignore", frozen=True)


class KafkaClientSettings(_PayhooksSettings):
    """Where Kafka is and how to connect to it: the part of the settings every Kafka client
    payhooks makes is built from (`kernel.kafka_client`). The variables override the
    properties file; docs/operations.md "Connecting to a Kafka cluster" has the details."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_config_file: Path | None = None  # Java-style client properties (Confluent Cloud, MSK)
    kafka_security_protocol: str | None = None
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: Path | None = None

    @classmethod
    def plaintext(cls, bootstrap: str) -> KafkaClientSettings:
        """A plain connection to `bootstrap`, read from no variable nor file (the local stack's
        own probes, tests' helpers)."""
        return cls.model_construct(kafka_bootstrap=bootstrap)


class PrefixSettings(_PayhooksSettings):
    """The prefix of every topic and Redis key name (`schemas.names`)."""

    topic_prefix: str = "payments"


class TopicSettings(KafkaClientSettings, PrefixSettings):
    """The topics payhooks creates and consumes, on that Kafka (`kernel.topics`; docs/kafka.md).
    The defaults suit the one-broker local stack; a production cluster wants 3 / 2."""

    topic_partitions: int = Field(default=12, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    topic_min_insync_replicas: int = Field(default=1, ge=1)
    dlq_retention: Duration = 30 * 86400.0  # seconds; "30d" in the variable
    create_topics: bool = True  # at process start; off where ACLs forbid it (production)
    # One retry topic per delay: the gateway creates them, the consumer routes into them.
    retry_delays: Annotated[tuple[float, ...], NoDecode, BeforeValidator(_delays)] = (
        5.0,
        30.0,
        120.0,
        600.0,
    )


class DatabaseSettings(_PayhooksSettings):
    """The ledger database."""

    database_url: str = "postgresql+psycopg2://postgres@127.0.0.1:5432/payhooks"


class RedisSettings(_PayhooksSettings):
    """Redis: the consumer's credit locks, the api's rate limiter."""

    redis_url: str = "redis://127.0.0.1:6379/0"


class PaystackKeySettings(_PayhooksSettings):
    """Paystack's secret key(s): they sign its webhooks and authenticate its API calls."""

    paystack_secret_key: Secrets = ()


class WebhookSecretsSettings(PaystackKeySettings):
    """The providers' webhook secrets (a provider without one is off), and which webhooks must be
    confirmed with the provider's verify API before a credit (docs/security.md)."""

    stripe_webhook_secret: Secrets = ()
    flutterwave_secret_hash: Secrets = ()
    standard_webhook_secret: Secrets = ()
    # Money only for money received. Providers whose every success is confirmed with their
    # verify API before a credit; None = the default: every provider that accepts a hash-only
    # webhook (Flutterwave's verif-hash unless a body signature is required).
    confirm_with_provider: Annotated[tuple[str, ...] | None, NoDecode] = None
    # true: a Flutterwave webhook must carry flutterwave-signature (verif-hash alone is 401).
    flutterwave_require_signature: bool = False

    @field_validator("confirm_with_provider", mode="before")
    @classmethod
    def _providers_from_text(cls, value: object) -> tuple[str, ...] | None:
        if value is None:
            return None
        parts = value.split(",") if isinstance(value, str) else value
        if not isinstance(parts, list | tuple):
            raise ValueError("expected a comma-separated list of providers")
        names = tuple(str(part).strip().lower() for part in parts if str(part).strip())
        unknown = sorted(set(names) - set(PROVIDERS) - {"none"})
        if unknown:
            raise ValueError(
                f"unknown provider(s) {', '.join(unknown)}; known: {', '.join(PROVIDERS)}"
            )
        return tuple(name for name in names if name != "none")

    def provider_secrets(self, provider: str) -> tuple[bytes, ...]:
        """The configured secrets of one provider, newest first as written; empty if it is off."""
        field = {
            "paystack": self.paystack_secret_key,
            "stripe": self.stripe_webhook_secret,
            "flutterwave": self.flutterwave_secret_hash,
            "standard": self.standard_webhook_secret,
        }.get(provider, ())
        return tuple(secret.get_secret_value().encode() for secret in field)

    def hash_only_providers(self) -> tuple[str, ...]:
        """Configured providers whose webhooks may arrive without a signature over the body."""
        if "flutterwave" in self.enabled_providers() and not self.flutterwave_require_signature:
            return ("flutterwave",)
        return ()

    def confirmed_providers(self) -> frozenset[str]:
        """Providers whose successes are confirmed with their verify API before a credit."""
        if self.confirm_with_provider is None:
            return frozenset(self.hash_only_providers())
        return frozenset(self.confirm_with_provider)

    def enabled_providers(self) -> tuple[str, ...]:
        return tuple(p for p in PROVIDERS if self.provider_secrets(p))


class ProviderApiSettings(PaystackKeySettings):
    """The providers' own APIs (initialize, verify): where, with which key, how long to wait.
    Paystack's API key is its webhook secret key."""

    paystack_api_base: str = "https://api.paystack.co"
    stripe_api_base: str = "https://api.stripe.com"
    flutterwave_api_base: str = "https://api.flutterwave.com"
    standard_api_base: str = "http://127.0.0.1:8090/standard"
    provider_timeout_seconds: float = Field(default=10.0, gt=0)
    stripe_api_key: SecretStr | None = None  # sk_…
    flutterwave_secret_key: SecretStr | None = None  # FLWSECK-…
    standard_api_key: SecretStr | None = None

    def provider_api_base(self, provider: str) -> str:
        return str(getattr(self, f"{provider}_api_base"))

    def provider_api_key(self, provider: str) -> str | None:
        """The API key a provider's REST API takes (Paystack's is its webhook secret key)."""
        if provider == "paystack":
            keys = self.paystack_secret_key
            return keys[0].get_secret_value() if keys else None
        secret = {
            "stripe": self.stripe_api_key,
            "flutterwave": self.flutterwave_secret_key,
            "standard": self.standard_api_key,
        }.get(provider)
        return secret.get_secret_value() if secret else None


class ProcessSettings(_PayhooksSettings):
    """What every process has: its log format, and the host of its metrics listener (0.0.0.0 in
    a container, so a kubelet and Prometheus can reach it; the consumer's serves its probes too).
    Each process's metrics port is its own knob."""

    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")
    metrics_host: str = "127.0.0.1"


class HttpListenerSettings(ProcessSettings):
    """The uvicorn listener of `payhooks gateway` and `payhooks api` (docs/security.md): request
    line + headers at most this many bytes (431 / connection closed above), at most this many
    connections + requests in flight per worker process (503 above)."""

    gateway_max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    gateway_limit_concurrency: int = Field(default=1000, ge=1)


class GatewayKnobs(_PayhooksSettings):
    """The webhook gateway's own knobs (docs/gateway.md)."""

    signature_tolerance_seconds: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    gateway_body_timeout_seconds: float = Field(default=10.0, gt=0)  # the whole body, else 408
    publish_timeout_seconds: float = Field(default=10.0, gt=0)
    gateway_metrics_port: int | None = Field(default=None, ge=0, le=65535)  # off if unset


class ApiKnobs(_PayhooksSettings):
    """The internal API's own knobs, `payhooks api` (docs/api.md explains each)."""

    api_tokens: Secrets = ()  # "<client-name>:<token>" pairs; several per client while rotating
    api_rate_per_second: float = Field(default=20.0, gt=0)  # each client's token-bucket refill
    api_rate_burst: int = Field(default=40, ge=1)  # each client's bucket size
    api_metadata_keys: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_names)] = (
        "order_id",
        "customer_id",
        "invoice_id",
        "description",
    )  # the only metadata keys passed on to a provider
    api_prune_every_seconds: float = Field(default=3600.0, gt=0)  # idempotency-key pruning
    api_metrics_port: int | None = Field(default=None, ge=0, le=65535)  # off if unset
    idempotency_key_ttl_hours: int = Field(default=24, ge=24)
    idempotency_lock_seconds: float = Field(default=60.0, gt=0)  # in-flight key deemed abandoned
    payment_return_url: str = "http://127.0.0.1:8080/payments/return"


class CreditLockSettings(RedisSettings, PrefixSettings):
    """The consumer's per-reference credit locks in Redis (docs/consumer.md): they only cut
    contention, PostgreSQL decides."""

    redis_lock_lease_seconds: float = Field(default=30.0, gt=0)
    redis_lock_wait_seconds: float = Field(default=10.0, ge=0)
    # Benchmark/ops knob: false = no Redis lock, PostgreSQL row locks alone.
    consumer_redis_lock: bool = True
    consumer_redis_retry_after_seconds: float = Field(default=5.0, ge=0)


class ConsumerKnobs(_PayhooksSettings):
    """The credit consumer's own knobs (docs/consumer.md explains each)."""

    consumer_group: str = "payhooks-credit"
    # A batch is one PostgreSQL and one Kafka transaction: each has a fixed cost (round trips,
    # a commit's fsync, the Kafka transaction's markers) that a bigger batch spreads. Batches
    # adapt (they never wait to fill), so the maximum matters only when a backlog is waiting:
    # 1,000 drained ~12 % faster than 500 (README Benchmarks, 2026-11-28).
    consumer_batch_size: int = Field(default=1000, ge=1)
    consumer_instance_id: str = ""  # names the Kafka transactional id; "" = hostname-pid
    consumer_session_timeout_ms: int = Field(default=10_000, ge=1)
    consumer_max_poll_interval_ms: int = Field(default=300_000, ge=1)
    consumer_transaction_timeout_ms: int = Field(default=30_000, ge=1000)
    consumer_inprocess_attempts: int = Field(default=3, ge=1)
    consumer_inprocess_wait_max_seconds: float = Field(default=0.5, ge=0)
    # The probe + metrics listener (/healthz, /readyz, /metrics; off when no port).
    consumer_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    consumer_liveness_seconds: float = Field(default=90.0, gt=0)  # /healthz: last poll within


class ReconcileKnobs(_PayhooksSettings):
    """`payhooks reconcile`: how long in `processing` counts as stuck."""

    stuck_processing_seconds: int = Field(default=3600, ge=1)


class SweepKnobs(_PayhooksSettings):
    """`payhooks sweep` (docs/lifecycle.md)."""

    # Payments `processing` for longer than this are asked about at their provider; still
    # unpaid after `expire_after`, they are failed.
    sweep_older_than: Duration = Field(default=900.0, ge=0)
    sweep_expire_after: Duration = Field(default=86_400.0, gt=0)
    sweep_period: Duration = Field(default=60.0, gt=0)
    sweep_batch_size: int = Field(default=500, ge=1)
    # A payment the sweep claimed is not claimed again before `claim_backoff` has passed; the
    # back-off doubles with each claim of the same payment, up to `claim_backoff_max`.
    sweep_claim_backoff: Duration = Field(default=300.0, ge=0)
    sweep_claim_backoff_max: Duration = Field(default=3600.0, ge=0)
    sweep_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # `consumed_records` rows older than this are deleted by every sweep pass ("7d"; 0: never).
    consumed_records_retention: Duration = Field(default=7 * 86400.0, ge=0)


class DevToolKnobs(_PayhooksSettings):
    """The dev tooling's (payhooks_devtools): where the local stack lives, where the simulator
    posts its webhooks."""

    state_dir: Path = Path(".payhooks")
    gateway_url: str = "http://127.0.0.1:8080"


class Settings(
    TopicSettings,
    DatabaseSettings,
    CreditLockSettings,
    WebhookSecretsSettings,
    ProviderApiSettings,
    HttpListenerSettings,
    GatewayKnobs,
    ApiKnobs,
    ConsumerKnobs,
    SweepKnobs,
    ReconcileKnobs,
    DevToolKnobs,
):
    """Every knob payhooks has (every group): the operations commands, the dev tooling, tests.
    A deployable reads its own class instead. Environment variables are `PAYHOOKS_<FIELD>`."""
