"""Pure payment-API rules: no I/O."""
