"""Persistence: the single DynamoDB metadata table (see docs/data-model.md)."""
