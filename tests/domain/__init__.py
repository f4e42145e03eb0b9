"""Domain tier: domain code called directly against the embedded AWS, the ``aws`` fixture (tests/README.md)."""
