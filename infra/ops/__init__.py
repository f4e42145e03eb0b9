"""Operator and developer commands: the ``drgero`` CLI (``drgero_ops``, installed from infra/ops).

Kept apart from the local cloud (``localcloud``) because ``drgero bootstrap`` works against a
real AWS stack; the local-cloud commands import ``localcloud`` only when they run. Modules,
one job each:

- ``cli``: the ``drgero`` command's parser and dispatch.
- ``local``: ``drgero local`` (the local cloud in the foreground, ``local.json``).
- ``invoke``: ``drgero invoke`` (one function, one event).
- ``bootstrap``: ``drgero bootstrap`` (first workspace and owner token of a deployment).
- ``seeding``: a workspace with its owner and an owner token, shared by ``bootstrap`` and the
  local cloud's seed, so a local workspace is made the way a deployed one is.
- ``lock``: ``make lock`` (requirements.lock and the layer's exact pins from one venv).
- ``reference``: writes (or checks) the generated sections of docs/api.md: routes and error codes.
"""
