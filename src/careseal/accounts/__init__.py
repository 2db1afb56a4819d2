"""Staff accounts and the sender addresses each may use."""
