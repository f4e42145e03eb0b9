"""The ``drgero`` command (``[project.scripts]``): developer and operator commands.

drgero local [--api-port N] [--aws-port N] [--sandbox-port N] [--hub-port N] [--state-dir DIR] [--fresh]
    runs the local cloud in the foreground and writes DIR/local.json (Ctrl-C stops it); its
    state is kept in DIR and restored by the next start, unless --fresh (drgero_ops.local)
drgero invoke FUNCTION --event FILE
    runs one function (folder name like ``consolidate`` or logical id) with one event,
    against the running local cloud if DIR/local.json names a live one, else an ephemeral
    embedded cloud; prints the result as JSON (logs go to stderr) (drgero_ops.invoke)
drgero bootstrap ...
    the first workspace of a real AWS deployment (drgero_ops.bootstrap)
drgero plan show|set --workspace WS [--plan pro] [--table T | --stack S | --local]
    an operator reads or changes a workspace's plan, in AWS or the local cloud (drgero_ops.plan)
drgero mint-jwt ...
    a session JWT from the local cloud's dev issuer (localcloud.devjwt)

Nothing here imports the local cloud at module level: ``bootstrap`` runs against AWS and
must not need moto; the local-cloud commands import it when they run.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from drgero_ops import invoke, local

# Commands with their own argument parser, run as ``module.main(argv)``.
DELEGATED = {"bootstrap": "drgero_ops.bootstrap", "plan": "drgero_ops.plan", "mint-jwt": "localcloud.devjwt"}


def _delegate(command: str, argv: list[str]) -> int:
    module_name = DELEGATED[command]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"error: 'drgero {command}' is not available yet ({module_name} does not exist)", file=sys.stderr)
        return 2
    if not hasattr(module, "main"):
        print(f"error: {module_name} has no main(argv)", file=sys.stderr)
        return 2
    return int(module.main(argv) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drgero", description="Dr.Gero developer commands.")
    sub = parser.add_subparsers(dest="command", required=True)
    local = sub.add_parser("local", help="run the local cloud in the foreground")
    local.add_argument("--api-port", type=int, help="API Gateway emulation port (default 3000; 0 = any free port)")
    local.add_argument("--aws-port", type=int, help="embedded AWS (moto) port (default 4566; 0 = any free port)")
    local.add_argument("--sandbox-port", type=int, help="sandbox provider port (default 4010; 0 = any free port)")
    local.add_argument("--hub-port", type=int, help="local Hugging Face hub port (default 4020; 0 = any free port)")
    local.add_argument("--state-dir", help="where local.json and the saved state go (default .drgero)")
    local.add_argument("--fresh", action="store_true", help="forget the saved state and start empty")
    invoke = sub.add_parser("invoke", help="run one function with one event (like sam local invoke)")
    invoke.add_argument("function", help="folder name (consolidate) or logical id (ConsolidateFunction)")
    invoke.add_argument("--event", "-e", required=True, help="event JSON file, or - for stdin")
    invoke.add_argument("--state-dir", help="where to look for a running local cloud's local.json")
    for name in DELEGATED:
        sub.add_parser(name, help=f"operator/identity helper ({DELEGATED[name]})", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        return _delegate(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.command == "local" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("botocore").setLevel(logging.WARNING)
    if args.command == "local":
        return local.cmd_local(args)
    return invoke.cmd_invoke(args)


if __name__ == "__main__":
    sys.exit(main())
