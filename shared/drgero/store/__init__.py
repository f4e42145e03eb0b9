"""Persistence: the single DynamoDB metadata table and the S3 bucket's layout (docs/data-model.md).

Modules, one job each:

- ``table``: the thin wrapper over the DynamoDB client (items as plain dicts, conditions,
  transactions); handlers reach it as ``AwsClients.table``.
- ``keys``: the key catalogue, every partition/sort key and S3 object key, in the order of
  docs/data-model.md; no code outside this package spells a key prefix.
"""
