"""``make demo``: the product tour on a fresh local cloud, offline, over real HTTP.

Starts a LocalCloud (embedded AWS, the sandbox provider, every function behind the API
Gateway emulation) on free loopback ports, then does what a user would, with nothing but
HTTP requests and the seeded owner token of ``.drgero/local.json``:

 1. create a PUSH leaderboard (arithmetic questions, prompt with ``{input}``, exact match)
 2. create an ``hpd_`` dataset push token
 3. push 160 rows in every accepted shape, with each of the three credential headers
 4. consolidate and show the dataset status
 5. auto-select sandbox models and attach a custom endpoint
 6. run, and print the ranking (score with 95% CI, cost, latency) and the verdict
 7. call production inference: plain HTTP, then the OpenAI SDK (or httpx) on /v1/chat/completions
 8. show the traces
 9. a GET leaderboard from the local Hugging Face hub (an ordinary huggingface.co URL of a
    shipped sample), judged by the sandbox's toy judge
10. a schedule fires a run (the scheduler is moved an hour ahead)
11. human evaluation: a blind review, graded over the API, then the ranking
12. the fine-tuning loop (``--skip-fine-tune`` leaves it out; skipped if its routes are absent)
13. a restart of the local cloud on the same state dir: everything is still there

Every model is a sandbox toy (``sandbox/...``); nothing leaves the machine: the tour refuses to
start if a provider URL it would use is not loopback. It ends with the figures it measured.
It exits 0 when every step answered as the contract says; otherwise it names the step, the
request, the status and the error body, and exits 1. Run alone:
``python -m localcloud.demo [--run-timeout 240] [--skip-fine-tune] [--skip-restart]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import textwrap
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from localcloud.cloud import LocalCloud
from localcloud.sandbox.custom import SANDBOX_CUSTOM_SECRET

ROW_COUNT = 160
PROMPT = "You are a careful calculator. Reply with the number only, nothing else.\n\nQuestion: {input}"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
FINAL_RUN_STATES = {"completed", "failed", "cancelled"}
# A shipped sample of the local hub, named by the URL a user would copy from huggingface.co.
HUB_SAMPLE_URL = "https://huggingface.co/datasets/drgero-samples/arithmetic/resolve/main/train.jsonl"
HUB_SAMPLE_FILE = "datasets/drgero-samples/arithmetic/train.jsonl"
TOY_JUDGE = "sandbox/judge-toy"
GET_TOYS = ("sandbox/arithmetic-exact", "sandbox/coin-flip-half", "sandbox/off-by-one")
REVIEW_BATCH = 20


class StepFailed(Exception):
    """A step got an answer the contract does not allow (or none at all)."""


# ---------------------------------------------------------------------------- output
class HumanStdout:
    """The tour's stdout: drops the CloudWatch EMF metric records (one JSON line each) that
    Powertools prints from the functions running in this process. In AWS they go to
    CloudWatch; here they would bury the tour. ``POWERTOOLS_METRICS_DISABLED`` stops most of
    them, but not the cold-start metric (Powertools' ``single_metric`` ignores it)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.pending = ""
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            self.pending += text
            *lines, self.pending = self.pending.split("\n")
            for line in lines:
                if not line.startswith('{"_aws":'):
                    self.inner.write(line + "\n")
            self.inner.flush()
        return len(text)

    def flush(self) -> None:
        with self.lock:
            self.inner.flush()

    def close_out(self) -> None:
        with self.lock:
            if self.pending:
                self.inner.write(self.pending)
                self.pending = ""
            self.inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def say(text: str = "") -> None:
    print(text.rstrip(), flush=True)


def say_wrapped(prefix: str, text: str, width: int = 100) -> None:
    """``prefix`` + ``text`` wrapped at ``width``, continuation lines aligned under the text."""
    say(textwrap.fill(text, width=width, initial_indent=prefix, subsequent_indent=" " * len(prefix)))


def table(headers: list[str], rows: list[list[Any]], right: set[int] | None = None) -> None:
    """An aligned plain-text table; columns in ``right`` are right-aligned (numbers)."""
    right = right or set()
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    say("    " + line(cells[0]))
    say("    " + "  ".join("-" * w for w in widths))
    for row in cells[1:]:
        say("    " + line(row))


def money(value: Any) -> str:
    return "-" if value is None else f"${float(value):.6f}"


def cost(row: dict[str, Any]) -> str:
    """A ranking row's candidate cost; when some rows had no known cost (``cost_usd`` null),
    the known part as a lower bound."""
    unknown = row.get("cost_unknown_rows") or 0
    if unknown and unknown >= (row.get("rows_total") or row.get("n") or 0):
        return "unknown"
    if row.get("cost_usd") is None and unknown:
        return "≥ " + money(row.get("cost_known_usd"))
    return money(row.get("cost_usd"))


def ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.0f} ms"


def pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def describe(response: httpx.Response) -> str:
    """``METHOD path -> HTTP status`` and the body (pretty, cut), for failure reports."""
    try:
        body = json.dumps(response.json(), indent=2)
    except ValueError:
        body = response.text
    if len(body) > 3000:
        body = body[:3000] + "\n… (cut)"
    request = response.request
    return f"{request.method} {request.url.path} -> HTTP {response.status_code}\n{body}"


def expect(response: httpx.Response, *statuses: int) -> Any:
    if response.status_code not in statuses:
        wanted = " or ".join(str(s) for s in statuses)
        raise StepFailed(f"expected HTTP {wanted}, got:\n{describe(response)}")
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise StepFailed(f"the answer is not JSON:\n{describe(response)}") from exc


def wait_for(check: Callable[[], Any], what: str, timeout: float, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise StepFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------- the dataset
def arithmetic_rows() -> list[tuple[str, str, str]]:
    """``ROW_COUNT`` distinct questions ``(id, question, answer)``; the sandbox's toys answer
    ``a op b`` questions, so the ranking has a clear shape (see the tour's step 5)."""
    rows = []
    for i in range(ROW_COUNT):
        a, b = 10 + i, 3 + (i * 7) % 31
        op = "+-x*"[i % 4]
        answer = a + b if op == "+" else a - b if op == "-" else a * b
        rows.append((f"q-{i:03d}", f"{a} {op} {b}", str(answer)))
    return rows


def push_requests() -> list[tuple[str, str, Any]]:
    """The pushes of step 3: ``(label, credential header, body)``, 160 rows in all, in every
    body shape and with every field alias the contract accepts."""
    rows = arithmetic_rows()
    single = rows[0]
    array, in_rows, in_events, in_samples = rows[1:40], rows[40:80], rows[80:120], rows[120:159]
    chat = rows[159]
    return [
        (
            "one row object (input/output)",
            "Authorization",
            {"id": single[0], "input": single[1], "output": single[2]},
        ),
        (
            "an array (prompt/completion, ids from content)",
            "X-API-Key",
            [{"prompt": q, "completion": a} for _, q, a in array],
        ),
        (
            '{"rows": [...]} (question/answer)',
            "X-Dr.Gero-API-Key",
            {"rows": [{"example_id": i, "question": f"What is {q}?", "answer": a} for i, q, a in in_rows]},
        ),
        (
            '{"events": [...]} (query/expected, app metadata)',
            "Authorization",
            {
                "events": [
                    {
                        "trace_id": i,
                        "query": q,
                        "expected": a,
                        "user_id": f"user-{n % 7}",
                        "tags": ["checkout"],
                        "latency_ms": 180 + n,
                    }
                    for n, (i, q, a) in enumerate(in_events)
                ]
            },
        ),
        (
            '{"samples": [...]} (input/response) + one chat `messages` row',
            "X-API-Key",
            {
                "samples": [{"id": i, "input": q, "response": a} for i, q, a in in_samples]
                + [
                    {
                        "id": chat[0],
                        "messages": [
                            {"role": "system", "content": "You are a calculator."},
                            {"role": "user", "content": f"What is {chat[1]}?"},
                        ],
                        "expected": chat[2],
                    }
                ]
            },
        ),
    ]


def credential(header: str, token: str) -> dict[str, str]:
    return {header: f"Bearer {token}" if header == "Authorization" else token}


# ---------------------------------------------------------------------------- the tour
class Tour:
    def __init__(
        self,
        cloud: LocalCloud,
        http: httpx.Client,
        run_timeout: float,
        with_fine_tune: bool,
        restart: Callable[[LocalCloud], LocalCloud] | None = None,
    ) -> None:
        info = cloud.info()
        self.cloud = cloud
        self.http = http
        self.api = info["api_url"]
        self.sandbox = info.get("sandbox_url")
        self.hub = info.get("hub_url")
        self.token = info.get("token")
        self.run_timeout = run_timeout
        self.with_fine_tune = with_fine_tune
        self.restart_cloud = restart
        self.get_lb = ""
        self.runs: list[str] = []
        # What the tour measured, printed at the end: (what, figure).
        self.figures: list[tuple[str, str]] = []
        self.step_no = 0
        self.lb = ""
        self.hpd = ""
        self.pushed = 0
        self.models: dict[str, dict[str, Any]] = {}
        self.trace_ids: list[str] = []
        self.current = ""

    # -- plumbing
    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.step_no += 1
        self.current = f"step {self.step_no} ({title})"
        say(f"\n{self.step_no}. {title}")
        say("   " + "=" * (len(title) + 1))
        yield

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        sent = headers if headers is not None else {"Authorization": f"Bearer {self.token}"}
        try:
            return self.http.request(method, f"{self.api}{path}", json=body, headers=sent)
        except httpx.HTTPError as exc:
            raise StepFailed(f"{method} {path}: no answer ({type(exc).__name__}: {exc})") from exc

    def named(self, text: str) -> str:
        """``text`` with model ids replaced by their names."""
        for model_id, model in self.models.items():
            text = text.replace(model_id, model["name"])
        return text

    def plain_verdict(self, ranking: dict[str, Any], rows: list[dict[str, Any]]) -> str:
        """Winner vs runner-up in one sentence (the ranking's own verdict follows it)."""
        winner = self.model_name(ranking.get("winner_model_id") or rows[0].get("model_id"))
        if len(rows) < 2:
            return f"{winner} is the only model scored."
        runner_up = self.model_name(rows[1].get("model_id"))
        if ranking.get("winner_significant"):
            return f"{winner} wins, and its lead over {runner_up} is statistically significant."
        first, second = rows[0], rows[1]
        if first.get("tie_group") is not None and first.get("tie_group") == second.get("tie_group"):
            reason = {
                "cost": "it is cheaper per row",
                "latency": "it costs the same and answers faster",
                "score": "cost and latency are equal and its score is a bit higher",
            }.get(str(first.get("tie_broken_by")), "of the final tie-break (model id)")
            return (
                f"{winner} and {runner_up} are equally good on this dataset (a near-tie); "
                f"{winner} ranks first because {reason}."
            )
        return f"{winner} ranks first, but its lead over {runner_up} is not statistically significant (yet)."

    def model_name(self, model_id: str | None) -> str:
        if not model_id:
            return "-"
        model = self.models.get(model_id)
        return model["name"] if model else model_id

    # -- the steps
    def run(self) -> None:
        self.preflight()
        self.create_leaderboard()
        self.create_dataset_token()
        self.push_rows()
        self.consolidate()
        self.attach_models()
        ranking = self.run_and_rank()
        self.inference(ranking)
        self.traces()
        self.get_leaderboard_judged()
        self.schedule_fires()
        self.human_review()
        self.fine_tune()
        self.restart()

    def measured(self, what: str, figure: str) -> None:
        self.figures.append((what, figure))

    def preflight(self) -> None:
        say(f"   API (API Gateway emulation)  {self.api}")
        say(f"   embedded AWS (moto)          {self.cloud.aws_endpoint_url}")
        say(f"   sandbox provider (toys)      {self.sandbox}")
        say(f"   Hugging Face hub (local)     {self.hub}")
        if not self.token:
            raise StepFailed("the local cloud's seed gave no owner token (localcloud.seed); nothing can be called")
        if not self.sandbox:
            raise StepFailed("the local cloud has no sandbox provider (localcloud.sandbox)")
        # Offline by construction: every provider URL a function would call must be loopback.
        env = self.cloud.functions.environment("ApiFunction") if self.cloud.functions else {}
        urls = {
            name: value
            for name, value in env.items()
            if name.startswith(("DRGERO_PROVIDERS__", "DRGERO_FINE_TUNE__")) and value.startswith("http")
        }
        for name, value in sorted(urls.items()):
            host = urlsplit(value).hostname or ""
            if host not in LOOPBACK:
                raise StepFailed(f"{name}={value} is not loopback: the demo must not reach the internet")
        say(f"   offline check: {len(urls)} provider URLs, all on loopback ({', '.join(sorted(urls))})")
        health = expect(self.call("GET", "/v1/health", headers={}), 200)
        say(f"   GET /v1/health -> {health.get('status')} (version {health.get('version')})")

    def create_leaderboard(self) -> None:
        with self.step("Create a PUSH leaderboard"):
            body = {
                "name": "Checkout calculator (demo)",
                "prompt": PROMPT,
                "dataset": {"mode": "PUSH", "max_samples": 1000},
                "evaluation": {"type": "exact"},
            }
            board = expect(self.call("POST", "/api/leaderboards", body), 201)
            self.lb = board["id"]
            say(f"   POST /api/leaderboards -> 201  id {self.lb}")
            for n, line in enumerate(PROMPT.splitlines()):
                say(("   prompt:     " if n == 0 else "               ") + line)
            say(f"   dataset:    {board['dataset'].get('mode')} (the app pushes rows to a webhook)")
            say(f"   evaluation: {board['evaluation'].get('type')} match")
            if board.get("traces_url"):
                say(f"   traces:     {board['traces_url']}")

    def create_dataset_token(self) -> None:
        with self.step("Create an hpd_ dataset push token"):
            created = expect(
                self.call("POST", f"/v1/leaderboard/{self.lb}/dataset/tokens", {"name": "checkout app"}), 201
            )
            self.hpd = created["token"]
            if not self.hpd.startswith("hpd_"):
                raise StepFailed(f"the dataset token does not start with hpd_: {created.get('prefix')}…")
            say(f"   POST /v1/leaderboard/{self.lb}/dataset/tokens -> 201")
            say(f"   token {self.hpd[:8]}…{self.hpd[-4:]} (shown once; it can push to this leaderboard only)")

    def push_rows(self) -> None:
        with self.step(f"Push {ROW_COUNT} rows in mixed formats with the hpd_ token"):
            total = 0
            report = []
            path = f"/v1/leaderboard/{self.lb}/dataset/push"
            for label, header, body in push_requests():
                answer = expect(self.call("POST", path, body, credential(header, self.hpd)), 202)
                total += answer["accepted"]
                report.append([label, header, answer["accepted"], answer["pending"]])
            table(["body", "credential header", "accepted", "pending"], report, right={2, 3})
            # A client retry with the same Idempotency-Key counts nothing twice.
            retry = {"rows": [{"input": "1000 + 1", "output": "1001", "id": "q-retry"}]}
            headers = {**credential("Authorization", self.hpd), "Idempotency-Key": "demo-retry-1"}
            first = expect(self.call("POST", path, retry, headers), 202)
            again = expect(self.call("POST", path, retry, headers), 202)
            if again.get("batch_id") != first.get("batch_id"):
                raise StepFailed(f"an Idempotency-Key retry got a new batch: {first} then {again}")
            total += first["accepted"]
            say(f"   + 1 row sent twice with Idempotency-Key: same batch {first['batch_id']}, counted once")
            refused = self.call("POST", path, {"rows": [{"output": "no input"}]}, credential("X-API-Key", self.hpd))
            expect(refused, 400)
            say(f"   a row without input is refused whole: HTTP 400 {refused.json()['error']['code']}")
            say(f"   accepted {total} rows")
            self.pushed = total
            self.measured("rows pushed (5 requests, mixed shapes)", str(total))

    def consolidate(self) -> None:
        with self.step("Consolidate and read the dataset status"):
            response = self.call("POST", f"/v1/leaderboard/{self.lb}/dataset/consolidate")
            result = expect(response, 200, 202)
            say(f"   POST …/dataset/consolidate -> {response.status_code} {short(result, 90)}")

            def consolidated() -> dict | None:
                status = expect(self.call("GET", f"/v1/leaderboard/{self.lb}/dataset/status"), 200)
                return status if (status.get("dataset") or {}).get("rows") == self.pushed else None

            status = wait_for(consolidated, f"{self.pushed} consolidated rows", timeout=60)
            dataset, limits = status["dataset"], status.get("limits") or {}
            say(f"   accepted {status['accepted']}  pending {status['pending']}  consolidated {status['consolidated']}")
            say(f"   dataset version {dataset['version']}: {dataset['rows']} rows  {dataset['uri']}")
            say(
                f"   accepted today {limits.get('accepted_today')} "
                f"(daily limit {limits.get('daily_limit') or 'none'}), this month "
                f"{limits.get('accepted_this_month')} (monthly limit {limits.get('monthly_limit') or 'none'})"
            )
            tokens = ", ".join(f"{t['prefix']}…{t['last4']}" for t in status.get("tokens") or [])
            say(f"   push tokens: {tokens or '-'}")
            batches = status.get("recent_batches") or []
            if batches:
                say("   recent batches:")
                table(
                    ["batch", "rows", "received", "state"],
                    [[b["batch_id"], b["rows"], b["received_at"], b["state"]] for b in batches[:8]],
                    right={1},
                )

    def attach_models(self) -> None:
        with self.step("Pick candidate models: auto-select from the catalog + a custom endpoint"):
            picked = expect(
                self.call(
                    "POST",
                    f"/api/leaderboards/{self.lb}/models/auto-select",
                    {"count": 3, "max_input_cost_per_m": 1.0},
                ),
                200,
            )
            rows = []
            for model in picked["models"]:
                self.models[model["id"]] = model
                auto = model.get("auto_select") or {}
                rows.append(
                    [
                        model["name"],
                        f"${auto.get('input_cost_per_m', 0):g}/${auto.get('output_cost_per_m', 0):g}",
                        short(str(auto.get("reason", "")).split(";")[0], 64),
                    ]
                )
            say("   POST …/models/auto-select {count: 3, max_input_cost_per_m: 1.0} (the sandbox's OpenRouter catalog)")
            table(["model", "in/out per M", "why"], rows)
            # The app team's own endpoint, behind a credential: the secret is stored encrypted
            # and never shown again.
            custom = {
                "platform": "custom",
                "name": "in-house calculator (sandbox custom endpoint)",
                "url": f"{self.sandbox}/custom/secure/openai",
                "auth": {"kind": "header", "header_name": "X-Api-Key", "secret": SANDBOX_CUSTOM_SECRET},
                "response_format": "openai",
                "pricing": {"input_per_m_usd": 0.5, "output_per_m_usd": 0.5},
            }
            model = expect(self.call("POST", f"/api/leaderboards/{self.lb}/models", custom), 201)
            self.models[model["id"]] = model
            secret = (model.get("secret") or {}).get("hint", "configured") if model.get("secret") else "none"
            say(f"   POST …/models platform=custom -> 201  {model['name']}  (secret: {secret})")
            if len(self.models) < 2:
                raise StepFailed(f"a run needs at least 2 models; attached {len(self.models)}")

    def run_and_rank(self) -> dict[str, Any]:
        with self.step("Run the evaluation and rank the models"):
            started = expect(self.call("POST", f"/api/leaderboards/{self.lb}/runs", {}), 202)
            run_id = started["run_id"]
            say(f"   POST …/runs -> 202  run {run_id} (estimated {started.get('estimated_seconds')} s)")
            t0 = time.monotonic()
            run = self.wait_run(run_id)
            ranking = run.get("ranking") or {}
            rows = ranking.get("rows") or []
            self.measured("exact-match run: 161 rows x 4 models", f"{time.monotonic() - t0:.1f} s")
            say(
                f"   completed in {run.get('execution_seconds')} s; candidate cost {money(run.get('cost_usd'))}; "
                f"{(run.get('dataset') or {}).get('rows', '?')} rows"
            )
            say("")
            table(
                ["#", "model", "score", "95% CI", "n", "errors", "cost", "p50", "p95"],
                [
                    [
                        row.get("rank"),
                        self.model_name(row.get("model_id")),
                        pct(row.get("score")),
                        f"{pct(row.get('ci_low'))} – {pct(row.get('ci_high'))}",
                        row.get("n"),
                        row.get("errors"),
                        cost(row),
                        ms(row.get("latency_p50_ms")),
                        ms(row.get("latency_p95_ms")),
                    ]
                    for row in rows
                ],
                right={0, 2, 4, 5, 6, 7, 8},
            )
            say("")
            say_wrapped("   In plain words: ", self.plain_verdict(ranking, rows))
            if ranking.get("verdict"):
                say_wrapped("   The verdict:    ", self.named(ranking["verdict"]))
            board = expect(self.call("GET", f"/api/leaderboards/{self.lb}/ranking"), 200)
            production = board.get("production") or {}
            say(
                f"   production model now: {self.model_name(production.get('model_id'))} "
                f"(selection: {(board.get('selection') or {}).get('strategy')})"
            )
            return board

    def wait_run(self, run_id: str, until: set[str] | None = None) -> dict[str, Any]:
        """Polls a run to a final status (or one of ``until``), one line per status change and
        per quarter of the work; a run that ends in another state, or has no ranking, fails."""
        until = until or {"completed"}
        t0 = time.monotonic()
        last: dict[str, Any] = {"progress": None, "shown": None}

        def finished() -> dict | None:
            run = expect(self.call("GET", f"/api/runs/{run_id}"), 200)
            progress = run.get("progress") or {}
            done, total = progress.get("shards_done") or 0, progress.get("shards_total")
            status = run.get("status")
            quarter = int(4 * done / total) if total else 0
            if (status, quarter) != last["shown"]:
                last["shown"] = (status, quarter)
                say(f"   {time.monotonic() - t0:5.1f} s  {status:<12} work items {done}/{total or '-'}")
            last["progress"] = f"{status}, {done}/{total or '-'} work items done"
            return run if status in FINAL_RUN_STATES | until else None

        try:
            run = wait_for(finished, f"run {run_id}", timeout=self.run_timeout, interval=0.5)
        except StepFailed as exc:
            raise StepFailed(
                f"{exc} (last seen: {last['progress']}); raise --run-timeout, or look at the evaluate "
                "queue's DLQ and the function logs"
            ) from exc
        if run["status"] not in until:
            raise StepFailed(f"run {run_id} ended {run['status']}: {short(run.get('error'), 300)}")
        if run["status"] == "completed" and not (run.get("ranking") or {}).get("rows"):
            raise StepFailed(f"run {run_id} completed without ranking rows: {short(run.get('ranking'), 300)}")
        self.runs.append(run_id)
        return run

    def ranking_table(self, rows: list[dict[str, Any]], judge: bool = False) -> None:
        headers = ["#", "model", "score", "95% CI", "n", "errors"] + (["judge errors"] if judge else [])
        table(
            headers,
            [
                [
                    row.get("rank"),
                    self.model_name(row.get("model_id")),
                    pct(row.get("score")),
                    f"{pct(row.get('ci_low'))} – {pct(row.get('ci_high'))}",
                    row.get("n"),
                    row.get("errors"),
                ]
                + ([row.get("judge_errors")] if judge else [])
                for row in rows
            ],
            right={0, 2, 4, 5, 6},
        )

    def inference(self, board: dict[str, Any]) -> None:
        with self.step("Call production inference"):
            question = "What is 417 x 23?"
            answer = expect(self.call("POST", f"/v1/leaderboard/{self.lb}/inference", {"input": question}), 200)
            self.trace_ids.append(answer["trace_id"])
            self.measured("production inference latency (plain HTTP)", ms(answer.get("latency_ms")))
            say(f"   POST /v1/leaderboard/{self.lb}/inference  {{'input': {question!r}}}")
            say(
                f"     -> {answer['output']!r}  by {answer['model']['name']} ({answer['model']['platform']}), "
                f"{ms(answer.get('latency_ms'))}, cost {money(answer.get('cost_usd'))}, trace {answer['trace_id']}"
            )
            content, extra, how = self.chat("What is 1234 - 99?")
            if extra.get("trace_id"):
                self.trace_ids.append(extra["trace_id"])
            say(f"   POST /v1/chat/completions  model='leaderboard/{self.lb}'")
            say(f"     through {how}")
            model = (extra.get("model") or {}).get("name", "?")
            say(f"     -> {content!r}  by {model}, cost {money(extra.get('cost_usd'))}")

    def chat(self, question: str) -> tuple[str | None, dict[str, Any], str]:
        """One question to the PUSH leaderboard's production model on /v1/chat/completions,
        through the OpenAI SDK when it is installed: ``(content, drgero extra, how)``."""
        messages = [{"role": "user", "content": question}]
        try:
            import openai
        except ImportError:
            openai = None
        if openai is not None:
            # trust_env off: a proxy from the environment must not see loopback traffic.
            with openai.OpenAI(
                base_url=f"{self.api}/v1",
                api_key=self.token,
                max_retries=0,
                timeout=30,
                http_client=httpx.Client(trust_env=False),
            ) as client:
                try:
                    completion = client.chat.completions.create(model=f"leaderboard/{self.lb}", messages=messages)
                except openai.APIStatusError as exc:
                    raise StepFailed(f"through the OpenAI SDK: {describe(exc.response)}") from exc
                except openai.APIError as exc:
                    raise StepFailed(f"POST /v1/chat/completions (OpenAI SDK) failed: {exc!r}") from exc
            content = completion.choices[0].message.content
            extra = (completion.model_extra or {}).get("drgero") or {}
            how = f"the OpenAI Python SDK {openai.__version__} (base_url={self.api}/v1, api_key=<drgero_ token>)"
        else:
            body = {"model": f"leaderboard/{self.lb}", "messages": messages}
            reply = expect(self.call("POST", "/v1/chat/completions", body), 200)
            content = reply["choices"][0]["message"]["content"]
            extra = reply.get("drgero") or {}
            how = "plain httpx (the openai package is not installed in this venv)"
        return content, extra, how

    def traces(self) -> None:
        with self.step("Traces of this leaderboard"):
            path = f"/api/traces?leaderboard_id={self.lb}&limit=100"

            def listed() -> list[dict] | None:
                page = expect(self.call("GET", path), 200)
                traces = page.get("traces") or []
                ids = {t["id"] for t in traces}
                return traces if all(t in ids for t in self.trace_ids) else None

            traces = wait_for(listed, "the inference traces to be listed", timeout=30)
            counts: dict[str, int] = {}
            for trace in traces:
                counts[trace.get("kind", "?")] = counts.get(trace.get("kind", "?"), 0) + 1
            say(
                f"   GET /api/traces?leaderboard_id=… -> {len(traces)} traces: "
                + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
            )
            table(
                ["created", "kind", "name", "status", "model", "duration"],
                [
                    [
                        str(t.get("created_at", ""))[11:23],
                        t.get("kind"),
                        t.get("name"),
                        t.get("status"),
                        (t.get("model") or {}).get("name", "") if isinstance(t.get("model"), dict) else "",
                        ms(t.get("duration_ms")),
                    ]
                    for t in self.sample_traces(traces)
                ],
                right={5},
            )
            one = expect(self.call("GET", f"/api/traces/{self.trace_ids[0]}"), 200)
            shown_input, shown_output = short(one.get("input"), 40), short(one.get("output"), 20)
            say(f"   GET /api/traces/{one['id']}: input {shown_input!r} -> output {shown_output!r}")

    @staticmethod
    def sample_traces(traces: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every trace that is not one of a run's per-shard traces, and the first three of those."""
        shards = [t for t in traces if t.get("kind") == "run" and str(t.get("name", "")).startswith("run shard")]
        others = [t for t in traces if t not in shards]
        return (others + shards[:3])[:10]

    def get_leaderboard_judged(self) -> None:
        with self.step("A GET leaderboard from the local Hugging Face hub, judged by the toy judge"):
            body = {
                "name": "Arithmetic sample from the hub (demo)",
                "prompt": PROMPT,
                "dataset": {"mode": "GET", "url": HUB_SAMPLE_URL},
                # The sandbox's toy judge: the local cloud's default judge
                # (evaluation.default_judge_model); named here so the request says what it uses.
                "evaluation": {"type": "judge", "judge_model": TOY_JUDGE, "judge_platform": "openrouter"},
            }
            t0 = time.monotonic()
            board = expect(self.call("POST", "/api/leaderboards", body), 201)
            self.get_lb = board["id"]
            resolved = board["dataset"].get("resolved") or {}
            say(f"   POST /api/leaderboards  dataset.url = {HUB_SAMPLE_URL}")
            say(
                f"     -> 201  id {self.get_lb}: {resolved.get('rows')} rows of "
                f"{resolved.get('repo')}/{resolved.get('path')}"
            )
            say(
                f"        pinned to commit {str(resolved.get('commit'))[:12]}…, "
                "snapshotted in S3 (runs never re-read the hub)"
            )
            say(f"        read from the local hub: {self.hub} serves {{hub_dir}}/{HUB_SAMPLE_FILE}")
            self.measured("GET dataset resolved and snapshotted from the local hub", f"{time.monotonic() - t0:.2f} s")
            for toy in GET_TOYS:
                model = expect(
                    self.call(
                        "POST", f"/api/leaderboards/{self.get_lb}/models", {"platform": "openrouter", "model": toy}
                    ),
                    201,
                )
                self.models[model["id"]] = model
            say(f"   attached {', '.join(GET_TOYS)}; judge {TOY_JUDGE} (compares with the reference answer)")
            started = expect(self.call("POST", f"/api/leaderboards/{self.get_lb}/runs", {}), 202)
            t0 = time.monotonic()
            run = self.wait_run(started["run_id"])
            rows = run["ranking"]["rows"]
            self.ranking_table(rows, judge=True)
            errors = sum(int(r.get("judge_errors") or 0) for r in rows)
            judged = sum(int(r.get("n") or 0) for r in rows)
            say(f"   judge cost {money(run.get('judge_cost_usd'))} (kept apart from the candidates' cost)")
            if (
                self.model_name(rows[0]["model_id"]) != GET_TOYS[0]
                or self.model_name(rows[-1]["model_id"]) != GET_TOYS[2]
            ):
                raise StepFailed(
                    f"the toy judge did not rank {GET_TOYS[0]} first and {GET_TOYS[2]} last: {short(rows, 300)}"
                )
            say_wrapped("   In plain words: ", f"the toy judge ranks {GET_TOYS[0]} first and {GET_TOYS[2]} last, "
                        f"with {errors} judge errors in {judged} judged answers.")  # fmt: skip
            self.measured(
                f"judge run: {resolved.get('rows')} rows x 3 models + toy judge", f"{time.monotonic() - t0:.1f} s"
            )
            self.measured("judge errors", f"{errors} of {judged + errors}")

    def schedule_fires(self) -> None:
        with self.step("A schedule fires a run"):
            patched = expect(
                self.call("PATCH", f"/api/leaderboards/{self.get_lb}", {"schedule": {"rate": "1 hour"}}), 200
            )
            say(f"   PATCH /api/leaderboards/{self.get_lb}  schedule {patched.get('schedule')}")
            say("     -> an EventBridge Scheduler schedule in the embedded AWS (the local scheduler fires it)")
            before = {r["id"] for r in expect(self.call("GET", f"/api/leaderboards/{self.get_lb}/runs"), 200)["runs"]}
            # An hour passes for the scheduler (nothing sleeps): what is due in that hour fires.
            scheduler = self.cloud.scheduler
            if scheduler is None:
                raise StepFailed("the local cloud has no scheduler")
            t0 = time.monotonic()
            fired = scheduler.tick(now=self.cloud.clock.now() + timedelta(hours=1, seconds=5))
            names = sorted({f.name for f in fired})
            say_wrapped(
                "   ", f"the scheduler's clock moved 1 hour ahead: {len(fired)} schedules fired ({', '.join(names)})"
            )
            if f"lb-{self.get_lb}" not in names:
                raise StepFailed(f"the leaderboard's schedule lb-{self.get_lb} did not fire: {names}")

            def scheduled() -> dict | None:
                runs = expect(self.call("GET", f"/api/leaderboards/{self.get_lb}/runs"), 200)["runs"]
                return next((r for r in runs if r["id"] not in before), None)

            new = wait_for(scheduled, "the scheduled run to start", timeout=60)
            run = self.wait_run(new["id"])
            winner = self.model_name(run["ranking"].get("winner_model_id"))
            say(f"   run {run['id']} source={run.get('source')!r}: {run['status']}, winner {winner}")
            if run.get("source") != "schedule":
                raise StepFailed(f"the fired run's source is {run.get('source')!r}, not 'schedule'")
            self.measured("schedule fired -> run completed", f"{time.monotonic() - t0:.1f} s")
            expect(self.call("PATCH", f"/api/leaderboards/{self.get_lb}", {"schedule": None}), 200)
            say("   PATCH … schedule null: the schedule is deleted")

    def human_review(self) -> None:
        with self.step("Human evaluation: a blind review, graded over the API, then the ranking"):
            expect(
                self.call(
                    "PATCH", f"/api/leaderboards/{self.get_lb}", {"evaluation": {"type": "human", "scale": "1-5"}}
                ),
                200,
            )
            say(f"   PATCH /api/leaderboards/{self.get_lb}  evaluation {{type: human, scale: 1-5}}")
            started = expect(self.call("POST", f"/api/leaderboards/{self.get_lb}/runs", {}), 202)
            run_id = started["run_id"]
            run = self.wait_run(run_id, until={"awaiting_review"})
            say(f"   run {run_id}: {run['status']}, {(run.get('review') or {}).get('items')} answers to grade")
            t0 = time.monotonic()
            page = expect(self.call("GET", f"/api/runs/{run_id}/reviews"), 200)
            if not page.get("blind"):
                raise StepFailed("the review is not blind")
            grades: list[dict[str, Any]] = []
            for number in range(page["pages"]):
                page = expect(self.call("GET", f"/api/runs/{run_id}/reviews?page={number}"), 200)
                for row in page["rows"]:
                    for item in row["items"]:
                        # The reviewer here is this script: 5 for the expected answer, 1 otherwise.
                        right = str(item.get("output") or "").strip() == str(row.get("expected") or "").strip()
                        grades.append({"item_id": item["item_id"], "grade": 5 if right else 1})
            first = page["rows"][0] if page["rows"] else {}
            labels = [i["label"] for i in first.get("items", [])]
            say(
                f"   GET …/reviews: {page['pages']} pages, answers labelled {', '.join(labels)} (no model names: blind)"
            )
            answer: dict[str, Any] = {}
            # 20 grades a request, as a reviewer saves a screenful: each grade is one DynamoDB
            # transaction, and on the embedded AWS a hundred of them can outlast the gateway's 29 s.
            for start in range(0, len(grades), REVIEW_BATCH):
                answer = expect(
                    self.call("POST", f"/api/runs/{run_id}/reviews", {"grades": grades[start : start + REVIEW_BATCH]}),
                    200,
                )
            say(f"   POST …/reviews: {answer.get('graded')} grades -> run {answer.get('status')}")
            if answer.get("status") != "completed":
                raise StepFailed(f"the review did not complete the run: {short(answer, 300)}")
            run = expect(self.call("GET", f"/api/runs/{run_id}"), 200)
            self.ranking_table(run["ranking"]["rows"])
            self.measured(f"human review: {len(grades)} answers graded", f"{time.monotonic() - t0:.1f} s")
            self.runs.append(run_id)

    def fine_tune(self) -> None:
        with self.step("The fine-tuning loop (a Dr.Gero model tuned on a leaderboard's dataset)"):
            if not self.with_fine_tune:
                say("   skipped (--skip-fine-tune)")
                return
            try:
                from localcloud.fine_tune_tour import fine_tune_tour
            except ImportError:
                say("   skipped: localcloud.fine_tune_tour is not there (fine-tuning is not built yet)")
                return
            probe = self.call("GET", "/api/models")
            if probe.status_code != 200:
                say(f"   skipped: Dr.Gero models are not served (GET /api/models -> HTTP {probe.status_code})")
                return

            def show(title: str, response: httpx.Response) -> None:
                say(f"   {response.request.method} {response.request.url.path} -> {response.status_code}  ({title})")

            t0 = time.monotonic()
            try:
                result = fine_tune_tour(self.cloud, self.http, show=show)
            except RuntimeError as exc:
                raise StepFailed(str(exc)) from exc
            self.measured("fine-tune loop: push, tune, attach, run", f"{time.monotonic() - t0:.1f} s")
            lb, run = result["leaderboard_id"], result["run"]
            self.runs.append(run["id"])
            attached = expect(self.call("GET", f"/api/leaderboards/{lb}/models"), 200).get("models") or []
            names = {m["id"]: m["name"] for m in attached}
            job = result["job"]
            say(f"   fine-tune job {job['id']}: {job['status']}")
            table(
                ["#", "model", "score", "n"],
                [
                    [
                        row.get("rank"),
                        names.get(row.get("model_id"), row.get("model_id")),
                        pct(row.get("score")),
                        row.get("n"),
                    ]
                    for row in (run.get("ranking") or {}).get("rows") or []
                ],
                right={0, 2, 3},
            )
            say("   the tuned toy answers the rows it was trained on; its base toy is never right.")

    def restart(self) -> None:
        with self.step("Restart the local cloud: nothing is lost"):
            if self.restart_cloud is None:
                say("   skipped (--skip-restart)")
                return
            before = self.snapshot()
            say(f"   before: {self.describe_snapshot(before)}")
            t0 = time.monotonic()
            self.cloud = self.restart_cloud(self.cloud)
            info = self.cloud.info()
            elapsed = time.monotonic() - t0
            self.api, self.sandbox, self.hub = info["api_url"], info.get("sandbox_url"), info.get("hub_url")
            say(
                f"   stopped and started again on the same state dir in {elapsed:.1f} s "
                f"(restored: {info.get('restored')})"
            )
            if info.get("token") != self.token:
                raise StepFailed("the seeded owner token changed across the restart")
            after = self.snapshot()
            say(f"   after:  {self.describe_snapshot(after)}")
            if after != before:
                lost = {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)}
                raise StepFailed(f"the restart changed what the API answers: {short(lost, 600)}")
            content, extra, how = self.chat("What is 417 x 23?")
            say(
                "   the same token, the same production model: "
                f"/v1/chat/completions -> {content!r} through {how.split(' (')[0]}"
            )
            self.measured("restart of the local cloud (stop + start + restore)", f"{elapsed:.1f} s")

    def snapshot(self) -> dict[str, Any]:
        """What a restart must keep, read over the API: leaderboards, runs, the PUSH dataset,
        production and the traces."""
        boards = expect(self.call("GET", "/api/leaderboards"), 200)
        items = boards.get("leaderboards") or boards.get("items") or []
        runs = {}
        for run_id in self.runs:
            run = expect(self.call("GET", f"/api/runs/{run_id}"), 200)
            runs[run_id] = (run["status"], (run.get("ranking") or {}).get("winner_model_id"))
        status = expect(self.call("GET", f"/v1/leaderboard/{self.lb}/dataset/status"), 200)
        ranking = expect(self.call("GET", f"/api/leaderboards/{self.lb}/ranking"), 200)
        traces = expect(self.call("GET", f"/api/traces?leaderboard_id={self.lb}&limit=100"), 200).get("traces") or []
        return {
            "leaderboards": sorted(b["id"] for b in items),
            "runs": runs,
            "dataset_rows": (status.get("dataset") or {}).get("rows"),
            "production": (ranking.get("production") or {}).get("model_id"),
            "traces": sorted(t["id"] for t in traces),
        }

    def describe_snapshot(self, snap: dict[str, Any]) -> str:
        done = sum(1 for status, _ in snap["runs"].values() if status == "completed")
        return (
            f"{len(snap['leaderboards'])} leaderboards, {done}/{len(snap['runs'])} runs completed, "
            f"{snap['dataset_rows']} dataset rows, production {self.model_name(snap['production'])}, "
            f"{len(snap['traces'])} traces"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcloud.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-timeout", type=float, default=240.0, help="seconds to wait for the run (240)")
    parser.add_argument("--skip-fine-tune", action="store_true", help="leave out the fine-tuning loop (step 12)")
    parser.add_argument("--skip-restart", action="store_true", help="leave out the restart (step 13)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    started = time.monotonic()
    say("Dr.Gero product tour: a fresh local cloud on free loopback ports, offline, over HTTP")
    # Function logs and EMF metrics (Powertools prints both as JSON on stdout) would bury the
    # tour: warnings only, no metrics. The functions run in this process, so os.environ too.
    quiet = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
    os.environ.update(quiet)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    tour: Tour | None = None
    human = HumanStdout(sys.stdout)
    sys.stdout = human
    # The cloud keeps its state in a temporary dir, so step 13 can restart it on that state.
    state = tempfile.TemporaryDirectory(prefix="drgero-demo-")

    def new_cloud(api_port: int = 0, sandbox_port: int = 0, hub_port: int = 0) -> LocalCloud:
        # Free ports; the Hugging Face endpoint is the cloud's own local hub (on loopback).
        return LocalCloud(
            api_port=api_port,
            aws_port=0,
            sandbox_port=sandbox_port,
            hub_port=hub_port,
            env_overrides=quiet,
            state_dir=state.name,
        )

    def restart(cloud: LocalCloud) -> LocalCloud:
        # The same ports again, as `make local` has (fixed ones): stored URLs (the custom
        # endpoint on the sandbox, traces_url) stay right.
        ports = {
            name: urlsplit(url).port or 0
            for name, url in (
                ("api_port", cloud.api_url),
                ("sandbox_port", cloud.sandbox_url),
                ("hub_port", cloud.hub_url),
            )
            if url
        }
        t0 = time.monotonic()
        cloud.stop()
        say(f"   stopped (state saved) in {time.monotonic() - t0:.1f} s")
        return new_cloud(**ports).start()

    cloud: LocalCloud | None = None
    try:
        with httpx.Client(timeout=60, trust_env=False) as http:
            cloud = new_cloud().start()
            say(f"   started in {time.monotonic() - started:.1f} s")
            tour = Tour(cloud, http, args.run_timeout, not args.skip_fine_tune, None if args.skip_restart else restart)
            tour.measured("local cloud start (fresh)", f"{time.monotonic() - started:.1f} s")
            tour.run()
    except StepFailed as exc:
        where = tour.current if tour and tour.current else "the startup checks"
        say(f"\nDEMO FAILED at {where}:\n{exc}")
        print(f"demo failed at {where}", file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - anything else (e.g. a field the contract promises is missing): name the step
        where = tour.current if tour and tour.current else "starting the local cloud"
        say(f"\nDEMO FAILED at {where}: an unexpected error (traceback on stderr)")
        traceback.print_exc()
        return 1
    finally:
        if tour is not None:
            cloud = tour.cloud
        if cloud is not None:
            cloud.stop()
        state.cleanup()
        human.close_out()
        sys.stdout = human.inner
    say("\nFigures measured")
    say("   " + "=" * 16)
    table(["what", "figure"], [[what, figure] for what, figure in tour.figures if tour], right={1})
    say(f"\nDone in {time.monotonic() - started:.0f} s: every step answered as the contract says.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
