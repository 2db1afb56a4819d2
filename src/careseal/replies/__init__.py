"""Tracked replies: per-message reply addresses, the inbound MX's reply handling, and auto-responses."""
