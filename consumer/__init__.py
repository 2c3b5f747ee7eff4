"""Consumer-group workers that turn webhook events into exactly-once wallet credits."""
