"""Unit tier: domain code called directly, with no AWS (tests/README.md)."""
