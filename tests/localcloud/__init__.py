"""Local-cloud tier: end to end against the started local cloud; marked ``slow`` (tests/README.md)."""
