"""Handler tier: one function's real handler invoked with an event on the embedded AWS (tests/README.md)."""
