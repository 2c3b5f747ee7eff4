"""What `payhooks api` reads: the ledger database, Redis (rate limits), the providers' APIs, its
HTTP listener and its own knobs. No Kafka (docs/architecture.md, "Settings")."""

from __future__ import annotations

from kernel.settings import (
    ApiKnobs,
    DatabaseSettings,
    HttpListenerSettings,
    PrefixSettings,
    ProviderApiSettings,
    RedisSettings,
)


class ApiSettings(
    DatabaseSettings,
    RedisSettings,
    PrefixSettings,
    ProviderApiSettings,
    HttpListenerSettings,
    ApiKnobs,
):
    """The api's settings; `PAYHOOKS_<FIELD>` variables. The prefix names its Redis keys."""
