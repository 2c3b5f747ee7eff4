"""The one place Kafka client configuration is made: properties files as Confluent Cloud and MSK
hand them out, the PAYHOOKS_KAFKA_* variables over them, Java-only keys translated or refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.kafka_client import (
    KafkaConfigError,
    admin_config,
    bootstrap_servers,
    connection_config,
    new_admin,
    new_producer,
    producer_config,
)
from kernel.settings import KafkaClientSettings

# What Confluent Cloud's "Clients → Python" page hands out (values made up).
CONFLUENT_CLOUD = """\
# Required connection configs for Kafka producer, consumer, and admin
bootstrap.servers=pkc-abc12.eu-west-1.aws.confluent.cloud:9092
security.protocol=SASL_SSL
sasl.mechanisms=PLAIN
sasl.username=ABCDEFGHIJKLMNOP
sasl.password=cc-secret-value

# Best practice for higher availability in librdkafka clients prior to 1.7
session.timeout.ms=45000

# Required connection configs for Confluent Cloud Schema Registry
schema.registry.url=https://psrc-xyz.eu-west-1.aws.confluent.cloud
basic.auth.credentials.source=USER_INFO
basic.auth.user.info=SRKEY:sr-secret
"""

# What the Java client (and MSK's SCRAM guide) uses: JAAS, singular mechanism, a PEM trust store.
JAVA_SCRAM = """\
bootstrap.servers=b-1.msk.example:9096,b-2.msk.example:9096
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\
    username="alice" \\
    password="p@ss w=rd;";
ssl.truststore.type=PEM
ssl.truststore.location=/etc/kafka/ca.pem
ssl.endpoint.identification.algorithm=
client.dns.lookup=use_all_dns_ips
"""


def properties(tmp_path: Path, text: str) -> KafkaClientSettings:
    path = tmp_path / "client.properties"
    path.write_text(text)
    return KafkaClientSettings(kafka_config_file=path)


@pytest.fixture(autouse=True)
def no_kafka_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BOOTSTRAP", "CONFIG_FILE", "SECURITY_PROTOCOL", "SASL_MECHANISM"):
        monkeypatch.delenv(f"PAYHOOKS_KAFKA_{name}", raising=False)
    for name in ("SASL_USERNAME", "SASL_PASSWORD", "SSL_CA_LOCATION"):
        monkeypatch.delenv(f"PAYHOOKS_KAFKA_{name}", raising=False)


def test_a_confluent_cloud_file_is_used_as_written_without_the_schema_registry_keys(
    tmp_path: Path,
) -> None:
    config = connection_config(properties(tmp_path, CONFLUENT_CLOUD))

    assert config == {
        "bootstrap.servers": "pkc-abc12.eu-west-1.aws.confluent.cloud:9092",
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "PLAIN",
        "sasl.username": "ABCDEFGHIJKLMNOP",
        "sasl.password": "cc-secret-value",
        "session.timeout.ms": "45000",
    }


def test_java_only_keys_become_their_librdkafka_equivalents(tmp_path: Path) -> None:
    config = connection_config(properties(tmp_path, JAVA_SCRAM))

    assert config == {
        "bootstrap.servers": "b-1.msk.example:9096,b-2.msk.example:9096",
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": "p@ss w=rd;",
        "ssl.ca.location": "/etc/kafka/ca.pem",
        "ssl.endpoint.identification.algorithm": "none",
        "client.dns.lookup": "use_all_dns_ips",
    }


def test_the_variables_override_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "client.properties"
    path.write_text(CONFLUENT_CLOUD)
    monkeypatch.setenv("PAYHOOKS_KAFKA_CONFIG_FILE", str(path))
    monkeypatch.setenv("PAYHOOKS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("PAYHOOKS_KAFKA_SASL_USERNAME", "bob")
    monkeypatch.setenv("PAYHOOKS_KAFKA_SASL_PASSWORD", "from-the-variable")
    monkeypatch.setenv("PAYHOOKS_KAFKA_SSL_CA_LOCATION", "/run/ca.pem")
    monkeypatch.setenv("PAYHOOKS_KAFKA_BOOTSTRAP", "10.0.0.1:9093")

    config = connection_config(KafkaClientSettings())

    assert config["sasl.mechanisms"] == "SCRAM-SHA-256"
    assert (config["sasl.username"], config["sasl.password"]) == ("bob", "from-the-variable")
    assert config["ssl.ca.location"] == "/run/ca.pem"
    assert config["bootstrap.servers"] == "10.0.0.1:9093"


def test_the_file_bootstrap_wins_over_the_default_only(tmp_path: Path) -> None:
    settings = properties(tmp_path, CONFLUENT_CLOUD)

    assert bootstrap_servers(settings).startswith("pkc-abc12")
    assert bootstrap_servers(KafkaClientSettings()) == "127.0.0.1:9092"


def test_each_role_names_its_client_and_its_own_settings_win_over_the_file(
    tmp_path: Path,
) -> None:
    settings = properties(tmp_path, CONFLUENT_CLOUD + "acks=1\n")

    config = producer_config(settings, "gateway", {"acks": "all"})

    assert config["acks"] == "all"
    assert config["client.id"] == "payhooks-gateway"
    assert admin_config(settings, "topics")["client.id"] == "payhooks-topics"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            "sasl.jaas.config=software.amazon.msk.auth.iam.IAMLoginModule required;\n",
            "sasl.jaas.config uses software.amazon.msk.auth.iam.IAMLoginModule",
        ),
        ("ssl.truststore.location=/etc/kafka/truststore.jks\n", "ssl.truststore.location is a JKS"),
        (
            "ssl.keystore.type=JKS\nssl.keystore.location=/etc/kafka/keystore.jks\n",
            "ssl.keystore.location is a JKS",
        ),
        (
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required;\n",
            "needs username=… and password=…",
        ),
    ],
)
def test_java_keys_without_an_equivalent_are_one_error_naming_the_key(
    tmp_path: Path, text: str, named: str
) -> None:
    with pytest.raises(KafkaConfigError, match=named) as raised:
        connection_config(properties(tmp_path, text))

    assert "client.properties (PAYHOOKS_KAFKA_CONFIG_FILE)" in str(raised.value)


def test_a_key_librdkafka_does_not_know_is_named_and_no_secret_is_shown(tmp_path: Path) -> None:
    settings = properties(tmp_path, CONFLUENT_CLOUD + "ssl.protocol=TLSv1.2\n")

    with pytest.raises(KafkaConfigError, match=r'No such configuration property: "ssl\.protocol"'):
        new_producer(settings, "gateway")
    with pytest.raises(KafkaConfigError) as raised:
        new_admin(properties(tmp_path, CONFLUENT_CLOUD + "sasl.mechanisms=cc-secret-value\n"), "x")

    assert "cc-secret-value" not in str(raised.value)
    assert "***" in str(raised.value)


def test_a_missing_file_is_one_error_naming_it(tmp_path: Path) -> None:
    settings = KafkaClientSettings(kafka_config_file=tmp_path / "nowhere.properties")

    with pytest.raises(KafkaConfigError, match=r"cannot read .*nowhere\.properties"):
        connection_config(settings)


def test_the_password_never_shows_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYHOOKS_KAFKA_SASL_PASSWORD", "hunter2")

    assert "hunter2" not in repr(KafkaClientSettings())
