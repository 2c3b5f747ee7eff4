"""docs/deploy.md's alerts name metrics the processes really export."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry

import consumer.adapters.metrics  # noqa: F401 - registers the consumer's metrics
from producer_gateway.adapters.metrics import GatewayMetrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def exported(registry: CollectorRegistry) -> set[str]:
    names = set()
    for family in registry.collect():
        names.add(family.name)
        if family.type == "counter":  # a labelled counter has no sample until first used
            names.add(f"{family.name}_total")
        names |= {sample.name for sample in family.samples}
    return names


def test_every_payhooks_metric_the_deploy_doc_names_is_exported() -> None:
    named = set(re.findall(r"\bpayhooks_\w+", DOC.read_text()))
    known = exported(REGISTRY) | exported(GatewayMetrics().registry)
    assert named, "the doc names no metric"
    assert named <= known, f"not exported: {sorted(named - known)}"
