"""Dr.Gero's tests, in tiers (see tests/README.md). A package so that every test module is
imported as ``tests.<tier>.<module>`` and ``tests.support`` is importable from any tier."""
