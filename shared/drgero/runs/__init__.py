"""Runs: score every candidate model of a leaderboard on its dataset and rank them.

Lifecycle, messages and idempotency rules: docs/runs.md. Modules, one job each:

- ``records``: the run item, its public view, status transitions, the leaderboard's
  active-run marker.
- ``messages``: the queue message schemas (runs, evaluate, judge queues).
- ``start``: starting a run (API, schedule, dataset improvement) and its estimate.
- ``dataset``: reading the pinned dataset version of a run.
- ``fanout``: snapshot + (model x shard) work items.
- ``evaluate`` / ``judging``: the two queue workers.
- ``completion``: counting finished shards exactly once; deciding what comes next.
- ``aggregate``: the ranking and the production move.
- ``review``: human evaluation.
- ``cancel``: cancelling a run.
- ``failure``: ending a run that cannot end by itself (failed, naming the step, keeping
  what was scored).
- ``sweep``: the sweeper's run sweep: the run DLQs and stalled runs.
- ``selection``: production model and the selection strategy.
- ``schedules``: EventBridge Scheduler schedules of leaderboards.
- ``improvement``: runs started by dataset growth.
- ``spend``: each run's cost from the run records (``by_run`` of the workspace usage).
"""
