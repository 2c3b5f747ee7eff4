"""Pure consumer logic: credit rules, the payment state machine, error classes. No I/O."""
