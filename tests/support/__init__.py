"""What tests share: one builder of each kind. Import from the module that owns it
(``from tests.support.events import rest_event``); each module has one job:

- ``events``: every event a test sends, built from the samples in ``events/`` with overrides
  (REST proxy, REQUEST authorizer, SQS batch).
- ``identity``: seeded workspaces (``new_workspace``), the test JWT issuer, principals.
- ``handlers``: requests straight into the api and push_ingest handlers (no gateway).
- ``gateway``: requests through the emulated API Gateway, authorizer then function (``Api``).
- ``aws``: the embedded AWS of the ``aws`` fixture: the table, draining a queue, atomic clients.
- ``settings``: the test environment of every function, and Settings read from one.
- ``leaderboards``: PUSH leaderboards, candidate models, the consolidated rows.
- ``sandbox``: the sandbox provider's knobs and counters.
- ``runs``: a leaderboard ready to run, and a driver for the run queues.
- ``fine_tunes``: a Dr.Gero model on the sandbox's fine-tuning backend.
- ``inference``: a leaderboard ready to serve inference, called through the gateway.
- ``route_matrix``: every route of the OpenAPI document, for the scope and tenant matrices.
- ``hf_server``: the local cloud's Hugging Face hub (``localcloud.hub``), for GET-mode datasets.
- ``oidc_issuer``: a small OpenID Connect issuer (discovery, authorize, PKCE-checking token
  endpoint, RS256 JWKS, logout) for the dashboard's OIDC sign-in tests.
- ``secret_scan``: the suite-wide scan of captured output for credentials (a pytest hook).
"""
