"""Outbound transport: next-hop resolution, verified TLS and delivery evidence, free of Django."""
