"""What `payhooks consumer` reads: Kafka and its topics, the ledger database, Redis (locks), the
webhook secrets and the providers' verify APIs, its own knobs. No HTTP listener but its probes
(docs/architecture.md, "Settings")."""

from __future__ import annotations

from kernel.settings import (
    ConsumerKnobs,
    CreditLockSettings,
    DatabaseSettings,
    ProcessSettings,
    ProviderApiSettings,
    TopicSettings,
    WebhookSecretsSettings,
)


class ConsumerSettings(
    TopicSettings,
    DatabaseSettings,
    CreditLockSettings,
    WebhookSecretsSettings,
    ProviderApiSettings,
    ProcessSettings,
    ConsumerKnobs,
):
    """The credit consumer's settings; `PAYHOOKS_<FIELD>` variables."""
