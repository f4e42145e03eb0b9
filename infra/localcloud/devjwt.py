"""``drgero mint-jwt``: a user session JWT signed by the running local cloud's dev issuer.

    .venv/bin/drgero mint-jwt                          # the seeded owner
    .venv/bin/drgero mint-jwt --sub alice --email alice@example.com --ttl 3600

It reads the issuer secret from ``.drgero/local.json`` (the local cloud's function env), so
it only works against a running local cloud (a ``local.json`` a ``kill -9`` left behind is
refused as stale); real deployments use their identity provider.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from drgero_ops.local import cloud_alive, not_running_message, read_local_json
from localcloud.identity import LOCAL_AUDIENCE, LOCAL_ISSUER, LOCAL_OWNER_EMAIL, LOCAL_OWNER_ID, mint_jwt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="drgero mint-jwt", description=__doc__.splitlines()[0])
    parser.add_argument("--sub", default=LOCAL_OWNER_ID, help="user id (the JWT subject)")
    parser.add_argument("--email", default=LOCAL_OWNER_EMAIL, help="verified email claim ('' for none)")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    parser.add_argument("--state-dir", default=".drgero", help="where the local cloud wrote local.json")
    args = parser.parse_args(argv)
    path = Path(args.state_dir) / "local.json"
    info = read_local_json(path)
    if info is None or not cloud_alive(info):
        print(f"error: {not_running_message(path, info)}", file=sys.stderr)
        return 2
    env = info.get("function_env") or {}
    secret = env.get("DRGERO_AUTH__JWT_HS256_SECRET")
    if not secret:
        print(f"error: {path} has no local dev issuer secret", file=sys.stderr)
        return 2
    issuer = env.get("DRGERO_AUTH__JWT_ISSUER") or LOCAL_ISSUER
    audience = env.get("DRGERO_AUTH__JWT_AUDIENCE") or LOCAL_AUDIENCE
    print(mint_jwt(secret, sub=args.sub, email=args.email, ttl_seconds=args.ttl, issuer=issuer, audience=audience))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
