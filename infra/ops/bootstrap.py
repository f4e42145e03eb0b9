"""``drgero bootstrap``: the first workspace of a fresh AWS deployment.

    .venv/bin/drgero bootstrap --stack drgero --name "Acme" [--owner-user-id SUB --owner-email EMAIL]

Creates a workspace and an owner API token with every scope, and prints the token ONCE (only
its hash is stored). With ``--owner-user-id`` (the ``sub`` of your identity provider's user)
that user also becomes the workspace's owner, so they can sign in to it. Uses your normal AWS
credentials; the table comes from ``--table`` or the stack's ``MetadataTableName`` output.
See docs/operations.md.
"""

from __future__ import annotations

import argparse
import sys


def _table_name(args: argparse.Namespace, session) -> str:
    if args.table:
        return args.table
    cfn = session.client("cloudformation", region_name=args.region)
    outputs = cfn.describe_stacks(StackName=args.stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "MetadataTableName":
            return output["OutputValue"]
    raise SystemExit(f"stack {args.stack} has no MetadataTableName output")


def main(argv: list[str] | None = None) -> int:
    import boto3

    from drgero.core.settings import Settings
    from drgero.store.table import MetadataTable
    from drgero_ops.seeding import seed_workspace

    parser = argparse.ArgumentParser(prog="drgero bootstrap", description="Create the first workspace and owner token.")
    parser.add_argument("--name", required=True, help="workspace name")
    parser.add_argument("--stack", default="drgero", help="CloudFormation stack name (to find the table)")
    parser.add_argument("--table", help="metadata table name (instead of --stack)")
    parser.add_argument("--region", default=None, help="AWS region (default: your AWS config)")
    parser.add_argument("--endpoint-url", default=None, help="AWS endpoint (only for testing against a local cloud)")
    parser.add_argument("--owner-user-id", default="", help="identity-provider user id (sub) to make owner")
    parser.add_argument("--owner-email", default="", help="that user's email (display only)")
    parser.add_argument("--plan", default=None, help="plan of the workspace (default: plans.default_plan)")
    args = parser.parse_args(argv)

    session = boto3.session.Session(region_name=args.region)
    args.region = args.region or session.region_name or "us-east-1"
    table_name = _table_name(args, session)
    ddb = session.client("dynamodb", region_name=args.region, endpoint_url=args.endpoint_url)
    settings = Settings()
    if args.plan:
        settings.plans.default_plan = args.plan
    seeded = seed_workspace(
        MetadataTable(ddb, table_name), settings, args.name, args.owner_user_id, args.owner_email.strip().lower()
    )
    print(f"workspace_id: {seeded['workspace_id']}")
    print(f"owner token:  {seeded['token']}")
    print("Store this token now: it is shown only once (only its hash is kept).", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
