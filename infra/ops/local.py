"""``drgero local``: the local cloud in the foreground, described in ``DIR/local.json`` while it
runs (Ctrl-C or SIGTERM stops it and removes the file). Its state is kept in DIR and restored
on the next start (``--fresh`` starts empty; see docs/local-cloud.md). Also where
``local.json`` lives, how to tell whether it describes a running cloud (a ``kill -9`` leaves a
stale one behind), and how the commands read the settings, shared with ``drgero invoke`` and
``drgero mint-jwt``.

The local cloud (``localcloud``) is imported when the command runs, not with the CLI: the
AWS-side commands (``drgero bootstrap``) never load moto.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def load_settings() -> Any:
    from drgero.core.settings import Settings

    return Settings()


def state_file(state_dir: str | os.PathLike[str]) -> Path:
    return Path(state_dir) / "local.json"


def read_local_json(path: Path) -> dict[str, Any] | None:
    """What ``local.json`` says, or None when it is absent or unreadable (treated as absent)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def cloud_alive(info: dict[str, Any]) -> bool:
    """True when ``local.json`` describes a local cloud that is still running: its process
    exists and its embedded AWS answers (a reused pid alone does not count)."""
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


def not_running_message(path: Path, info: dict[str, Any] | None) -> str:
    if info is None:
        return f"the local cloud is not running (no {path}); start it with 'make local'"
    return (
        f"the local cloud is not running ({path} is stale: pid {info.get('pid')}, started "
        f"{info.get('started_at')}, is gone); start it with 'make local'"
    )


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
    if cloud.hub_url:
        lines.append(f"  Hugging Face hub (local)    {cloud.hub_url}    serves {cloud.hub_dir}/datasets/")
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
        *next_steps(cloud.api_url, path),
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


def next_steps(api_url: str, path: Path) -> list[str]:
    """The banner's last words: the three things to do next (the README's quick start too)."""
    token = f'$(python3 -c \'import json; print(json.load(open("{path}"))["token"])\')'
    return [
        "",
        "Next:",
        f"  1. open the dashboard:  {api_url}/",
        f'  2. a first call:        curl -H "Authorization: Bearer {token}" {api_url}/api/leaderboards',
        "  3. the whole tour:      make demo   (in another terminal; it starts its own local cloud)",
        "",
    ]


def cmd_local(args: argparse.Namespace) -> int:
    from localcloud.cloud import LocalCloud
    from localcloud.moto_server import StateRestoreError
    from localcloud.state_dir import write_private_json

    settings = load_settings()
    path = state_file(args.state_dir or settings.local.state_dir)
    previous = read_local_json(path)
    if previous is not None and cloud_alive(previous):
        print(f"error: a local cloud is already running on this state dir (pid {previous.get('pid')}, "
              f"{previous.get('api_url')}); stop it first", file=sys.stderr)  # fmt: skip
        return 1
    if previous is not None:
        # A kill -9 left it (and the owner token in it) behind: it describes nothing now.
        print(f"replacing a stale {path} (pid {previous.get('pid')} is gone)", file=sys.stderr)
        path.unlink()
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
        hub_port=settings.local.hub_port if getattr(args, "hub_port", None) is None else args.hub_port,
        hub_dir=settings.local.hub_dir or None,
        region=settings.aws.region,
        redelivery_delay_seconds=settings.local.redelivery_delay_seconds,
        poll_wait_seconds=settings.local.poll_wait_seconds,
        seed_plan=settings.local.seed_plan,
        fine_tune_poll_seconds=settings.local.fine_tune_poll_seconds,
        preload_functions=True,
        state_dir=path.parent,
        fresh=args.fresh,
    )
    try:
        cloud.start()
    except StateRestoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: could not start the local cloud: {exc} (is a port in use? see --api-port/--aws-port)",
              file=sys.stderr)  # fmt: skip
        return 1
    try:
        # The CLI process is the local cloud: clients built from the environment go to moto too.
        os.environ["AWS_ENDPOINT_URL"] = cloud.aws_endpoint_url
        write_private_json(path, cloud.info())  # it holds the owner token: owner-only, atomic
        print(_banner(cloud, path), flush=True)
        while not stop.wait(0.5):
            pass
        print("\nstopping the local cloud...", flush=True)
    finally:
        cloud.stop()
        with contextlib.suppress(FileNotFoundError):  # already removed: nothing to clean up
            path.unlink()
    print(f"state saved in {path.parent} (restored by the next start; --fresh starts empty)", flush=True)
    print("stopped.", flush=True)
    return 0
