"""Gateway tier: HTTP through the emulated API Gateway in-process, authorizer then function (tests/README.md)."""
