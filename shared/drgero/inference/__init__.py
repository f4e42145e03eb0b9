"""Production inference: one call of a leaderboard's production model, paid for and traced
(docs/inference.md). Modules, one job each:

- ``request``: the two request bodies (native and OpenAI chat), validated at the boundary.
- ``target``: the leaderboard's production target, resolved once and cached for seconds.
- ``service``: the call itself: budget reserve and settle, provider call, fallback, trace.
- ``config``: per-leaderboard inference settings (validated on leaderboard create/PATCH).
- ``capture``: sampled calls become pending dataset rows of a PUSH leaderboard.
"""
