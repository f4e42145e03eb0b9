"""``drgero invoke FUNCTION --event FILE``: runs one function with one event, against the running
local cloud if ``DIR/local.json`` names a live one, else an ephemeral embedded cloud; prints the
result as JSON on stdout (logs go to stderr). The local cloud is imported when the command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from drgero_ops.local import cloud_alive, load_settings, not_running_message, read_local_json, state_file


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
    settings = load_settings()
    path = state_file(args.state_dir or settings.local.state_dir)
    info = read_local_json(path)
    ephemeral = None
    # Logs (Powertools writes to stdout) go to stderr so stdout is just the result.
    with contextlib.redirect_stdout(sys.stderr):
        os.environ.update(FAKE_CREDENTIALS)
        if info and cloud_alive(info) and "created" in info:
            print(f"invoking against the running local cloud ({info['api_url']})", file=sys.stderr)
            runtime = _runtime_for_running_cloud(info, template)
        else:
            from localcloud.cloud import LocalCloud

            reason = not_running_message(path, info) if info else "no running local cloud"
            print(f"{reason}; starting an ephemeral one", file=sys.stderr)
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
