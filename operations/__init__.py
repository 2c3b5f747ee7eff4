"""Operations on a running payhooks: dead letters (list, show, replay), ledger reconciliation and
the sweep of payments whose webhook never came. Above the deployables, below the CLI."""
