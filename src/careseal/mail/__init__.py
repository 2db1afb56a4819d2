"""Message parsing and rewriting, free of Django."""
