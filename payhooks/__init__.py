"""payhooks: payment-provider webhooks to exactly-once wallet credits, on Kafka."""
