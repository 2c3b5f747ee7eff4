"""The ledger's schema (tables, migrations) and the engine that reaches it."""
