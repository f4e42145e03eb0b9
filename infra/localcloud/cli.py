"""The ``drgero`` developer command.

drgero local [--api-port N] [--aws-port N] [--sandbox-port N] [--state-dir DIR]
    runs the local cloud in the foreground and writes DIR/local.json (Ctrl-C stops it)
drgero invoke FUNCTION --event FILE
    runs one function (folder name like ``consolidate`` or logical id) with one event,
    against the running local cloud if DIR/local.json names a live one, else an ephemeral
    embedded cloud; prints the result as JSON (logs go to stderr)
drgero bootstrap ... / drgero mint-jwt ...
    identity helpers (localcloud.bootstrap / localcloud.devjwt)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DELEGATED = {"bootstrap": "localcloud.bootstrap", "mint-jwt": "localcloud.devjwt"}


def _settings() -> Any:
    from drgero.core.settings import Settings

    return Settings()


def state_file(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / "local.json"


# ---------------------------------------------------------------- drgero local
def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write, readable by the owner only (it holds a token once identity seeds one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, default=str)
        fh.write("\n")
    os.replace(tmp, path)


def _banner(cloud: Any, path: Path) -> str:
    res = cloud.resources()
    lines = [
        "",
        "Dr.Gero local cloud is running (everything on loopback).",
        f"  API (API Gateway emulation) {cloud.api_url}    try: curl {cloud.api_url}/v1/health",
        f"  AWS endpoint (moto)         {cloud.aws_endpoint_url}",
    ]
    if cloud.sandbox_url:
        lines.append(f"  sandbox provider            {cloud.sandbox_url}")
    lines.append(f"  tables       {', '.join(res['tables'].values())}")
    lines.append(f"  bucket       {', '.join(res['buckets'].values())}")
    lines.append(f"  queues       {', '.join(urlsplit(u).path.rsplit('/', 1)[-1] for u in res['queues'].values())}")
    lines.append(f"  schedules    group {', '.join(res['schedule_groups'].values())} + the template's schedules")
    for key in ("workspace_id", "token", "user_jwt"):
        if key in cloud.seed_info:
            lines.append(f"  {key:<12} in {path} (field {key!r})")
    lines += [
        f"  state        {path} (machine-readable)",
        "  invoke one function:  .venv/bin/drgero invoke consolidate --event events/<name>.json",
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


def cmd_local(args: argparse.Namespace) -> int:
    from localcloud.cloud import LocalCloud

    settings = _settings()
    path = state_file(args.state_dir or settings.local.state_dir)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    cloud = LocalCloud(
        host=settings.local.host,
        api_port=settings.local.api_port if args.api_port is None else args.api_port,
        aws_port=settings.local.aws_port if args.aws_port is None else args.aws_port,
        sandbox_port=settings.local.sandbox_port if args.sandbox_port is None else args.sandbox_port,
        region=settings.aws.region,
        redelivery_delay_seconds=settings.local.redelivery_delay_seconds,
        poll_wait_seconds=settings.local.poll_wait_seconds,
        preload_functions=True,
    )
    try:
        cloud.start()
    except OSError as exc:
        print(f"error: could not start the local cloud: {exc} (is a port in use? see --api-port/--aws-port)",
              file=sys.stderr)  # fmt: skip
        return 1
    try:
        # The CLI process is the local cloud: clients built from the environment go to moto too.
        os.environ["AWS_ENDPOINT_URL"] = cloud.aws_endpoint_url
        _write_json(path, cloud.info())
        print(_banner(cloud, path), flush=True)
        while not stop.wait(0.5):
            pass
        print("\nstopping the local cloud...", flush=True)
    finally:
        cloud.stop()
        with contextlib.suppress(FileNotFoundError):  # already removed: nothing to clean up
            path.unlink()
    print("stopped.", flush=True)
    return 0


# ---------------------------------------------------------------- drgero invoke
def _alive(info: dict[str, Any]) -> bool:
    """True when local.json describes a local cloud that is still running."""
    pid = info.get("pid")
    if info.get("status") != "running" or not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    url = urlsplit(info.get("aws_endpoint_url") or "")
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=1):
            return True
    except OSError:
        return False


def _runtime_for_running_cloud(info: dict[str, Any], template: Any) -> Any:
    from localcloud.functions import FunctionRuntime
    from localcloud.resources import CreatedResources

    created = CreatedResources(
        region=info.get("region", "us-east-1"),
        refs=info["created"]["refs"],
        attrs=info["created"]["attrs"],
        parameters=template.parameter_defaults(),
    )
    return FunctionRuntime(template, created, extra_env=info.get("function_env", {}))


def _function_logical_id(template: Any, name: str) -> str | None:
    """A template function's logical id from its logical id or its folder name."""
    if name in template.functions:
        return name
    for logical, res in template.functions.items():
        if Path(res["Properties"]["CodeUri"]).name == name:
            return logical
    return None


def _load_event(spec: str) -> Any:
    text = sys.stdin.read() if spec == "-" else Path(spec).read_text(encoding="utf-8")
    return json.loads(text)


def cmd_invoke(args: argparse.Namespace) -> int:
    from localcloud.cloud import FAKE_CREDENTIALS

    try:
        event = _load_event(args.event)
    except (OSError, json.JSONDecodeError) as exc:
        print(f"error: cannot read event {args.event}: {exc}", file=sys.stderr)
        return 2
    from localcloud.template import Template

    template = Template.load()
    logical = _function_logical_id(template, args.function)
    if logical is None:
        names = ", ".join(sorted(template.functions))
        print(f"error: unknown function {args.function!r} (one of: {names}, or their folder names)", file=sys.stderr)
        return 2
    settings = _settings()
    path = state_file(args.state_dir or settings.local.state_dir)
    info = None
    if path.exists():
        with contextlib.suppress(json.JSONDecodeError, OSError):  # unreadable: treated as absent
            info = json.loads(path.read_text(encoding="utf-8"))
    ephemeral = None
    # Logs (Powertools writes to stdout) go to stderr so stdout is just the result.
    with contextlib.redirect_stdout(sys.stderr):
        os.environ.update(FAKE_CREDENTIALS)
        if info and _alive(info) and "created" in info:
            print(f"invoking against the running local cloud ({info['api_url']})", file=sys.stderr)
            runtime = _runtime_for_running_cloud(info, template)
        else:
            from localcloud.cloud import LocalCloud

            print("no running local cloud; starting an ephemeral one", file=sys.stderr)
            ephemeral = LocalCloud(
                api_port=0, aws_port=0, sandbox_port=0, api=False, pollers=False, scheduler=False
            ).start()
            runtime = ephemeral.functions
        try:
            result = runtime.invoke(logical, event)
            failed = False
        except Exception as exc:  # noqa: BLE001 - reported like Lambda reports an unhandled error
            result = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "stackTrace": traceback.format_exception(exc),
            }
            failed = True
        finally:
            if ephemeral is not None:
                ephemeral.stop()
    print(json.dumps(result, indent=2, default=str))
    return 1 if failed else 0


# ---------------------------------------------------------------- main
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
    local.add_argument("--state-dir", help="where local.json goes (default .drgero)")
    invoke = sub.add_parser("invoke", help="run one function with one event (like sam local invoke)")
    invoke.add_argument("function", help="folder name (consolidate) or logical id (ConsolidateFunction)")
    invoke.add_argument("--event", "-e", required=True, help="event JSON file, or - for stdin")
    invoke.add_argument("--state-dir", help="where to look for a running local cloud's local.json")
    for name in DELEGATED:
        sub.add_parser(name, help=f"identity helper ({DELEGATED[name]})", add_help=False)
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
        return cmd_local(args)
    return cmd_invoke(args)


if __name__ == "__main__":
    sys.exit(main())
