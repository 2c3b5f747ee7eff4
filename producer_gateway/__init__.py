"""The HTTP gateway: verify a provider's webhook, publish it durably to Kafka, answer."""
