"""What `payhooks gateway` reads: Kafka and its topics, the webhook secrets, its HTTP listener.
No database, no Redis, no provider API (docs/architecture.md, "Settings")."""

from __future__ import annotations

from kernel.settings import (
    GatewayKnobs,
    HttpListenerSettings,
    TopicSettings,
    WebhookSecretsSettings,
)


class GatewaySettings(TopicSettings, WebhookSecretsSettings, HttpListenerSettings, GatewayKnobs):
    """The gateway's settings; `PAYHOOKS_<FIELD>` variables. It creates the topics at start
    (unless PAYHOOKS_CREATE_TOPICS=false), hence the topic fields."""
