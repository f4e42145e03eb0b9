"""Cold-start import time of every function's handler module (fresh interpreter per run).

Each run starts a new Python process with the function's template environment (resources
resolved as the local cloud would name them), imports ``functions/<dir>/<module>.py`` the way
Lambda does (code dir on sys.path, module loaded from its file) and reports how long the
import took (``import_ms``) and how long the whole process lived (``process_ms``:
interpreter start + import + exit). One extra run with ``python -X importtime`` names the
heaviest top-level imports. AWS calls made at import would fail fast: the endpoint points at
a closed loopback port and the credentials are fake; this measures import work only, not
Lambda's own init (sandbox, layers extraction) nor network calls.

The baseline is a bare ``import boto3`` in the same kind of fresh interpreter, timed
interleaved with each function's runs (``boto3_ms_median``); ``ratio`` is the function's
median import over it (issue 18's goals: authorizer <= 1.3x, push and inference <= 2x;
api <= 800 ms), ``ratio_of_mins`` the same over each side's fastest run.

What is on sys.path is what Lambda has: the function's code, the dependency layer
(``layers/deps/requirements.txt``, installed once with pip into ``.bench-layer/``, git-ignored)
and the ``drgero`` package, in the base interpreter started with ``-S`` (no site-packages).
The development venv would add what the layer does not ship and libraries import when they
find it (trio under httpcore, rich under httpx, opentelemetry under fastapi: about 100 ms
that Lambda never pays). If the layer cannot be installed (no package registry), the venv is
used and the ``env`` column says so.

BENCH_COLD_START_RUNS (default 5) sets the number of timed runs per function;
BENCH_COLD_START_FUNCTIONS (comma-separated logical ids, default all) picks some.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_COLD_START_RUNS", "5"))
FUNCTIONS = [f for f in os.environ.get("BENCH_COLD_START_FUNCTIONS", "").split(",") if f]
LAYER_REQUIREMENTS = REPO_ROOT / "layers" / "deps" / "requirements.txt"
LAYER_DIR = REPO_ROOT / ".bench-layer"
# Issue 18's goals: import time over a bare ``import boto3``'s, or an absolute bound.
GOALS: dict[str, tuple[str, float]] = {
    "AuthorizerFunction": ("ratio", 1.3),
    "InferenceFunction": ("ratio", 2.0),
    "PushIngestFunction": ("ratio", 2.0),
    "ApiFunction": ("ms", 800.0),
}


def _layer() -> Path | None:
    """The dependency layer's packages in .bench-layer/ (installed when requirements.txt
    changed), or None when pip cannot install them."""
    stamp = LAYER_DIR / ".requirements-sha256"
    wanted = hashlib.sha256(LAYER_REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == wanted:
        return LAYER_DIR
    fresh = LAYER_DIR.with_name(LAYER_DIR.name + ".new")  # a fresh dir: nothing left from an older layer
    shutil.rmtree(fresh, ignore_errors=True)
    out = subprocess.run(  # noqa: S603 - our own pip, the layer's pinned requirements
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(fresh), "-r", str(LAYER_REQUIREMENTS)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if out.returncode != 0:
        shutil.rmtree(fresh, ignore_errors=True)
        return None
    (fresh / stamp.name).write_text(wanted)
    shutil.rmtree(LAYER_DIR, ignore_errors=True)
    fresh.rename(LAYER_DIR)
    return LAYER_DIR


def _interpreter(layer: Path | None) -> list[str]:
    """The command that starts a fresh interpreter the way the measured process should."""
    if layer is None:
        return [sys.executable]
    return [getattr(sys, "_base_executable", sys.executable), "-S"]


# Runs inside the fresh interpreter: argv = code dir, module file, handler attribute, then
# modules imported first inside the timed window (the web server of a web-adapter function).
PROBE = """
import importlib, importlib.util, json, sys, time
code_dir, module_file, attribute = sys.argv[1:4]
sys.path.insert(0, code_dir)
sys.stderr.write("BENCH-IMPORT-START\\n")  # -X importtime lines after this belong to the handler
sys.stderr.flush()
started = time.perf_counter()
for name in sys.argv[4:]:
    importlib.import_module(name)
name = module_file.rsplit("/", 1)[-1].removesuffix(".py")  # "app", or "asgi" (which imports app)
spec = importlib.util.spec_from_file_location(name, module_file)
module = importlib.util.module_from_spec(spec)
sys.modules[name] = module
spec.loader.exec_module(module)
handler = getattr(module, attribute)
elapsed = time.perf_counter() - started
print(json.dumps({"import_ms": elapsed * 1000, "callable": callable(handler)}))
"""


BOTO3_PROBE = """
import json, time
started = time.perf_counter()
import boto3
print(json.dumps({"import_ms": (time.perf_counter() - started) * 1000, "callable": True}))
"""


def _boto3_run(env: dict[str, str], python: list[str]) -> float:
    out = subprocess.run(
        [*python, "-c", BOTO3_PROBE], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"import boto3 failed:\n{out.stderr[-2000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["import_ms"])


def _function_environments() -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    """logical id -> (merged properties, environment) as the function gets them in AWS."""
    import boto3
    from moto import mock_aws

    from localcloud.functions import FunctionRuntime
    from localcloud.resources import create_resources
    from localcloud.template import Template

    template = Template.load()
    fake = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in fake}
    os.environ.update(fake)
    try:
        with mock_aws():
            created = create_resources(boto3.session.Session(), template, None, "us-east-1")
            runtime = FunctionRuntime(template, created)
            return {fn: (runtime.properties(fn), runtime.environment(fn)) for fn in sorted(template.functions)}
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _probe_env(function_env: dict[str, str], layer: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRGERO_", "AWS_", "POWERTOOLS_", "LAMBDA_"))}
    env.update(function_env)
    if layer is not None:  # Lambda's /opt/python and the function's code; nothing else
        env["PYTHONPATH"] = os.pathsep.join([str(layer), str(REPO_ROOT / "shared")])
    env.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",  # discard port: any AWS call at import fails fast
    )
    # Any value, "0" too, stops Python writing .pyc files; the warm-up run writes them.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _probe_args(props: dict[str, Any]) -> list[str]:
    from localcloud.functions import handler_entry

    module_name, attribute = handler_entry(props["Handler"])
    code_dir = REPO_ROOT / props["CodeUri"]
    module_file = code_dir / f"{module_name.replace('.', '/')}.py"
    return [str(code_dir), str(module_file), attribute]


def _one_run(args: list[str], env: dict[str, str], python: list[str]) -> tuple[float, float]:
    started = time.perf_counter()
    out = subprocess.run(
        [*python, "-c", PROBE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    process_ms = (time.perf_counter() - started) * 1000
    if out.returncode != 0:
        raise RuntimeError(f"import failed ({args[1]}):\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["import_ms"], process_ms


def _heaviest_imports(args: list[str], env: dict[str, str], python: list[str], top: int = 3) -> str:
    """The top-level packages with the largest cumulative import time (python -X importtime)."""
    out = subprocess.run(
        [*python, "-X", "importtime", "-c", PROBE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    totals: dict[str, int] = {}
    _, _, handler_part = out.stderr.partition("BENCH-IMPORT-START\n")
    for line in handler_part.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _self_us, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        raw_name = line.rsplit("|", 1)[1]
        if not cumulative.isdigit() or raw_name.startswith("  "):  # nested import: counted in its parent
            continue
        totals[name] = totals.get(name, 0) + int(cumulative)
    heaviest = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return ", ".join(f"{name} {us / 1000:.0f}" for name, us in heaviest)


def run() -> list[dict[str, Any]]:
    rows = []
    probes = []
    layer = _layer()
    python = _interpreter(layer)
    where = "layer" if layer is not None else "venv (layer not installed)"
    for logical_id, (props, function_env) in _function_environments().items():
        if FUNCTIONS and logical_id not in FUNCTIONS:
            continue
        folder = Path(props["CodeUri"]).name
        probes.append((logical_id, f"{folder}/{props['Handler']}", _probe_args(props), function_env))
        if props["Handler"].endswith(".sh"):
            # Behind the Lambda Web Adapter, cold start also loads uvicorn and the ASGI app
            # (asgi.py, which imports app.py): the streaming entry's cost over app.handler.
            code_dir = REPO_ROOT / props["CodeUri"]
            web = [str(code_dir), str(code_dir / "asgi.py"), "app", "uvicorn.config", "uvicorn.server"]
            probes.append((logical_id, f"{folder}/asgi.app + uvicorn (web adapter)", web, function_env))
    for logical_id, handler, args, function_env in probes:
        env = _probe_env(function_env, layer)
        try:
            _one_run(args, env, python)  # warm the OS file cache and .pyc files; Lambda's are warm too
            samples, baseline = [], []
            for _ in range(RUNS):  # interleaved: the machine's load hits both alike
                samples.append(_one_run(args, env, python))
                baseline.append(_boto3_run(env, python))
        except RuntimeError as exc:  # one broken handler must not hide the others' numbers
            lines = str(exc).strip().splitlines()
            errors = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception)\b", ln)]
            reason = (errors or lines)[-1]
            rows.append({"function": logical_id, "handler": handler, "error": f"import failed: {reason}"})
            continue
        imports = [s[0] for s in samples]
        ratio = round(statistics.median(imports) / statistics.median(baseline), 2)
        kind, bound = GOALS.get(logical_id, ("", 0.0))
        figure = ratio if kind == "ratio" else statistics.median(imports)
        unit = "x" if kind == "ratio" else " ms"
        goal = f"<= {bound:g}{unit}: {'met' if figure <= bound else 'NOT met'}" if kind else ""
        processes = [s[1] for s in samples]
        rows.append(
            {
                "function": logical_id,
                "handler": handler,
                "env": where,
                "runs": RUNS,
                "import_ms_median": statistics.median(imports),
                "import_ms_min": min(imports),
                "import_ms_max": max(imports),
                "process_ms_median": statistics.median(processes),
                "boto3_ms_median": statistics.median(baseline),
                "ratio": ratio,
                # Least-disturbed runs: steadier than the medians on a loaded machine.
                "ratio_of_mins": round(min(imports) / min(baseline), 2),
                "goal": goal,
                "heaviest_imports_ms": _heaviest_imports(args, env, python),
            }
        )
    return rows
