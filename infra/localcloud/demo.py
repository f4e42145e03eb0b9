"""``make demo``: a scripted tour against a fresh local cloud, over real HTTP.

For now it shows the foundation only: the local cloud starting from template.yaml, the
public health route, and the authorizer path refusing a request without credentials. The
product tour (workspace, leaderboard, dataset push, a run, inference) arrives with the
issues that build those features; this script says so rather than pretending.
"""

from __future__ import annotations

import json
import logging
import sys

import httpx

from localcloud.cloud import LocalCloud


def _show(title: str, response: httpx.Response) -> None:
    print(f"\n>>> {title}")
    print(f"    {response.request.method} {response.request.url}  ->  HTTP {response.status_code}")
    try:
        body = json.dumps(response.json(), indent=2)
    except ValueError:
        body = response.text
    print("    " + body.replace("\n", "\n    "))


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print("Dr.Gero demo: starting a fresh local cloud on free loopback ports...")
    with LocalCloud(api_port=0, aws_port=0, sandbox_port=0) as cloud:
        print(f"  API {cloud.api_url}   embedded AWS {cloud.aws_endpoint_url}")
        resources = cloud.resources()
        counts = {kind: len(names) for kind, names in resources.items()}
        print(
            f"  created from template.yaml: {counts['tables']} tables, {counts['buckets']} bucket, "
            f"{counts['queues']} queues (with DLQs), {counts['schedule_groups']} schedule group"
        )
        ok = True
        with httpx.Client(timeout=30) as http:
            health = http.get(f"{cloud.api_url}/v1/health")
            _show("the public health route answers without credentials", health)
            ok &= health.status_code == 200
            denied = http.get(f"{cloud.api_url}/api/leaderboards")
            _show("a request without a token is refused by the authorizer (API Gateway's 401)", denied)
            ok &= denied.status_code == 401
    print(
        "\nThat is all this demo shows today: the foundation (local cloud, routing, authorizer path)."
        "\nThe full product tour (workspace, leaderboard, dataset push, runs, inference) is added by"
        "\nthe issues that build those features."
    )
    if not ok:
        print("demo FAILED: an answer above was not what the contract says", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
