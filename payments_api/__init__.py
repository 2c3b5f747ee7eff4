"""The internal payments API (`payhooks api`): payments and wallets, for bearer-token clients."""
