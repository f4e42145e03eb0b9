"""Dr.Gero models: the workspace's own models (OpenAI-compatible endpoints with versions) and
their fine-tuning (docs/fine-tuning.md). Modules:

- ``registry``: the models and their versions: create, read, change, delete, resolve for a call.
- ``finetune/``: fine-tune jobs from a leaderboard's dataset, their backend and schedules
  (its own docstring lists its modules).
"""
