"""Evaluation and ranking core: pure functions, no AWS, no network.

- ``exact``: deterministic exact-match scoring with named normalization options.
- ``judge``: judge-model prompt building and robust verdict parsing (the caller makes the call).
- ``stats``: confidence intervals, paired significance tests, latency percentiles.
- ``ranking``: per-model aggregates, ordering, near-tie rule and the significance verdict.
- ``run_plan``: sharding of rows x models into work items and the run duration estimate.
- ``config``: parsing of a leaderboard's ``evaluation`` JSON into one of the option models.

The protocol, the formulas and the rules are documented in ``docs/evaluation.md``.
"""
