"""What `payhooks sweep` reads: the ledger database, the providers' verify APIs, Kafka (it publishes
its claims to the main topic), its own knobs. The other operations commands (`dlq`, `topics`,
`reconcile`) read every setting, `kernel.settings.Settings` (docs/architecture.md, "Settings")."""

from __future__ import annotations

from kernel.settings import (
    DatabaseSettings,
    KafkaClientSettings,
    PrefixSettings,
    ProcessSettings,
    ProviderApiSettings,
    SweepKnobs,
)


class SweepSettings(
    KafkaClientSettings,
    PrefixSettings,
    DatabaseSettings,
    ProviderApiSettings,
    ProcessSettings,
    SweepKnobs,
):
    """The sweep's settings; `PAYHOOKS_<FIELD>` variables."""
