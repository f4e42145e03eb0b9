"""Core primitives every capability shares; core imports nothing above it. Modules, one job each:

- ``settings``: the one typed settings class, read from the environment once by handlers.
- ``aws``: the AWS clients, built lazily once per process and passed into the domain.
- ``errors``: ``ApiError``, the one error body (the contract's fields plus OpenAI's) and its shorthands.
- ``error_codes``: the registry of every error code with its status and meaning (docs/api.md's table).
- ``json_depth``: the bound on a JSON body's nesting, checked before parsing (400 ``json_too_deep``).
- ``cors``: which browser origins may call the API, and the CORS headers of answers and preflights.
- ``ids``: time-ordered, unguessable ids (``lb_01jd…``).
- ``clock``: ``now()`` and the timestamp formats items and answers use.
- ``validation``: the strict pydantic base models, and a failed validation as the 400 ``ApiError``.
- ``secrets``: KMS seal/unseal of the secrets we call with later, and their masked hints.
- ``queues``: sending JSON messages (one, or batches of ten) to the product's SQS queues.
- ``observability``: the Powertools logger, tracer and metrics every function shares; domain loggers wired to them.
- ``batch``: the SQS consumers' BatchProcessor, typed records (``SqsRecord``) and its one failure policy.
- ``idempotency``: the ``Idempotency-Key`` validator, and which mechanism each route uses.
"""
