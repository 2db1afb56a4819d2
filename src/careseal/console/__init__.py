"""The staff console: Django's admin behind a password and a TOTP second factor."""
