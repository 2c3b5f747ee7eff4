"""The kernel every payhooks process stands on: settings, the ledger database (tables, engine,
migrations), logs, the Kafka client config and topics, the provider verify client, the clock.

It imports nothing of payhooks above it (`schemas` aside); docs/architecture.md has the layers.
"""
