"""The whole HTTP edge: everything that turns an API Gateway event into a domain call and the
domain's answer (or ``ApiError``) into an HTTP answer. Capabilities never import it. Modules:

- ``app``: the FastAPI application of the api function (routers, error mapping, the 500 body).
- ``deps``: FastAPI dependencies: the principal, one scope check, one body limit, settings, clients.
- ``routers/``: one router per area (leaderboards, models, runs, datasets, traces, tokens, ...);
  thin: a dependency checks the scope, one domain call, the answer shaped.
- ``raw_events``: proxy events without a web framework (push_ingest, inference): headers, bodies,
  error answers, and ``finish`` (x-request-id and CORS on every answer) / ``preflight_answer``.
- ``inference_events``: the inference function's two routes, native and OpenAI-compatible.
- ``inference_openapi``: the OpenAPI description of those two routes.
"""
