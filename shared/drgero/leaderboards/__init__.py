"""Leaderboards and their candidate models. Modules, one job each:

- ``leaderboard``: the leaderboard item: its configuration models, create, read, change, delete.
- ``candidates``: a candidate model once attached: keys, views, listing, loading its callable
  target (secret unsealed), removal.
- ``attach``: attaching a candidate: parse, validate against the provider, store; by hand
  (with an Idempotency-Key) or auto-selected from the OpenRouter catalog.
- ``prompt``: rendering the leaderboard's prompt for a row.
"""
