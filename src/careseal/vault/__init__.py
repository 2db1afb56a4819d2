"""Encryption at rest: key ring, envelope encryption and blob storage."""
