"""Authorizer cost per request: format check, cache hit, cache miss, JWT, and budget reserve.

Against the embedded AWS (a moto server on loopback, resources created from template.yaml):

- ``parse+hash``: token shape + checksum + SHA-256 (what every token request pays first);
- ``bad_checksum``: a mistyped token, refused before any database read;
- ``token_cache_hit`` / ``token_cache_miss``: a full ``Authorizer.authorize`` for an API token
  with the lookup cached, and with the cache cleared (one GetItem, plus the throttled
  ``last_used_at`` write);
- ``jwt_hs256_cache_hit``: a user session (HS256 verify + cached memberships);
- ``budget_reserve+settle``: the budget overhead of a paid call, one conditional UpdateItem
  to reserve and one to settle.

- ``authorizer_hop``: what an uncached REQUEST authorizer costs per call on top of the
  function: the event serialized to the authorizer Lambda, ``authorize`` with its warm token
  cache, the policy serialized back, plus one Lambda invoke modelled as one AWS request;
- ``in_function_cache_hit``: what the inference function now runs for its own routes
  (``drgero.api.inference_events.authenticate``: ``Authorizer.principal_of`` with the same
  warm cache, no policy, no hop; issue 18's decision, docs/performance.md).

Loopback moto is faster than DynamoDB (single-digit ms per request in a region); read the
numbers as relative costs. Median, p95, min and max of ``BENCH_AUTH_N`` requests (default 300);
``aws_modelled_ms`` is the median with each AWS request on the path (``aws_requests``: the
token lookup on a miss, the budget's two updates, the authorizer's invoke) modelled at
``BENCH_AUTH_AWS_MS`` (default 5 ms, issue 18's figure) instead of loopback moto's time.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import boto3

N = int(os.environ.get("BENCH_AUTH_N", "300"))
AWS_MS = float(os.environ.get("BENCH_AUTH_AWS_MS", "5"))


def _row(name: str, samples_ms: list[float], aws_requests: int = 0, loopback_ms: float = 0.0) -> dict:
    """``loopback_ms``: the moto requests' share of the median, replaced by the model."""
    ordered = sorted(samples_ms)
    median = statistics.median(ordered)
    return {
        "case": name,
        "n": len(ordered),
        "median_ms": median,
        "median_us": median * 1000,  # the cached cases take microseconds
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))],
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
        "aws_requests": aws_requests,
        "aws_modelled_ms": max(median - loopback_ms, 0.0) + aws_requests * AWS_MS,
    }


def _time(fn, n: int = N) -> list[float]:
    fn()  # warm-up
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def run() -> list[dict]:
    from drgero.api.inference_events import authenticate
    from drgero.core.aws import AwsClients
    from drgero.core.settings import Settings
    from drgero.identity import budget, tokens
    from drgero.identity.authorizer import Authorizer
    from drgero.identity.principal import Principal
    from drgero_ops.seeding import seed_workspace
    from localcloud.identity import local_identity_env, mint_jwt
    from localcloud.moto_server import MotoServer
    from localcloud.resources import create_resources
    from localcloud.template import Template

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    server = MotoServer()
    url = server.start()
    try:
        created = create_resources(boto3.session.Session(), Template.load(), url, "us-east-1")
        env = local_identity_env()
        settings = Settings(
            aws={"endpoint_url": url, "table_name": created.refs["MetadataTable"]},
            auth={
                "jwt_issuer": env["DRGERO_AUTH__JWT_ISSUER"],
                "jwt_audience": env["DRGERO_AUTH__JWT_AUDIENCE"],
                "jwt_hs256_secret": env["DRGERO_AUTH__JWT_HS256_SECRET"],
            },
        )
        table = AwsClients(settings).table
        seeded = seed_workspace(table, settings, "bench", "bench-owner", "owner@bench.local")
        token = seeded["token"]
        typo = token[:-1] + ("a" if token[-1] != "a" else "b")
        session = mint_jwt(settings.auth.jwt_hs256_secret, sub="bench-owner")
        authorizer = Authorizer(settings, table)
        arn = "arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/api/tokens"

        def event(headers: dict) -> dict:
            return {"methodArn": arn, "path": "/api/tokens", "headers": headers}

        api_event, bad_event, jwt_event = (
            event({"X-API-Key": token}),
            event({"X-API-Key": typo}),
            event({"Authorization": f"Bearer {session}"}),
        )

        def miss() -> None:
            authorizer.cache.clear()
            authorizer.authorize(api_event)

        principal = Principal.from_context(authorizer.authorize(api_event)["context"])

        def hop() -> None:
            # API Gateway -> authorizer Lambda -> API Gateway: the event and the policy cross as JSON.
            policy = authorizer.authorize(json.loads(json.dumps(api_event)))
            json.loads(json.dumps(policy))

        def get_item() -> None:  # one loopback GetItem: the share of a miss the model replaces
            table.get("bench-absent", "bench-absent")

        loopback_get = statistics.median(_time(get_item, max(50, N // 3)))

        def reserve_settle() -> None:
            resv = budget.reserve(table, settings, principal, 0.01)
            budget.settle(table, resv["id"], 0.005)

        return [
            _row("parse+hash", _time(lambda: tokens.hash_secret(tokens.parse(token).secret), N * 10)),
            _row("bad_checksum", _time(lambda: authorizer.authorize(bad_event), N * 10)),
            _row("token_cache_hit", _time(lambda: authorizer.authorize(api_event))),
            _row("token_cache_miss", _time(miss), 1, loopback_get),
            _row("jwt_hs256_cache_hit", _time(lambda: authorizer.authorize(jwt_event))),
            _row("budget_reserve+settle", _time(reserve_settle, max(50, N // 3)), 2, 2 * loopback_get),
            _row("authorizer_hop (uncached REQUEST authorizer)", _time(hop), 1),
            _row("in_function_cache_hit (no hop)", _time(lambda: authenticate(authorizer, api_event))),
        ]
    finally:
        server.stop()
