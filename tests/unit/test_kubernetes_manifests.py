"""deploy/kubernetes validates against the Kubernetes schemas (kubernetes-validate's bundled,
offline copies, strict: an unknown field fails too) and keeps the promises docs/deploy.md makes."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import pytest
import typer
import yaml
from pydantic_settings import BaseSettings

from consumer.settings import ConsumerSettings
from kernel.settings import Settings, TopicSettings
from operations.settings import SweepSettings
from payhooks import cli
from payments_api.settings import ApiSettings
from producer_gateway.settings import GatewaySettings

MANIFESTS = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30"


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append(
                    (f"{path.name}:{document['kind']}/{document['metadata']['name']}", document)
                )
    return found


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in documents() if doc["kind"] == kind}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template: dict[str, Any] = spec["template"]["spec"]
    return template


def containers() -> list[tuple[str, dict[str, Any]]]:
    workloads = ("Deployment", "StatefulSet", "Job", "CronJob")
    return [
        (name, container)
        for name, doc in documents()
        if doc["kind"] in workloads
        for container in pod_spec(doc)["containers"]
    ]


@pytest.mark.parametrize(("where", "document"), documents(), ids=[w for w, _ in documents()])
def test_every_manifest_validates_against_the_kubernetes_schema(
    where: str, document: dict[str, Any]
) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_an_invalid_manifest_fails_validation() -> None:
    # The check above can fail: a typo'd field and a wrong type are both caught.
    deployment = by_kind("Deployment")["payhooks-gateway"]
    typo = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)
    wrong = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"])
    on_disk = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_the_parts_docs_deploy_md_describes_are_there() -> None:
    assert {"payhooks-gateway", "payhooks-api"} <= by_kind("Deployment").keys()
    assert "payhooks-consumer" in by_kind("StatefulSet")
    assert {"payhooks-migrate", "payhooks-topics"} <= by_kind("Job").keys()
    assert "payhooks-sweep" in by_kind("CronJob")
    assert "payhooks-gateway" in by_kind("HorizontalPodAutoscaler")
    assert {"payhooks-gateway", "payhooks-api", "payhooks-consumer"} <= by_kind(
        "PodDisruptionBudget"
    ).keys()
    args = {
        name: container.get("args", container.get("command")) for name, container in containers()
    }
    assert args["jobs.yaml:Job/payhooks-migrate"] == ["payhooks", "db", "upgrade"]
    assert args["sweep.yaml:CronJob/payhooks-sweep"] == ["payhooks", "sweep", "--once"]


def test_secrets_are_referenced_never_inlined() -> None:
    assert not by_kind("Secret")
    for where, container in containers():
        for variable in container.get("env", []):
            sensitive = any(
                word in variable["name"] for word in ("SECRET", "PASSWORD", "TOKEN", "DATABASE_URL")
            )
            if sensitive:
                assert "secretKeyRef" in variable.get("valueFrom", {}), (where, variable["name"])
    config = by_kind("ConfigMap")["payhooks-config"]["data"]
    assert not [key for key in config if "SECRET" in key or "PASSWORD" in key]


def test_the_consumer_has_a_stable_instance_id_and_a_grace_period_longer_than_a_batch() -> None:
    consumer = by_kind("StatefulSet")["payhooks-consumer"]
    spec = pod_spec(consumer)
    [container] = spec["containers"]
    instance = next(v for v in container["env"] if v["name"] == "PAYHOOKS_CONSUMER_INSTANCE_ID")
    assert instance["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"  # name-<ordinal>
    transaction_seconds = 30  # PAYHOOKS_CONSUMER_TRANSACTION_TIMEOUT_MS default
    assert spec["terminationGracePeriodSeconds"] > 2 * transaction_seconds


def test_probes_are_wired_to_the_health_endpoints() -> None:
    for where, container in containers():
        if "Job" in where:
            continue
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", where
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", where


def test_only_the_gateway_takes_connections_from_anywhere() -> None:
    policies = by_kind("NetworkPolicy")
    deny = policies["payhooks-default-deny-ingress"]["spec"]
    assert deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny
    open_to_all = [
        name
        for name, policy in policies.items()
        for rule in policy["spec"].get("ingress", [])
        if "from" not in rule
    ]
    assert open_to_all == ["payhooks-gateway-public"]
    gateway_public = policies["payhooks-gateway-public"]["spec"]["podSelector"]["matchLabels"]
    assert gateway_public == {"app.kubernetes.io/component": "gateway"}
    [ingress] = by_kind("Ingress").values()
    backends = {
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"payhooks-gateway"}


def _egress_ports(rule: dict[str, Any]) -> set[tuple[int, str]]:
    return {(port["port"], port["protocol"]) for port in rule.get("ports", [])}


def test_the_processes_that_call_the_providers_may_reach_them_and_dns() -> None:
    policy = by_kind("NetworkPolicy")["payhooks-provider-egress"]["spec"]
    assert policy["policyTypes"] == ["Egress"]
    [selector] = policy["podSelector"]["matchExpressions"]
    assert selector["key"] == "app.kubernetes.io/component"
    # the selector matches the pods of the consumer and of the sweep, and only them
    pods = {
        "payhooks-consumer": by_kind("StatefulSet")["payhooks-consumer"],
        "payhooks-sweep": by_kind("CronJob")["payhooks-sweep"],
    }
    for name, workload in pods.items():
        spec = (
            workload["spec"]["jobTemplate"]["spec"]
            if name == "payhooks-sweep"
            else workload["spec"]
        )
        labels = spec["template"]["metadata"]["labels"]
        assert labels[selector["key"]] in selector["values"], name
    assert sorted(selector["values"]) == ["consumer", "sweep"]
    rules = policy["egress"]
    dns = [rule for rule in rules if (53, "UDP") in _egress_ports(rule)]
    assert dns
    assert (53, "TCP") in _egress_ports(dns[0])
    https = [rule for rule in rules if (443, "TCP") in _egress_ports(rule)]
    assert [peer["ipBlock"]["cidr"] for peer in https[0]["to"]] == ["0.0.0.0/0"]
    assert "169.254.0.0/16" in https[0]["to"][0]["ipBlock"]["except"]  # no cloud metadata
    # what else they need stays reachable once Egress is restricted: Kafka, PostgreSQL, Redis
    allowed = set().union(*(_egress_ports(rule) for rule in rules))
    assert {(9092, "TCP"), (5432, "TCP"), (6379, "TCP")} <= allowed


def _payhooks_invocations() -> list[tuple[str, list[str]]]:
    found = []
    for where, container in containers():
        argv = container.get("args") or container["command"]
        if argv[:2] == ["sh", "-c"]:
            for part in argv[2].split("&&"):
                found.append((where, shlex.split(part)))
        else:
            found.append((where, argv))
    return found


def test_every_container_runs_a_real_payhooks_command_with_real_flags() -> None:
    root = typer.main.get_command(cli.app)
    for where, argv in _payhooks_invocations():
        assert argv[0] == "payhooks", where
        command: Any = root
        words = [word for word in argv[1:] if not word.startswith("-")]
        for word in words:  # down the command groups (`db upgrade`, `topics create`)
            subcommands = getattr(command, "commands", {})
            if word not in subcommands:
                break
            command = subcommands[word]
        assert not hasattr(command, "commands"), f"{where}: {argv} names no payhooks command"
        known = {opt for param in command.params for opt in param.opts}
        flags = {word for word in argv[1:] if word.startswith("--")}
        assert flags <= known, f"{where}: unknown flags {flags - known}"


def test_every_payhooks_variable_in_the_manifests_is_a_real_setting() -> None:
    fields = {f"PAYHOOKS_{name.upper()}" for name in Settings.model_fields}
    named = set(by_kind("ConfigMap")["payhooks-config"]["data"])
    for _, container in containers():
        named |= {variable["name"] for variable in container.get("env", [])}
    unknown = {name for name in named if name.startswith("PAYHOOKS_")} - fields
    assert not unknown, f"not settings: {unknown}"


# The long-running processes' own settings classes (docs/architecture.md, "Settings").
PROCESS_SETTINGS: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "api": ApiSettings,
    "consumer": ConsumerSettings,
    "sweep": SweepSettings,
}


def _deployables() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for where, container in containers():
        argv = container.get("args") or container.get("command") or []
        if argv[:1] == ["payhooks"] and argv[1] in PROCESS_SETTINGS:
            found.append((where, argv[1], container))
    return found


def _secret_variables(kind: type[Any]) -> set[str]:
    """What a process reads that only a Secret may hold: its SecretStr fields and the database
    URL; the SASL password travels in the Kafka client properties file instead."""
    return {
        f"PAYHOOKS_{name.upper()}"
        for name, field in kind.model_fields.items()
        if "SecretStr" in str(field.annotation) or name == "database_url"
    } - {"PAYHOOKS_KAFKA_SASL_PASSWORD"}


def test_each_process_is_offered_exactly_the_secrets_its_settings_read() -> None:
    # Least privilege: the gateway gets no database URL nor API key; the consumer, which
    # confirms with the providers' verify APIs, gets their API keys.
    assert {command for _, command, _ in _deployables()} == set(PROCESS_SETTINGS)
    for where, command, container in _deployables():
        given = {
            variable["name"]
            for variable in container.get("env", [])
            if "secretKeyRef" in variable.get("valueFrom", {})
        }
        assert given == _secret_variables(PROCESS_SETTINGS[command]), where


def test_each_process_sets_only_variables_its_settings_or_its_command_read() -> None:
    group = typer.main.get_command(cli.app)
    assert isinstance(group, typer.core.TyperGroup)
    commands = group.commands
    for where, command, container in _deployables():
        flags = {param.envvar for param in commands[command].params if param.envvar}
        read = {f"PAYHOOKS_{name.upper()}" for name in PROCESS_SETTINGS[command].model_fields}
        named = {variable["name"] for variable in container.get("env", [])}
        assert named <= read | flags, (where, named - read - flags)


def test_every_config_map_variable_is_read_by_a_process_it_configures() -> None:
    # No dead settings in production: a dev-tooling knob (PAYHOOKS_STATE_DIR, the local stack's
    # folder) has no reader in the image; the topics Job reads TopicSettings.
    kinds: list[type[BaseSettings]] = [*PROCESS_SETTINGS.values(), TopicSettings]
    read = {f"PAYHOOKS_{name.upper()}" for kind in kinds for name in kind.model_fields}
    named = set(by_kind("ConfigMap")["payhooks-config"]["data"])
    assert named <= read, named - read
