"""Every Kafka client payhooks makes gets its configuration here, and only here.

The connection part comes from `KafkaClientSettings`: the client properties file
(`PAYHOOKS_KAFKA_CONFIG_FILE`, the Java-style `key=value` file Confluent Cloud and MSK hand out),
then the `PAYHOOKS_KAFKA_*` variables over it, then `PAYHOOKS_KAFKA_BOOTSTRAP` if it was set.
Java-only keys are translated to librdkafka's where librdkafka has an equivalent; any other key
librdkafka does not know stops the client with one `KafkaConfigError` naming it. Each role's
own settings (acks, idempotence, isolation, timeouts…) are passed as `extra` and win over the
file: payhooks' guarantees rest on them.

Secret values (passwords, keys) never appear in an error message or a log line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import javaproperties
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from kernel.kafka_logs import client_logging
from kernel.settings import KafkaClientSettings

_Client = TypeVar("_Client", Producer, Consumer, AdminClient)

Config = dict[str, Any]

SECRET_KEYS = frozenset(
    {
        "sasl.password",
        "ssl.key.password",
        "ssl.keystore.password",
        "ssl.key.pem",
        "sasl.jaas.config",
    }
)

# Keys of the Schema Registry client that Confluent Cloud puts in the same file: not Kafka's.
_SCHEMA_REGISTRY = ("schema.registry.", "basic.auth.")

_JAAS_MODULE = re.compile(r"^\s*([\w.$]+)\s+(required|requisite|sufficient|optional)\b(.*?);?\s*$")
_JAAS_OPTION = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]+))')
_JAAS_LOGINS = {
    "org.apache.kafka.common.security.plain.PlainLoginModule",
    "org.apache.kafka.common.security.scram.ScramLoginModule",
}


class KafkaConfigError(Exception):
    """The Kafka client configuration cannot be used; the message names the key and the fix."""


class KafkaAuthFailed(Exception):
    """Kafka refused payhooks' credentials or its TLS handshake; retrying will not help."""


class KafkaUnreachable(Exception):
    """No Kafka broker answered in time."""


# --- the properties file ---------------------------------------------------------------------


def read_properties(path: Path) -> dict[str, str]:
    """The `key=value` pairs of a Java properties file (comments, continuations, escapes)."""
    try:
        with path.open(encoding="utf-8") as handle:
            return dict(javaproperties.load(handle))
    except OSError as exc:
        raise KafkaConfigError(
            f"cannot read the Kafka client properties {path} (PAYHOOKS_KAFKA_CONFIG_FILE): "
            f"{exc.strerror}"
        ) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise KafkaConfigError(
            f"{path} (PAYHOOKS_KAFKA_CONFIG_FILE) is not a key=value properties file"
        ) from exc


def _jaas_credentials(value: str, source: str) -> Config:
    """`sasl.jaas.config` of the PLAIN / SCRAM login modules → librdkafka's user and password."""
    match = _JAAS_MODULE.match(value)
    module = match.group(1) if match else ""
    if module not in _JAAS_LOGINS:
        raise KafkaConfigError(
            f"{source}: sasl.jaas.config uses {module or 'an unreadable module'}, which "
            "librdkafka cannot run; only the PLAIN and SCRAM login modules translate "
            "(to sasl.username / sasl.password); for OAUTHBEARER set librdkafka's "
            "sasl.oauthbearer.* keys instead"
        )
    assert match is not None
    options = {
        name: quoted.replace('\\"', '"') if quoted else bare
        for name, quoted, bare in _JAAS_OPTION.findall(match.group(3))
    }
    if "username" not in options or "password" not in options:
        raise KafkaConfigError(f"{source}: sasl.jaas.config needs username=… and password=…")
    return {"sasl.username": options["username"], "sasl.password": options["password"]}


def _store_type(props: Mapping[str, str], key: str) -> str:
    return props.get(key, "JKS").strip().upper()


def _truststore(props: Mapping[str, str], source: str) -> Config:
    if "ssl.truststore.certificates" in props:
        return {"ssl.ca.pem": props["ssl.truststore.certificates"]}
    if "ssl.truststore.location" not in props:
        return {}
    if _store_type(props, "ssl.truststore.type") != "PEM":
        raise KafkaConfigError(
            f"{source}: ssl.truststore.location is a {_store_type(props, 'ssl.truststore.type')} "
            "trust store, which librdkafka cannot read; export its CA certificates to a PEM file "
            "and set ssl.ca.location (or PAYHOOKS_KAFKA_SSL_CA_LOCATION) to it"
        )
    return {"ssl.ca.location": props["ssl.truststore.location"]}


def _keystore(props: Mapping[str, str], source: str) -> Config:
    if "ssl.keystore.certificate.chain" in props or "ssl.keystore.key" in props:
        return {
            "ssl.certificate.pem": props.get("ssl.keystore.certificate.chain", ""),
            "ssl.key.pem": props.get("ssl.keystore.key", ""),
        }
    if "ssl.keystore.location" not in props:
        return {}
    kind = _store_type(props, "ssl.keystore.type")
    location = props["ssl.keystore.location"]
    if kind == "PEM":  # one file holding the key and its certificate chain
        return {"ssl.certificate.location": location, "ssl.key.location": location}
    if kind == "PKCS12":  # librdkafka reads these itself
        return {"ssl.keystore.location": location}
    raise KafkaConfigError(
        f"{source}: ssl.keystore.location is a {kind} key store, which librdkafka cannot read; "
        "convert it to PKCS12 (keytool -importkeystore -deststoretype PKCS12) and set "
        "ssl.keystore.type=PKCS12"
    )


_CONSUMED = frozenset(
    {
        "sasl.jaas.config",
        "ssl.truststore.location",
        "ssl.truststore.type",
        "ssl.truststore.password",
        "ssl.truststore.certificates",
        "ssl.keystore.location",
        "ssl.keystore.type",
        "ssl.keystore.certificate.chain",
        "ssl.keystore.key",
    }
)


def translate(props: Mapping[str, str], source: str) -> Config:
    """Java client keys → librdkafka keys; the rest passes through as written."""
    config: Config = {
        key: value
        for key, value in props.items()
        if key not in _CONSUMED and not key.startswith(_SCHEMA_REGISTRY)
    }
    if "sasl.mechanism" in config:
        config["sasl.mechanisms"] = config.pop("sasl.mechanism")
    if "sasl.jaas.config" in props:
        config = {**_jaas_credentials(props["sasl.jaas.config"], source), **config}
    if config.get("ssl.endpoint.identification.algorithm") == "":  # Java's "off"
        config["ssl.endpoint.identification.algorithm"] = "none"
    config.update(_truststore(props, source))
    config.update(_keystore(props, source))
    if "ssl.keystore.location" in config and "ssl.keystore.password" not in config:
        raise KafkaConfigError(f"{source}: ssl.keystore.location needs ssl.keystore.password")
    return config


# --- settings → configuration ----------------------------------------------------------------


def _from_variables(settings: KafkaClientSettings) -> Config:
    password = settings.kafka_sasl_password
    values = {
        "security.protocol": settings.kafka_security_protocol,
        "sasl.mechanisms": settings.kafka_sasl_mechanism,
        "sasl.username": settings.kafka_sasl_username,
        "sasl.password": password.get_secret_value() if password is not None else None,
        "ssl.ca.location": settings.kafka_ssl_ca_location,
    }
    return {key: str(value) for key, value in values.items() if value is not None}


def connection_config(settings: KafkaClientSettings) -> Config:
    """Where the brokers are and how to authenticate: file, then variables, then bootstrap."""
    config: Config = {}
    source = "PAYHOOKS_KAFKA_CONFIG_FILE"
    if settings.kafka_config_file is not None:
        source = f"{settings.kafka_config_file} (PAYHOOKS_KAFKA_CONFIG_FILE)"
        config = translate(read_properties(settings.kafka_config_file), source)
    config.update(_from_variables(settings))
    if "kafka_bootstrap" in settings.model_fields_set or "bootstrap.servers" not in config:
        config["bootstrap.servers"] = settings.kafka_bootstrap
    return config


def bootstrap_servers(settings: KafkaClientSettings) -> str:
    """The bootstrap list the clients use (for messages: never print a whole configuration)."""
    return str(connection_config(settings)["bootstrap.servers"])


def _role_config(settings: KafkaClientSettings, role: str, extra: Mapping[str, Any]) -> Config:
    """The one place every client's configuration passes through. Client-wide hooks live here:
    librdkafka's log lines and errors go through structlog with the role (kernel.kafka_logs)."""
    return {
        **connection_config(settings),
        "client.id": f"payhooks-{role}",
        **client_logging(role),
        **extra,
    }


def producer_config(
    settings: KafkaClientSettings, role: str, extra: Mapping[str, Any] | None = None
) -> Config:
    return _role_config(settings, role, extra or {})


def consumer_config(
    settings: KafkaClientSettings, role: str, extra: Mapping[str, Any] | None = None
) -> Config:
    return _role_config(settings, role, extra or {})


def admin_config(
    settings: KafkaClientSettings, role: str, extra: Mapping[str, Any] | None = None
) -> Config:
    return _role_config(settings, role, extra or {})


# --- the clients -----------------------------------------------------------------------------


def _redacted(text: str, config: Mapping[str, Any]) -> str:
    for key in SECRET_KEYS & config.keys():
        if config[key]:
            text = text.replace(str(config[key]), "***")
    return text


def _rejected(exc: KafkaException, config: Mapping[str, Any]) -> KafkaConfigError:
    error = exc.args[0] if exc.args else None
    reason = error.str() if isinstance(error, KafkaError) else str(exc)
    return KafkaConfigError(
        "librdkafka rejected the Kafka client configuration (PAYHOOKS_KAFKA_CONFIG_FILE / "
        f"PAYHOOKS_KAFKA_*): {_redacted(reason, config)}"
    )


def new_producer(
    settings: KafkaClientSettings, role: str, extra: Mapping[str, Any] | None = None
) -> Producer:
    return _construct(Producer, producer_config(settings, role, extra))


def new_consumer(
    settings: KafkaClientSettings, role: str, extra: Mapping[str, Any] | None = None
) -> Consumer:
    return _construct(Consumer, consumer_config(settings, role, extra))


def new_admin(
    settings: KafkaClientSettings, role: str, extra: Mapping[str, Any] | None = None
) -> AdminClient:
    return _construct(AdminClient, admin_config(settings, role, extra))


def _construct(client: Callable[[dict[str, Any]], _Client], config: dict[str, Any]) -> _Client:
    """The client, or one error naming what librdkafka refused, with secrets redacted."""
    try:
        return client(config)
    except KafkaException as exc:
        raise _rejected(exc, config) from None  # the cause may quote a value


# --- the start-up check ------------------------------------------------------------------------

_REFUSALS = {KafkaError._AUTHENTICATION: "SASL authentication", KafkaError._SSL: "TLS"}


def _refusal(settings: KafkaClientSettings, error: KafkaError, config: Mapping[str, Any]) -> str:
    what = _REFUSALS[error.code()]
    mechanism = config.get("sasl.mechanisms", "")
    user = config.get("sasl.username")
    who = f" ({mechanism}, user {user})" if what.startswith("SASL") and user else ""
    return (
        f"Kafka at {bootstrap_servers(settings)} refused the connection: {what} failed{who}: "
        f"{_redacted(error.str(), config)}; check PAYHOOKS_KAFKA_CONFIG_FILE / PAYHOOKS_KAFKA_*"
    )


def check_connection(
    settings: KafkaClientSettings, role: str, *, timeout: float = 20.0, refusal_only: bool = False
) -> None:
    """Fail fast at process start: one line and no reconnect storm when Kafka refuses the
    credentials or the TLS handshake (librdkafka would otherwise retry them for ever). A Kafka
    that does not answer within `timeout` is KafkaUnreachable, or nothing if `refusal_only`."""
    errors: list[KafkaError] = []
    config = admin_config(settings, role)
    admin = new_admin(settings, role, {"error_cb": errors.append, "log_level": 0})
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.list_topics(timeout=0.25)
            return
        except KafkaException:
            admin.poll(0)  # serves error_cb
        refused = next((e for e in errors if e.code() in _REFUSALS), None)
        if refused is not None:
            raise KafkaAuthFailed(_refusal(settings, refused, config))
        if time.monotonic() > deadline:
            if refusal_only:
                return
            last = errors[-1].str() if errors else "no answer"
            raise KafkaUnreachable(
                f"Kafka at {bootstrap_servers(settings)} did not answer within {timeout:.0f} s "
                f"({_redacted(last, config)})"
            )
