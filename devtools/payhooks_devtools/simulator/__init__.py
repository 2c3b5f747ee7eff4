"""A local stand-in for the providers' APIs that can also send them signed webhooks."""
