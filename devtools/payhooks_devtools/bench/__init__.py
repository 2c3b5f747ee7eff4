"""`payhooks bench`: each figure is a ratio against a baseline measured in the same run.

Stages (each its own module): `gateway` (webhooks vs a bare hello endpoint, and the seed's
synchronous design as a peer), `consumer` (drain rate vs pgbench running the per-event credit
transaction; retry path; Redis lock cost), `e2e` (webhook 2xx → credited at half the maximum
sustained rate). `stats` and `report` are pure; `main` runs everything and writes `results/`.
"""
