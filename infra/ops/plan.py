"""``drgero plan``: an operator reads or changes a workspace's plan.

    .venv/bin/drgero plan show --workspace WS [--stack drgero | --table NAME] [--region R]
    .venv/bin/drgero plan set  --workspace WS --plan pro [--stack drgero | --table NAME] [--region R]
    .venv/bin/drgero plan set  --local --plan free      # the running local cloud (.drgero/local.json)

There is no self-service upgrade route: this command is how a workspace gets another plan, and
the 403 ``plan_limit`` errors name it. Like ``drgero bootstrap`` it writes the metadata table
with your normal AWS credentials (the table from ``--table`` or the stack's
``MetadataTableName`` output); ``--local`` takes the endpoint, table and (by default) the seeded
workspace from the running local cloud's ``local.json`` instead. See docs/operations.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drgero plan", description="Read or change a workspace's plan.")
    sub = parser.add_subparsers(dest="action", required=True)
    for action, text in (("show", "print the workspace's plan, its limits and usage"), ("set", "change the plan")):
        cmd = sub.add_parser(action, help=text)
        cmd.add_argument("--workspace", help="workspace id (with --local: default the seeded workspace)")
        if action == "set":
            cmd.add_argument("--plan", required=True, help="the new plan (free or pro)")
        cmd.add_argument("--stack", default="drgero", help="CloudFormation stack name (to find the table)")
        cmd.add_argument("--table", help="metadata table name (instead of --stack)")
        cmd.add_argument("--region", default=None, help="AWS region (default: your AWS config)")
        cmd.add_argument("--endpoint-url", default=None, help="AWS endpoint (a local cloud's embedded AWS)")
        cmd.add_argument("--local", action="store_true", help="the running local cloud (its local.json)")
        cmd.add_argument("--state-dir", help="with --local: where local.json is (default: local.state_dir)")
    return parser


def _local_target(args: argparse.Namespace, settings: Any) -> str | None:
    """Fills endpoint, region, table and workspace from the running local cloud; an error
    message when there is none."""
    from drgero_ops.local import cloud_alive, not_running_message, read_local_json, state_file

    path = state_file(Path(args.state_dir or settings.local.state_dir))
    info = read_local_json(path)
    if info is None or not cloud_alive(info):
        return not_running_message(path, info)
    args.endpoint_url = info["aws_endpoint_url"]
    args.region = info.get("region") or args.region
    args.table = info["resources"]["tables"]["MetadataTable"]
    args.workspace = args.workspace or info.get("workspace_id")
    return None


def _table_name(args: argparse.Namespace, session: Any) -> str:
    from drgero_ops.bootstrap import _table_name as from_stack

    return from_stack(args, session)


def main(argv: list[str] | None = None) -> int:
    import boto3

    from drgero.core.settings import Settings
    from drgero.store.table import MetadataTable
    from drgero.workspaces import plans
    from drgero.workspaces.membership import get_workspace

    args = _parser().parse_args(argv)
    settings = Settings()
    if args.local:
        problem = _local_target(args, settings)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 1
    if not args.workspace:
        print("error: --workspace is required (or --local with a seeded local cloud)", file=sys.stderr)
        return 2
    session = boto3.session.Session(region_name=args.region)
    if args.local:
        # The embedded AWS takes any credentials; yours must never be sent to it (nor needed).
        session = boto3.session.Session(
            region_name=args.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106
        )
    args.region = args.region or session.region_name or "us-east-1"
    ddb = session.client("dynamodb", region_name=args.region, endpoint_url=args.endpoint_url)
    table = MetadataTable(ddb, _table_name(args, session))
    if get_workspace(table, args.workspace) is None:
        print(f"error: no workspace {args.workspace!r} in table {table.name}", file=sys.stderr)
        return 1
    if args.action == "set":
        try:
            changed = plans.set_plan(table, args.workspace, args.plan)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"workspace {args.workspace}: plan {changed['previous_plan'] or '(none)'} -> {changed['plan']}")
    from drgero.leaderboards.leaderboard import count_leaderboards

    view = plans.billing(table, settings, args.workspace, count_leaderboards(table, args.workspace))
    print(json.dumps({k: view[k] for k in ("workspace_id", "plan", "limits", "usage")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
