"""A server's own settings, threads policy and usage."""
