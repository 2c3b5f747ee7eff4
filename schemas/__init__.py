"""Contracts shared by the gateway and the consumer: envelope, names, headers, provider payloads."""
