"""The peers `bench/peers.py` compares with: installed on first use into ``.bench-peers/``
(git-ignored), each in an environment of its own, and started on loopback only.

- LiteLLM's proxy (``litellm[proxy]`` from PyPI) in a venv of its own (its pins conflict with
  ours), run without a database, its model cost map loaded from the package
  (``LITELLM_LOCAL_MODEL_COST_MAP=True``: no download at start);
- promptfoo (the npm package) with the machine's node/npm, its update check and telemetry off.

An install that fails (no network, no node) is reported with its reason, never raised: the
benchmark still prints our own figures. Installs are kept between runs; delete ``.bench-peers/``
to reinstall. ``BENCH_PEERS_LITELLM_SPEC`` / ``BENCH_PEERS_PROMPTFOO_SPEC`` pick the versions.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEERS_DIR = ROOT / ".bench-peers"
LITELLM_SPEC = os.environ.get("BENCH_PEERS_LITELLM_SPEC", "litellm[proxy]")
PROMPTFOO_SPEC = os.environ.get("BENCH_PEERS_PROMPTFOO_SPEC", "promptfoo")
INSTALL_TIMEOUT_S = float(os.environ.get("BENCH_PEERS_INSTALL_TIMEOUT_S", "1200"))
PROMPTFOO_ENV = {"PROMPTFOO_DISABLE_UPDATE": "1", "PROMPTFOO_DISABLE_TELEMETRY": "1"}


class PeerUnavailable(RuntimeError):
    """A peer could not be installed or started; the message says why."""


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])[:400]


def _run(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(  # noqa: PLW1510 - checked below, with the tool's own words
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PeerUnavailable(f"{Path(argv[0]).name}: {error}") from error
    if done.returncode != 0:
        raise PeerUnavailable(f"{Path(argv[0]).name} exited {done.returncode}: {_tail(done.stderr or done.stdout)}")


def litellm() -> tuple[Path, str]:
    """The ``litellm`` executable of the peer venv (installed when missing) and its version."""
    venv = PEERS_DIR / "litellm-venv"
    executable = venv / "bin" / "litellm"
    stamp = venv / ".installed"
    if not stamp.exists():
        PEERS_DIR.mkdir(exist_ok=True)
        if not (venv / "bin" / "python").exists():
            _run([sys.executable, "-m", "venv", str(venv)])
        _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", LITELLM_SPEC])
        stamp.write_text(LITELLM_SPEC)
    version = subprocess.run(  # noqa: PLW1510 - a missing version is only a blank cell
        [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    return executable, version


def promptfoo() -> tuple[Path, str]:
    """promptfoo's CLI (installed with npm when missing) and its version."""
    folder = PEERS_DIR / "promptfoo"
    executable = folder / "node_modules" / ".bin" / "promptfoo"
    stamp = folder / ".installed"
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise PeerUnavailable("node/npm are not on PATH")
    if not stamp.exists():
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "package.json").exists():
            (folder / "package.json").write_text('{"private": true}\n')
        env = {**os.environ, **PROMPTFOO_ENV}
        _run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error", PROMPTFOO_SPEC], cwd=folder, env=env)
        stamp.write_text(PROMPTFOO_SPEC)
    package = folder / "node_modules" / "promptfoo" / "package.json"
    version = json.loads(package.read_text()).get("version", "") if package.exists() else ""
    return executable, version


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def litellm_proxy(executable: Path, upstream: str, api_key: str, models: list[str], workdir: Path) -> Iterator[str]:
    """LiteLLM's proxy on a free loopback port, no database, routing ``models`` (names as the
    sandbox knows them) to the OpenRouter-compatible ``upstream``; yields its base URL. Its
    master key is ``sk-bench-master`` (no database: no virtual keys)."""
    import httpx

    config = {
        "model_list": [
            {
                "model_name": model,
                "litellm_params": {"model": f"openrouter/{model}", "api_base": upstream, "api_key": api_key},
            }
            for model in models
        ],
        "general_settings": {"master_key": "sk-bench-master"},
        "litellm_settings": {"telemetry": False, "drop_params": True},
    }
    path = workdir / "litellm.json"  # JSON is YAML: the proxy reads it as its config
    path.write_text(json.dumps(config))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "LITELLM_"))},
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    log = (workdir / "litellm.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - the peer we installed, on loopback
        [str(executable), "--config", str(path), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise PeerUnavailable(
                    f"litellm exited {process.returncode}: {_tail((workdir / 'litellm.log').read_text())}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health/liveliness", timeout=2, trust_env=False).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise PeerUnavailable("litellm did not answer /health/liveliness within 180 s")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def promptfoo_eval(
    executable: Path,
    upstream: str,
    api_key: str,
    models: list[str],
    rows: list[dict[str, Any]],
    concurrency: int,
    workdir: Path,
) -> dict[str, Any]:
    """One ``promptfoo eval`` of ``rows`` x ``models`` against the upstream, cache off, at
    ``concurrency``: its wall time (the whole command, as a user waits for it) and counts."""
    config = {
        "description": "drgero bench",
        "prompts": ["{{input}}"],
        "providers": [
            {"id": f"openai:chat:{model}", "config": {"apiBaseUrl": upstream, "apiKey": api_key}} for model in models
        ],
        "tests": [
            {"vars": {"input": row["input"]}, "assert": [{"type": "equals", "value": row["output"]}]} for row in rows
        ],
    }
    path = workdir / "promptfooconfig.json"
    path.write_text(json.dumps(config))
    output = workdir / "promptfoo-out.json"
    output.unlink(missing_ok=True)
    env = {
        **os.environ,
        **PROMPTFOO_ENV,
        "PROMPTFOO_CONFIG_DIR": str(workdir / "promptfoo-home"),
        "NO_PROXY": "127.0.0.1,localhost",
    }
    argv = [
        str(executable), "eval", "-c", str(path), "--no-cache", "--max-concurrency", str(concurrency),
        "--no-progress-bar", "--no-table", "-o", str(output),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=workdir, capture_output=True, text=True, timeout=1800)  # noqa: PLW1510
    wall = time.perf_counter() - started
    if not output.exists():
        raise PeerUnavailable(f"promptfoo eval exited {done.returncode}: {_tail(done.stderr or done.stdout)}")
    results = json.loads(output.read_text()).get("results", {})
    stats = results.get("stats", {})
    return {
        "wall_s": wall,
        "successes": int(stats.get("successes", 0)),
        "failures": int(stats.get("failures", 0)),
        "errors": int(stats.get("errors", 0)),
    }
