"""SMTP servers: the authenticated submission port (and, later, the inbound MX)."""
