"""Dr.Gero beside its peers on one machine: LiteLLM's proxy (inference) and promptfoo (runs).

Both sides call the same OpenRouter-compatible upstream, the local sandbox provider in a
process of its own (``sandbox/*`` toy models at a fixed latency). The peers are installed on
first use into ``.bench-peers/`` (git-ignored; see ``bench/_peers.py``); a peer that cannot be
installed or started is reported in its row (``peer`` column) and our figures still print.

**Inference** (upstream latency ``BENCH_PEERS_INFERENCE_LATENCY_MS``, default 50): added
latency p50 over a direct call to the upstream, at 1 client and ``BENCH_PEERS_CONCURRENCY``
(default 16), in ``BENCH_PEERS_ROUNDS`` interleaved rounds (default 5) of
``BENCH_PEERS_CALLS`` calls per path (default 20; the path order rotates each round); per
round each path's p50 minus the direct p50, then the median over rounds. Paths:

- ``direct``: a pooled httpx POST to the upstream's ``/chat/completions``;
- ``litellm``: the same request through LiteLLM's proxy (no database, master key auth, its
  cost map local: ``LITELLM_LOCAL_MODEL_COST_MAP=True``);
- ``ours, AWS-modelled``: the real inference function in-process (authorizer context given,
  budgeted API token: reserve + settle are real) on the local cloud's moto server, where every
  AWS request is modelled as 5 ms (``BENCH_PEERS_AWS_MS``): the time spent inside the real
  (loopback moto) request is subtracted and a 5 ms wait added per request, so parallel requests
  (the trace send) overlap as they would in AWS. ``serial_aws`` counts the requests made on
  the calling thread (on the response path), ``aws`` all of them;
- ``ours, local cloud``: HTTP through the API Gateway emulation with the token (its
  REQUEST authorizer invoked as configured), the function, moto: everything real on one box.

**Runs** (``BENCH_PEERS_RUN_ROWS`` rows, default 1000, x 4 toy models, upstream at 100 ms,
concurrency ``BENCH_PEERS_RUN_CONCURRENCY`` = 100: 4 evaluate workers x shard 25 for us,
``--max-concurrency 100`` for promptfoo; ``BENCH_PEERS_RUN_ROUNDS`` interleaved rounds, default
2): the wall time of a whole run (ours: start, fan-out, every shard, aggregation, on a moto
server, as ``bench/runs.py``; promptfoo: the whole ``promptfoo eval`` command, cache off,
update check and telemetry off), the median over rounds, and our AWS requests per shard.

``BENCH_PEERS_PARTS`` (default ``inference,runs``) picks the parts. ``ratio`` is ours / peer:
below 1 we are faster. Numbers only; nothing is asserted.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import _peers

INFERENCE_LATENCY_MS = float(os.environ.get("BENCH_PEERS_INFERENCE_LATENCY_MS", "50"))
CONCURRENCY = int(os.environ.get("BENCH_PEERS_CONCURRENCY", "16"))
ROUNDS = int(os.environ.get("BENCH_PEERS_ROUNDS", "5"))
CALLS = int(os.environ.get("BENCH_PEERS_CALLS", "20"))
AWS_MS = float(os.environ.get("BENCH_PEERS_AWS_MS", "5"))
RUN_ROWS = int(os.environ.get("BENCH_PEERS_RUN_ROWS", "1000"))
RUN_CONCURRENCY = 100
RUN_LATENCY_MS = 100.0
RUN_ROUNDS = int(os.environ.get("BENCH_PEERS_RUN_ROUNDS", "2"))
PARTS = os.environ.get("BENCH_PEERS_PARTS", "inference,runs").split(",")
SANDBOX_KEY = "sk-or-bench-peers-0123456789"
MODEL = "sandbox/echo"


def _row(measure: str, clients: int | None, ours: float | None, peer: str, peer_value: float | None, detail: str):
    return {
        "measure": measure,
        "clients": clients,
        "ours": ours,
        "peer": peer,
        "peer_value": peer_value,
        "ratio": round(ours / peer_value, 2) if ours is not None and peer_value else None,
        "detail": detail,
    }


# ------------------------------------------------------------------------------ AWS model
class _Modelled:
    """Wraps a boto3 client: counts requests (per thread and in all) and, while ``on``, models
    AWS's latency: the time inside the real (moto) request is recorded on the calling thread,
    to be subtracted, and a fixed wait is added after it."""

    on = False
    local = threading.local()
    total = 0
    lock = threading.Lock()

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith(("get_paginator", "can_paginate", "meta")):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if not _Modelled.on:
                return attribute(*args, **kwargs)
            started = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                local = _Modelled.local
                local.inside = getattr(local, "inside", 0.0) + time.perf_counter() - started
                local.count = getattr(local, "count", 0) + 1
                with _Modelled.lock:
                    _Modelled.total += 1
                time.sleep(AWS_MS / 1000)

        return call


def _model_aws(service: Any) -> None:
    for name in ("dynamodb", "sqs", "s3", "kms"):
        service.clients.__dict__[name] = _Modelled(getattr(service.clients, name))
    service.table = service.clients.table
    sink = service.__dict__.get("_sink")
    if sink is not None:  # built before: it holds the SQS client it was given
        service._sink = None


# ------------------------------------------------------------------------------ inference
def _event(leaderboard_id: str, secret: str, text: str) -> dict:
    from bench.inference import _event as inference_event

    return inference_event(leaderboard_id, secret, text)


def _setup_cloud(upstream: str, **options: Any) -> tuple[Any, dict[str, Any]]:
    """A local cloud (no pollers, scheduler or sandbox; ``options`` for the rest) whose
    OpenRouter is ``upstream``, seeded with a budgeted token and a production leaderboard."""
    from localcloud.cloud import LocalCloud

    cloud = LocalCloud(
        api_port=0,
        aws_port=0,
        sandbox_port=0,
        pollers=False,
        scheduler=False,
        sandbox=False,
        **options,
        env_overrides={
            "DRGERO_PROVIDERS__OPENROUTER_BASE_URL": upstream,
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
        },
    )
    cloud.start()
    try:
        return cloud, _seed_inference(cloud)
    except BaseException:
        cloud.stop()
        raise


def _seed_inference(cloud: Any) -> dict[str, Any]:
    from drgero.core.aws import AwsClients
    from drgero.identity.credentials import issue_api_token
    from drgero.identity.integrations import put_integration
    from drgero.identity.principal import ALL_SCOPES
    from drgero.leaderboards.attach import attach_model
    from drgero.leaderboards.leaderboard import create_leaderboard
    from drgero.runs.selection import set_selection
    from drgero.runs.tracing import run_async
    from drgero.workspaces.membership import create_workspace
    from localcloud.identity import settings_from_env

    settings = settings_from_env(cloud.functions.environment("InferenceFunction"))
    # No dataset here: a model may be attached to the empty leaderboard (as bench/inference.py).
    settings = settings.model_copy(update={"limits": settings.limits.model_copy(update={"min_rows_before_models": 0})})
    clients = AwsClients(settings)
    table = clients.table
    workspace_id = create_workspace(table, settings, "", "bench", plan="pro")["id"]
    secret, _token = issue_api_token(table, workspace_id, "bench", ALL_SCOPES, budget_usd=100_000)
    put_integration(settings, clients, workspace_id, "openrouter", SANDBOX_KEY)

    async def accept(_target: Any) -> None:
        return None

    body = {"name": "bench", "prompt": "{input}", "dataset": {"mode": "PUSH"}}
    lb = create_leaderboard(table, settings, workspace_id, body)["id"]
    model = run_async(
        attach_model(
            table, settings, clients, workspace_id, lb, {"platform": "openrouter", "model": MODEL}, validate=accept
        )
    )
    set_selection(table, workspace_id, lb, {"strategy": "manual", "model_id": model["id"]})
    return {"leaderboard_id": lb, "secret": secret}


def _inference_rows(upstream_root: str, litellm: tuple[Path, str] | str, workdir: Path) -> list[dict]:  # noqa: C901
    import httpx

    upstream = f"{upstream_root}/api/v1"
    _control(upstream_root, latency_ms=INFERENCE_LATENCY_MS)
    cloud, seeded = _setup_cloud(upstream)
    try:
        service = cloud.functions.module("InferenceFunction").service
        _model_aws(service)
        lb, secret = seeded["leaderboard_id"], seeded["secret"]
        http = httpx.Client(trust_env=False, timeout=60, limits=httpx.Limits(max_connections=200))
        body = {"model": MODEL, "messages": [{"role": "user", "content": "question"}], "max_tokens": 64}

        def direct() -> None:
            answer = http.post(
                f"{upstream}/chat/completions", json=body, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}
            )
            answer.raise_for_status()

        def modelled() -> None:
            local = _Modelled.local
            local.inside, local.count = 0.0, 0
            answer = cloud.functions.invoke("InferenceFunction", _event(lb, secret, "question"))
            if answer["statusCode"] != 200:
                raise RuntimeError(answer["body"][:300])

        def via_cloud() -> None:
            answer = http.post(
                f"{cloud.api_url}/v1/leaderboard/{lb}/inference",
                json={"input": "question", "max_tokens": 64},
                headers={"Authorization": f"Bearer {seeded['secret']}"},
            )
            if answer.status_code != 200:
                raise RuntimeError(answer.text[:300])

        paths: dict[str, Any] = {"direct": direct, "ours, AWS-modelled": modelled, "ours, local cloud": via_cloud}
        stack = contextlib.ExitStack()
        peer_note = litellm if isinstance(litellm, str) else ""
        if not isinstance(litellm, str):
            try:
                url = stack.enter_context(_peers.litellm_proxy(litellm[0], upstream, SANDBOX_KEY, [MODEL], workdir))

                def via_litellm() -> None:
                    answer = http.post(
                        f"{url}/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-bench-master"}
                    )
                    answer.raise_for_status()

                paths["litellm"] = via_litellm
            except _peers.PeerUnavailable as error:
                peer_note = str(error)
        with stack:
            rows = []
            for clients in (1, CONCURRENCY):
                rows += _interleave(paths, clients, litellm, peer_note)
        http.close()
        return rows
    finally:
        _Modelled.on = False
        cloud.stop()


def _timed(call: Any, modelled: bool) -> float:
    started = time.perf_counter()
    call()
    elapsed = time.perf_counter() - started
    if modelled:  # the real (moto) time of this thread's requests out; their modelled waits stay in
        elapsed -= _Modelled.local.inside
    return elapsed * 1000


def _interleave(paths: dict[str, Any], clients: int, litellm: Any, peer_note: str) -> list[dict]:
    names = list(paths)
    p50: dict[str, list[float]] = {n: [] for n in names}
    errors: dict[str, str] = {}
    serial: list[float] = []
    totals: list[float] = []
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for name in names:  # warm-up: pools, caches, first imports
            with contextlib.suppress(Exception):
                list(pool.map(lambda _i, n=name: paths[n](), range(clients)))
        for round_ in range(ROUNDS):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                modelled = name == "ours, AWS-modelled"
                _Modelled.on = modelled
                before = _Modelled.total

                def one(_i: int, name: str = name, modelled: bool = modelled) -> tuple[float, int]:
                    took = _timed(paths[name], modelled)
                    return took, getattr(_Modelled.local, "count", 0)

                try:
                    results = list(pool.map(one, range(CALLS)))
                except Exception as error:  # noqa: BLE001 - one broken path must not hide the others
                    errors[name] = f"{type(error).__name__}: {error}"[:200]
                    continue
                finally:
                    _Modelled.on = False
                p50[name].append(statistics.median(r[0] for r in results))
                if modelled:
                    serial.append(statistics.median(r[1] for r in results))
                    totals.append((_Modelled.total - before) / CALLS)

    def added(name: str) -> float | None:
        pairs = list(zip(p50[name], p50["direct"], strict=False))
        return statistics.median(a - b for a, b in pairs) if pairs else None

    direct = statistics.median(p50["direct"]) if p50["direct"] else None
    peer_name = f"litellm {litellm[1]}" if not isinstance(litellm, str) else "litellm"
    peer = added("litellm") if "litellm" in p50 and p50["litellm"] else None
    note = errors.get("litellm") or peer_note
    rows = []
    for name in ("ours, AWS-modelled", "ours, local cloud"):
        detail = f"direct p50 {direct:.1f} ms" if direct is not None else ""
        if name == "ours, AWS-modelled" and serial:
            detail += f"; {statistics.median(serial):.0f} serial AWS requests"
            detail += f" ({statistics.median(totals):.1f} in all) x {AWS_MS:g} ms"
        if name in errors:
            detail = errors[name]
        if peer is None and note:
            detail += f"; litellm unavailable: {note}"
        rows.append(_row(f"inference added p50 ms, {name}", clients, added(name), peer_name, peer, detail))
    return rows


# ------------------------------------------------------------------------------ runs
def _control(upstream_root: str, **knobs: Any) -> None:
    import httpx

    httpx.post(f"{upstream_root}/_sandbox/control", json={"model": "*", **knobs}, trust_env=False).raise_for_status()


class _RequestCount:
    """AWS requests of the run's own code. The queue plumbing is left out: in AWS the event
    source mapping receives and deletes the messages, not the function (here the benchmark's
    worker threads play it, with idle long polls)."""

    PLUMBING = ("ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility")

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, event_name: str = "", **_kwargs: Any) -> None:
        if event_name.endswith(self.PLUMBING):
            return
        with self.lock:
            self.count += 1


def _run_rows(upstream_root: str, promptfoo: tuple[Path, str] | str, workdir: Path) -> list[dict]:
    from bench import runs as our_runs
    from localcloud.moto_server import MotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    server = MotoServer()
    moto_url = server.start()
    try:
        env = our_runs._Env(moto_url, upstream_root)
        counter = _RequestCount()
        for name in ("dynamodb", "sqs", "s3", "kms"):
            getattr(env.clients, name).meta.events.register("before-call", counter)
        shard = RUN_CONCURRENCY // our_runs.WORKERS
        rows_data = [{"input": f"{i} + {i % 97}", "output": str(i + i % 97)} for i in range(RUN_ROWS)]
        ours: list[float] = []
        per_shard: list[float] = []
        theirs: list[float] = []
        peer_note = promptfoo if isinstance(promptfoo, str) else ""
        checks = ""
        our_runs._case(env, "warm-up", 50, shard)  # first-use costs (pools, moto backends), not reported
        for round_ in range(RUN_ROUNDS):
            for side in ("ours", "promptfoo") if round_ % 2 == 0 else ("promptfoo", "ours"):
                if side == "ours":
                    ws, lb = our_runs._leaderboard(env, RUN_ROWS)
                    _control(upstream_root, latency_ms=RUN_LATENCY_MS, rate_limit_next=0)
                    before = counter.count
                    result = our_runs._run_once(env, ws, lb, shard)
                    ours.append(result["wall"])
                    shards = len(our_runs.TOYS) * -(-RUN_ROWS // shard)
                    per_shard.append((counter.count - before) / shards)
                elif not peer_note:
                    _control(upstream_root, latency_ms=RUN_LATENCY_MS, rate_limit_next=0)
                    try:
                        done = _peers.promptfoo_eval(
                            promptfoo[0], f"{upstream_root}/api/v1", SANDBOX_KEY, list(our_runs.TOYS), rows_data,
                            RUN_CONCURRENCY, workdir,
                        )  # fmt: skip
                    except _peers.PeerUnavailable as error:
                        peer_note = str(error)
                        continue
                    theirs.append(done["wall_s"])
                    checks = f"promptfoo {done['successes']} pass / {done['failures']} fail / {done['errors']} errors"
        _control(upstream_root, latency_ms=0)
    finally:
        server.stop()
    ideal = RUN_ROWS * len(our_runs.TOYS) * RUN_LATENCY_MS / 1000 / RUN_CONCURRENCY
    detail = f"ideal {ideal:.1f} s; {statistics.median(per_shard):.1f} AWS requests per shard (ours)"
    detail += f"; {checks}" if checks else f"; promptfoo unavailable: {peer_note}" if peer_note else ""
    peer_name = f"promptfoo {promptfoo[1]}" if not isinstance(promptfoo, str) else "promptfoo"
    return [
        _row(
            f"run {RUN_ROWS} rows x {len(our_runs.TOYS)} models, wall s",
            RUN_CONCURRENCY,
            statistics.median(ours),
            peer_name,
            statistics.median(theirs) if theirs else None,
            detail,
        )
    ]


def _installed(installer: Any) -> tuple[Path, str] | str:
    try:
        return installer()
    except _peers.PeerUnavailable as error:
        return f"could not install: {error}"


def run() -> list[dict]:
    from bench.runs import _start_sandbox

    litellm = _installed(_peers.litellm)
    promptfoo = _installed(_peers.promptfoo)
    upstream_root, stop_sandbox = _start_sandbox()
    rows: list[dict] = []
    try:
        with tempfile.TemporaryDirectory(prefix="drgero-bench-peers-") as folder:
            workdir = Path(folder)
            parts = ((_inference_rows, litellm, "inference"), (_run_rows, promptfoo, "runs"))
            for part, args, name in parts:
                if name not in PARTS:
                    continue
                try:
                    # The functions' CloudWatch metric lines (EMF, on stdout) are not ours to print.
                    with contextlib.redirect_stdout(io.StringIO()):
                        rows += part(upstream_root, args, workdir)
                except Exception as error:  # noqa: BLE001 - one broken part must not hide the other
                    rows.append(
                        _row(part.__name__.strip("_"), None, None, "", None, f"{type(error).__name__}: {error}")
                    )
    finally:
        stop_sandbox()
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
