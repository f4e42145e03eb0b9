"""What each handler imports at cold start (issue 18): a fresh interpreter per case with the
function's template environment, so a heavy import that creeps back onto a hot path shows.
Timing itself is bench/cold_start.py's job; these tests only check which modules load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Loaded by importing the handler module, as Lambda does (its folder on sys.path).
PROBE = """
import importlib.util, json, sys
code_dir, watched = sys.argv[1], sys.argv[2].split(",")
sys.path.insert(0, code_dir)
spec = importlib.util.spec_from_file_location("app", code_dir + "/app.py")
module = importlib.util.module_from_spec(spec)
sys.modules["app"] = module
spec.loader.exec_module(module)
from drgero.core import observability
print(json.dumps({
    "loaded": sorted(m for m in watched if m in sys.modules),
    "tracer": type(observability.tracer).__name__,
}))
"""

ALWAYS_HEAVY = ["aws_xray_sdk", "huggingface_hub"]
HEAVY = {
    "AuthorizerFunction": [*ALWAYS_HEAVY, "fastapi", "starlette", "mangum", "httpx", "jwt"],
    "InferenceFunction": [*ALWAYS_HEAVY, "fastapi", "starlette", "mangum"],
    # A push reads its leaderboard's item (drgero.leaderboards.records), not the module with
    # the leaderboard's request models and evaluation configuration (and the regex package).
    "PushIngestFunction": [
        *ALWAYS_HEAVY,
        "fastapi",
        "starlette",
        "mangum",
        "httpx",
        "drgero.leaderboards.leaderboard",
        "regex",
    ],
    # The api function's routers (and the domain they pull in: providers, httpx) load with
    # the first request that needs them (drgero.api.lazy_routers).
    "ApiFunction": [
        *ALWAYS_HEAVY,
        "httpx",
        "drgero.providers",
        "drgero.api.routers.runs",
        "drgero.api.routers.fine_tunes",
        "drgero.api.routers.models",
        "drgero.api.routers.dashboard_support",
        "drgero.inference.request",  # the inference routes' document: with /openapi.json
    ],
    "EvaluateFunction": ALWAYS_HEAVY,
    "SweeperFunction": [*ALWAYS_HEAVY, "boto3"],
}


def _import_handler(aws, function: str, watched: list[str], **extra_env: str) -> dict:
    code_dir = REPO / aws.functions.properties(function)["CodeUri"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DRGERO_", "POWERTOOLS_", "LAMBDA_"))}
    env.update(aws.functions.environment(function))
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",  # noqa: S105 - fake credentials, nothing is called
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        **extra_env,
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", PROBE, str(code_dir), ",".join(watched)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("function", sorted(HEAVY))
def test_importing_the_handler_loads_nothing_heavy_when_tracing_is_off(aws, function):
    found = _import_handler(aws, function, HEAVY[function])
    assert found["loaded"] == [], f"{function} imports {found['loaded']} at cold start"
    assert found["tracer"] == "_OffTracer"


def test_in_lambda_with_tracing_on_the_handler_traces_with_powertools(aws):
    # What AWS runs (the template's Tracing: Active): LAMBDA_TASK_ROOT set, tracing not disabled.
    found = _import_handler(aws, "InferenceFunction", ["aws_xray_sdk"], LAMBDA_TASK_ROOT="/var/task")
    assert found == {"loaded": ["aws_xray_sdk"], "tracer": "Tracer"}


def test_powertools_trace_disabled_turns_tracing_off_in_lambda_too(aws):
    found = _import_handler(
        aws, "InferenceFunction", ["aws_xray_sdk"], LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="true"
    )
    assert found == {"loaded": [], "tracer": "_OffTracer"}
