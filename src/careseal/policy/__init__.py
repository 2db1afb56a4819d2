"""Delivery policy: from a recipient, its message and the configuration to a decision with reasons."""
