"""Operations on a running payhooks: dead letters (list, show, replay) and ledger reconciliation.

`dead_letters` is pure (decode, filter, plan, render); `kafka_dlq` and `replay_ledger` are the
adapters; `replay` is the use case that ties them together.
"""
