"""Core primitives every capability shares."""
