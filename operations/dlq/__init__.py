"""Dead letters for ops: list, show, replay.

`dead_letters` is pure (decode, filter, plan, render); `kafka_dlq` and `replay_ledger` are the
adapters; `service` holds the use cases that tie them together; `bootstrap` wires them.
"""
