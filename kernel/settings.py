"""The one settings object, read from `PAYHOOKS_*` variables and passed in everywhere."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
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


Secrets = Annotated[tuple[SecretStr, ...], NoDecode]


class KafkaClientSettings(BaseSettings):
    """Where Kafka is and how to connect to it: the part of the settings every Kafka client
    payhooks makes is built from (`kernel.kafka_client`). The variables override the
    properties file; docs/operations.md "Connecting to a Kafka cluster" has the details."""

    model_config = SettingsConfigDict(env_prefix="PAYHOOKS_", extra="ignore", frozen=True)

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


class Settings(KafkaClientSettings):
    """Every knob payhooks has. Environment variables are `PAYHOOKS_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="PAYHOOKS_", extra="ignore", frozen=True)

    database_url: str = "postgresql+psycopg2://postgres@127.0.0.1:5432/payhooks"
    redis_url: str = "redis://127.0.0.1:6379/0"
    topic_prefix: str = "payments"
    topic_partitions: int = Field(default=12, ge=1)
    # Topics payhooks creates (`payhooks topics create|check`; docs/kafka.md). The defaults suit
    # the one-broker local stack; a production cluster wants 3 / 2.
    topic_replication_factor: int = Field(default=1, ge=1)
    topic_min_insync_replicas: int = Field(default=1, ge=1)
    dlq_retention: Annotated[float, NoDecode] = 30 * 86400.0  # seconds; "30d" in the variable
    create_topics: bool = True  # at process start; off where ACLs forbid it (production)

    paystack_secret_key: Secrets = ()
    stripe_webhook_secret: Secrets = ()
    flutterwave_secret_hash: Secrets = ()
    standard_webhook_secret: Secrets = ()

    paystack_api_base: str = "https://api.paystack.co"
    stripe_api_base: str = "https://api.stripe.com"
    flutterwave_api_base: str = "https://api.flutterwave.com"
    standard_api_base: str = "http://127.0.0.1:8090/standard"

    signature_tolerance_seconds: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # The public listener's limits (docs/security.md): request line + headers at most this many
    # bytes (431 / connection closed above), the whole body within this time (408), at most this
    # many connections + requests in flight per worker process (503 above).
    gateway_max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    gateway_body_timeout_seconds: float = Field(default=10.0, gt=0)
    gateway_limit_concurrency: int = Field(default=1000, ge=1)
    publish_timeout_seconds: float = Field(default=10.0, gt=0)
    idempotency_key_ttl_hours: int = Field(default=24, ge=24)
    # The gateway's payment initialization (docs/gateway.md explains each).
    idempotency_lock_seconds: float = Field(default=60.0, gt=0)  # in-flight key deemed abandoned
    provider_timeout_seconds: float = Field(default=10.0, gt=0)
    stripe_api_key: SecretStr | None = None  # sk_…; Paystack's API key is its secret key
    flutterwave_secret_key: SecretStr | None = None  # FLWSECK-…
    standard_api_key: SecretStr | None = None
    payment_return_url: str = "http://127.0.0.1:8080/payments/return"
    gateway_url: str = "http://127.0.0.1:8080"  # where the simulator posts its webhooks

    # Money only for money received (docs/security.md). Providers whose every success is
    # confirmed with their verify API before a credit; None = the default: every provider that
    # accepts a hash-only webhook (Flutterwave's verif-hash unless a body signature is required).
    confirm_with_provider: Annotated[tuple[str, ...] | None, NoDecode] = None
    # true: a Flutterwave webhook must carry flutterwave-signature (verif-hash alone is 401).
    flutterwave_require_signature: bool = False
    # The internal API, `payhooks api` (docs/api.md explains each).
    api_tokens: Secrets = ()  # "<client-name>:<token>" pairs; several per client while rotating
    api_rate_per_second: float = Field(default=20.0, gt=0)  # each client's token-bucket refill
    api_rate_burst: int = Field(default=40, ge=1)  # each client's bucket size
    api_metadata_keys: Annotated[tuple[str, ...], NoDecode] = (
        "order_id",
        "customer_id",
        "invoice_id",
        "description",
    )  # the only metadata keys passed on to a provider
    api_prune_every_seconds: float = Field(default=3600.0, gt=0)  # idempotency-key pruning
    # Each process's Prometheus listener (`--metrics-port`; off if unset), and its host.
    # (host: `metrics_host` below, shared by every process.)
    gateway_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    api_metrics_port: int | None = Field(default=None, ge=0, le=65535)

    retry_delays: Annotated[tuple[float, ...], NoDecode] = (5.0, 30.0, 120.0, 600.0)
    consumer_group: str = "payhooks-credit"
    consumer_batch_size: int = Field(default=500, ge=1)
    redis_lock_lease_seconds: float = Field(default=30.0, gt=0)
    redis_lock_wait_seconds: float = Field(default=10.0, ge=0)
    # Benchmark/ops knob: false = no Redis lock, PostgreSQL row locks alone (docs/consumer.md).
    consumer_redis_lock: bool = True
    stuck_processing_seconds: int = Field(default=3600, ge=1)
    # `payhooks sweep` (docs/lifecycle.md): payments `processing` for longer than this are asked
    # about at their provider; still unpaid after `expire_after`, they are failed.
    sweep_older_than: float = Field(default=900.0, ge=0)
    sweep_expire_after: float = Field(default=86_400.0, gt=0)
    sweep_period: float = Field(default=60.0, gt=0)
    sweep_batch_size: int = Field(default=500, ge=1)
    # A payment the sweep claimed is not claimed again before `claim_backoff` has passed; the
    # back-off doubles with each claim of the same payment, up to `claim_backoff_max`.
    sweep_claim_backoff: float = Field(default=300.0, ge=0)
    sweep_claim_backoff_max: float = Field(default=3600.0, ge=0)
    sweep_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # `consumed_records` rows older than this are deleted by every sweep pass ("7d"; 0: never).
    consumed_records_retention: float = Field(default=7 * 86400.0, ge=0)
    # The credit consumer's knobs (docs/consumer.md explains each).
    consumer_instance_id: str = ""  # names the Kafka transactional id; "" = hostname-pid
    consumer_session_timeout_ms: int = Field(default=10_000, ge=1)
    consumer_max_poll_interval_ms: int = Field(default=300_000, ge=1)
    consumer_transaction_timeout_ms: int = Field(default=30_000, ge=1000)
    consumer_inprocess_attempts: int = Field(default=3, ge=1)
    consumer_inprocess_wait_max_seconds: float = Field(default=0.5, ge=0)
    consumer_redis_retry_after_seconds: float = Field(default=5.0, ge=0)
    # The consumer's probe + metrics listener (/healthz, /readyz, /metrics; off when no port).
    consumer_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # Host of every process's metrics listener (the consumer's also serves its probes there):
    # 0.0.0.0 in a container, so a kubelet and Prometheus can reach it.
    metrics_host: str = "127.0.0.1"
    consumer_liveness_seconds: float = Field(default=90.0, gt=0)  # /healthz: last poll within

    state_dir: Path = Path(".payhooks")
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")

    @field_validator(
        "paystack_secret_key",
        "stripe_webhook_secret",
        "flutterwave_secret_hash",
        "standard_webhook_secret",
        "api_tokens",
        mode="before",
    )
    @classmethod
    def _secrets_from_list(cls, value: object) -> tuple[SecretStr, ...]:
        return _split_secrets(value)

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

    @field_validator("api_metadata_keys", mode="before")
    @classmethod
    def _keys_from_text(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator(
        "dlq_retention",
        "sweep_older_than",
        "sweep_expire_after",
        "sweep_period",
        "sweep_claim_backoff",
        "sweep_claim_backoff_max",
        "consumed_records_retention",
        mode="before",
    )
    @classmethod
    def _retention_from_text(cls, value: object) -> float:
        return parse_duration(value) if isinstance(value, str) else float(str(value))

    @field_validator("retry_delays", mode="before")
    @classmethod
    def _delays_from_text(cls, value: object) -> tuple[float, ...]:
        if isinstance(value, str):
            return tuple(parse_duration(part) for part in value.split(",") if part.strip())
        if isinstance(value, list | tuple):
            return tuple(parse_duration(str(v)) if isinstance(v, str) else float(v) for v in value)
        raise ValueError("expected delays like 5s,30s,2m,10m")

    def provider_secrets(self, provider: str) -> tuple[bytes, ...]:
        """The configured secrets of one provider, newest first as written; empty if it is off."""
        field = {
            "paystack": self.paystack_secret_key,
            "stripe": self.stripe_webhook_secret,
            "flutterwave": self.flutterwave_secret_hash,
            "standard": self.standard_webhook_secret,
        }.get(provider, ())
        return tuple(secret.get_secret_value().encode() for secret in field)

    def provider_api_base(self, provider: str) -> str:
        return str(getattr(self, f"{provider}_api_base"))

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
