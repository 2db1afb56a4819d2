"""Benchmarks of the CareSeal gateway, with a throw-away Postfix instance as the reference (see BENCHMARKS.md)."""
