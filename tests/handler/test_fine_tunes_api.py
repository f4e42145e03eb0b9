"""Fine-tune jobs through the real handlers (ApiFunction, SweeperFunction) on the embedded AWS,
with the sandbox's OpenAI-style fine-tuning backend: the whole lifecycle, failure with the
backend's message, cancel, a refused request, a crashed start resumed by the poller, success
seen by two pollers, and every bad input (malformed, oversized, wrong type, wrong tenant,
unauthorized, missing scope)."""

from __future__ import annotations

import pytest

from drgero.identity.budget import usage_report
from drgero.own_models.finetune import create, endings, poll, start
from drgero.own_models.finetune.backend import BackendJob, FineTuneBackend
from drgero.store import keys
from drgero.store.table import MetadataTable
from localcloud.sandbox.finetune import COST_PER_TOKEN
from tests.support.aws import queued_traces
from tests.support.fine_tunes import BASE, FT_KEY, fine_tune_env, make_fine_tune_setup, principal
from tests.support.handlers import api
from tests.support.identity import new_workspace
from tests.support.sandbox import sandbox_fine_tune
from tests.support.settings import settings_from_env


@pytest.fixture
def ft(aws, sandbox):
    return make_fine_tune_setup(aws, sandbox)


def test_lifecycle_trains_adds_a_version_records_cost_and_traces(ft, sandbox):
    status, job = ft.create(hyperparameters={"n_epochs": 2})
    assert status == 201, job
    assert job["id"].startswith("ftj_") and job["status"] == "validating_files" and job["source"] == "manual"
    assert job["backend"] == {"provider": "sandbox", "job_id": job["backend"]["job_id"], "status": "validating_files"}
    assert job["dataset"] == {"version": 1, "rows": 12}
    assert job["training"]["rows"] == 12 and job["training"]["validation_rows"] == 0
    assert job["training"]["training_uri"].endswith(f"/{job['id']}/train.jsonl")
    assert job["hyperparameters"] == {"n_epochs": 2}

    # Only one active job per model.
    status, again = ft.create()
    assert status == 409 and again["error"]["code"] == "fine_tune_in_progress"
    assert again["error"]["details"] == {"job_id": job["id"]}

    # The sandbox moves one state per read: queued, running, succeeded.
    seen = []
    for _ in range(3):
        ft.poll()
        seen.append(ft.job(job["id"])["status"])
    assert seen == ["queued", "running", "succeeded"]
    done = ft.job(job["id"])
    assert done["fine_tuned_model"] == f"sandbox/ft-{job['backend']['job_id']}"
    assert done["model_version"] == 2 and done["error"] is None
    assert done["trained_tokens"] > 0
    # The backend reported its own cost (preferred over price x tokens).
    assert done["cost_usd"] == pytest.approx(done["trained_tokens"] * COST_PER_TOKEN)
    assert done["finished_at"] and done["execution_seconds"] >= 0

    model = ft.model()
    assert model["current_version"] == 2 and model["status"] == "ready"
    tuned = model["versions"][-1]
    assert tuned["source"] == "fine_tune"
    assert tuned["endpoint"]["url"] == f"{sandbox}/v1/chat/completions"
    assert tuned["endpoint"]["model"] == done["fine_tuned_model"]
    assert tuned["endpoint"]["auth"] == {"kind": "bearer", "secret": {"configured": True, "hint": "…" + FT_KEY[-4:]}}
    assert FT_KEY not in str(model) and FT_KEY not in str(done)

    status, listing = ft.api("GET", f"/api/models/{ft.model_id}/fine-tunes")
    assert status == 200 and [j["id"] for j in listing["fine_tunes"]] == [job["id"]]

    # More polls change nothing (the job left the active index; no second version).
    ft.poll()
    assert ft.model()["current_version"] == 2 and len(ft.model()["versions"]) == 2

    found = [t for t in queued_traces(ft.aws) if t["kind"] == "fine_tune"]
    assert len(found) == 1 and found[0]["id"] == done["trace_id"] and found[0]["status"] == "ok"
    assert found[0]["metadata"]["job_id"] == job["id"] and found[0]["cost_usd"] == pytest.approx(done["cost_usd"])

    # The cost is in the workspace's month usage, once.
    usage = usage_report(MetadataTable(ft.aws.clients.dynamodb, ft.aws.settings.aws.table_name), ft.setup.workspace_id)
    assert usage["by_month"] == [
        {"month": done["finished_at"][:7], "spent_usd": pytest.approx(done["cost_usd"]), "calls": 1}
    ]

    # The lock is free again: a new job can start.
    status, second = ft.create()
    assert status == 201, second


def test_backend_failure_is_recorded_with_its_message(ft, sandbox):
    sandbox_fine_tune(sandbox, fail_next=1, fail_message="sandbox: dataset has duplicate rows")
    status, job = ft.create()
    assert status == 201, job
    done = ft.poll_until_done(job["id"])
    assert done["status"] == "failed"
    assert done["error"] == {"message": "sandbox: dataset has duplicate rows"}
    assert done["model_version"] is None and ft.model()["current_version"] == 1
    found = [t for t in queued_traces(ft.aws) if t["kind"] == "fine_tune"]
    assert len(found) == 1 and found[0]["status"] == "error" and "duplicate rows" in found[0]["error"]
    status, _ = ft.create()
    assert status == 201  # a failed job frees the model


def test_cancel_stops_the_backend_job_and_cannot_be_repeated(ft):
    status, job = ft.create()
    assert status == 201
    status, cancelled = ft.api("POST", f"/api/models/{ft.model_id}/fine-tunes/{job['id']}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled" and cancelled["backend"]["status"] == "cancelled"
    ft.poll()
    assert ft.job(job["id"])["status"] == "cancelled" and ft.model()["current_version"] == 1
    status, again = ft.api("POST", f"/api/models/{ft.model_id}/fine-tunes/{job['id']}/cancel")
    assert status == 409 and again["error"]["code"] == "fine_tune_finished"
    assert [t["metadata"]["status"] for t in queued_traces(ft.aws) if t["kind"] == "fine_tune"] == ["cancelled"]


def test_a_refused_request_fails_the_job_with_the_backend_message(ft):
    status, job = ft.create(base_model="sandbox/not-a-toy")
    assert status == 201
    assert job["status"] == "failed" and "not available for fine-tuning" in job["error"]["message"]
    assert "(HTTP 400)" in job["error"]["message"]
    status, _ = ft.create()
    assert status == 201


def test_an_unreachable_backend_leaves_the_job_starting_and_the_poller_resumes_it(aws, sandbox):
    ft = make_fine_tune_setup(aws, sandbox)
    down = settings_from_env(
        {**ft.aws.functions.environment("ApiFunction"), "DRGERO_FINE_TUNE__BASE_URL": "http://127.0.0.1:9/v1"}
    )
    table = MetadataTable(aws.clients.dynamodb, down.aws.table_name)
    item = create.create_job(
        table, down, aws.clients, ft.setup.workspace_id, ft.model_id, {"leaderboard_id": ft.lb, "base_model": BASE}
    )
    assert item["status"] == "starting" and "could not be reached" in item["last_error"]
    # Not yet: the poller waits resume_after_seconds (300 by default) before resuming.
    assert ft.poll()["resumed"] == 0
    up = settings_from_env(
        {**ft.aws.functions.environment("ApiFunction"), "DRGERO_FINE_TUNE__RESUME_AFTER_SECONDS": "0"}
    )
    counts = poll.poll_jobs(up, aws.clients)
    assert counts["resumed"] == 1
    resumed = ft.job(item["id"])
    assert resumed["status"] == "validating_files" and resumed["backend"]["job_id"]
    assert ft.poll_until_done(item["id"])["status"] == "succeeded"


def test_cancel_while_starting_is_final_and_never_resumed(aws, sandbox):
    ft = make_fine_tune_setup(aws, sandbox)
    env = ft.aws.functions.environment("ApiFunction")
    down = settings_from_env({**env, "DRGERO_FINE_TUNE__BASE_URL": "http://127.0.0.1:9/v1"})
    table = MetadataTable(aws.clients.dynamodb, down.aws.table_name)
    item = create.create_job(
        table, down, aws.clients, ft.setup.workspace_id, ft.model_id, {"leaderboard_id": ft.lb, "base_model": BASE}
    )
    assert item["status"] == "starting"
    status, cancelled = ft.api("POST", f"/api/models/{ft.model_id}/fine-tunes/{item['id']}/cancel")
    assert status == 200 and cancelled["status"] == "cancelled" and cancelled["backend"]["job_id"] is None
    up = settings_from_env({**env, "DRGERO_FINE_TUNE__RESUME_AFTER_SECONDS": "0"})
    assert poll.poll_jobs(up, aws.clients)["resumed"] == 0
    # A start that was still talking to the backend when the cancel landed cancels the job it made.
    late = start.start(table, up, aws.clients, item)
    assert late["status"] == "cancelled" and late.get("backend_job_id") is None
    assert ft.job(item["id"])["status"] == "cancelled"


def test_success_seen_by_two_pollers_adds_one_version(ft):
    status, job = ft.create()
    assert status == 201
    settings = settings_from_env(ft.aws.functions.environment("SweeperFunction"))
    table = MetadataTable(ft.aws.clients.dynamodb, settings.aws.table_name)
    stale = table.get(*keys.fine_tune_job_key(ft.setup.workspace_id, ft.model_id, job["id"]))
    backend = FineTuneBackend(settings.fine_tune)
    try:
        for _ in range(3):
            seen = backend.get_job(job["backend"]["job_id"])
    finally:
        backend.close()
    assert seen.status == "succeeded"
    first = poll.apply(table, settings, ft.aws.clients, dict(stale), seen)
    second = poll.apply(table, settings, ft.aws.clients, dict(stale), seen)  # the same stale view
    assert first["status"] == second["status"] == "succeeded"
    model = ft.model()
    assert model["current_version"] == 2 and len(model["versions"]) == 2
    assert len([t for t in queued_traces(ft.aws) if t["kind"] == "fine_tune"]) == 1


def test_cost_falls_back_to_trained_tokens_times_the_configured_price(aws):
    settings = settings_from_env(fine_tune_env("http://127.0.0.1:9"))
    job = BackendJob.parse({"id": "ftjob-1", "status": "succeeded", "trained_tokens": 250_000})
    assert endings.job_cost(settings, job) == pytest.approx(1.0)  # 0.25 M tokens x $4
    reported = BackendJob.parse(
        {"id": "ftjob-1", "status": "completed", "trained_tokens": 1, "estimated_cost_usd": 0.5}
    )
    assert reported.status == "succeeded" and endings.job_cost(settings, reported) == 0.5
    assert endings.job_cost(settings, BackendJob.parse({"id": "x", "status": "failed"})) is None


def test_an_empty_dataset_is_a_conflict(aws, sandbox):
    ft = make_fine_tune_setup(aws, sandbox, n_rows=0)
    status, answer = ft.create()
    assert status == 409 and answer["error"]["code"] == "dataset_empty"


def test_too_few_rows_with_an_expected_output_is_a_conflict(aws, sandbox):
    ft = make_fine_tune_setup(aws, sandbox, DRGERO_FINE_TUNE__MIN_TRAINING_ROWS="50")
    status, answer = ft.create()
    assert status == 409 and answer["error"]["code"] == "not_enough_rows"
    assert answer["error"]["details"]["training_rows"] == 12


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"base_model": BASE}, "leaderboard_id"),
        ({"leaderboard_id": "x", "base_model": 7}, "base_model"),
        ({"leaderboard_id": "x", "base_model": "bad model name"}, "base_model"),
        ({"leaderboard_id": "x", "base_model": BASE, "validation_fraction": "half"}, "validation_fraction"),
        ({"leaderboard_id": "x", "base_model": BASE, "validation_fraction": 0.9}, "validation_fraction"),
        ({"leaderboard_id": "x", "base_model": BASE, "hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs"),
        ({"leaderboard_id": "x", "base_model": BASE, "hyperparameters": {"lr": 1}}, "hyperparameters.lr"),
        ({"leaderboard_id": "x", "base_model": BASE, "surprise": True}, "surprise"),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(ft, body, field):
    status, answer = ft.api("POST", f"/api/models/{ft.model_id}/fine-tunes", body)
    assert status == 400 and answer["error"]["code"] == "invalid_request", answer
    assert field in [d["field"] for d in answer["error"]["details"]]


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "null"])
def test_malformed_or_non_object_bodies_are_400(ft, raw):
    status, answer = api(ft.aws, "POST", f"/api/models/{ft.model_id}/fine-tunes", ft.setup.principal, raw_body=raw)
    assert status == 400 and answer["error"]["code"] == "invalid_request"


def test_oversized_body_is_413(ft):
    body = {"leaderboard_id": ft.lb, "base_model": BASE, "padding": "x" * 5000}
    status, answer = ft.api("POST", f"/api/models/{ft.model_id}/fine-tunes", body)
    assert status == 413 and answer["error"]["code"] == "payload_too_large"


def test_other_workspaces_models_leaderboards_and_jobs_are_404(ft):
    status, job = ft.create()
    assert status == 201
    other = new_workspace(ft.aws, plan="pro")["workspace_id"]
    stranger = principal(other, "models:write", "leaderboards:read")
    for method, path, body in [
        ("POST", f"/api/models/{ft.model_id}/fine-tunes", {"leaderboard_id": ft.lb, "base_model": BASE}),
        ("GET", f"/api/models/{ft.model_id}/fine-tunes", None),
        ("GET", f"/api/models/{ft.model_id}/fine-tunes/{job['id']}", None),
        ("POST", f"/api/models/{ft.model_id}/fine-tunes/{job['id']}/cancel", None),
    ]:
        status, answer = ft.api(method, path, body, stranger)
        assert status == 404 and answer["error"]["code"] == "not_found", (method, path)
    # The owner's own model with another workspace's leaderboard: 404 too.
    status, theirs = ft.api(
        "POST",
        "/api/leaderboards",
        {"name": "x", "prompt": "{input}", "dataset": {"mode": "PUSH"}},
        stranger_all(other),
    )
    assert status == 201, theirs
    status, answer = ft.api(
        "POST", f"/api/models/{ft.model_id}/fine-tunes", {"leaderboard_id": theirs["id"], "base_model": BASE}
    )
    assert status == 404
    # An unknown job of one's own model.
    status, answer = ft.api("GET", f"/api/models/{ft.model_id}/fine-tunes/ftj_{'0' * 26}")
    assert status == 404


def stranger_all(workspace_id):
    from drgero.identity.principal import ALL_SCOPES

    return principal(workspace_id, *ALL_SCOPES)


def test_scopes_and_missing_credentials(ft):
    status, job = ft.create()
    assert status == 201
    reader = principal(ft.setup.workspace_id, "leaderboards:read")
    body = {"leaderboard_id": ft.lb, "base_model": BASE}
    status, answer = ft.api("POST", f"/api/models/{ft.model_id}/fine-tunes", body, reader)
    assert status == 403
    status, answer = ft.api("POST", f"/api/models/{ft.model_id}/fine-tunes/{job['id']}/cancel", None, reader)
    assert status == 403
    status, answer = ft.api("GET", f"/api/models/{ft.model_id}/fine-tunes/{job['id']}", None, reader)
    assert status == 200 and answer["id"] == job["id"]
    writer_only = principal(ft.setup.workspace_id, "models:write")
    status, _ = ft.api("GET", f"/api/models/{ft.model_id}/fine-tunes", None, writer_only)
    assert status == 403
    # A missing scope is 403 whatever the body (checked before the body is read).
    status, _ = api(ft.aws, "POST", f"/api/models/{ft.model_id}/fine-tunes", reader, raw_body="{bad")
    assert status == 403
    status, _ = api(ft.aws, "GET", f"/api/models/{ft.model_id}/fine-tunes", None, raw_body=None)
    assert status == 401


def test_one_broken_job_does_not_stop_the_poller(ft, sandbox):
    status, job = ft.create()
    assert status == 201
    # A second model with its own job, whose backend id the backend does not know.
    status, other = ft.api(
        "POST",
        "/api/models",
        {"name": "other", "endpoint": {"url": f"{sandbox}/v1/chat/completions", "model": BASE}, "probe": False},
    )
    assert status == 201
    status, broken = ft.api(
        "POST", f"/api/models/{other['id']}/fine-tunes", {"leaderboard_id": ft.lb, "base_model": BASE}
    )
    assert status == 201
    table = MetadataTable(ft.aws.clients.dynamodb, ft.aws.settings.aws.table_name)
    table.update(
        *keys.fine_tune_job_key(ft.setup.workspace_id, other["id"], broken["id"]),
        "SET backend_job_id = :b",
        values={":b": "ftjob-unknown"},
    )
    for _ in range(3):
        counts = ft.poll()
        assert counts["errors"] == 1
    assert ft.job(job["id"])["status"] == "succeeded"
    assert ft.api("GET", f"/api/models/{other['id']}/fine-tunes/{broken['id']}")[1]["status"] == "validating_files"


def _post_with_key(ft, body, key):
    import json as _json

    from tests.support.events import rest_event

    event = rest_event(
        "POST", f"/api/models/{ft.model_id}/fine-tunes", body, ft.setup.principal, headers={"Idempotency-Key": key}
    )
    response = ft.aws.functions.invoke("ApiFunction", event)
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    return response["statusCode"], _json.loads(response["body"]), headers


def test_an_idempotency_key_replays_the_first_job_even_after_it_ended(ft):
    refused = {"leaderboard_id": ft.lb, "base_model": "sandbox/not-a-toy"}
    status, first, headers = _post_with_key(ft, refused, "retry-1")
    assert status == 201 and first["status"] == "failed" and "idempotent-replayed" not in headers
    # The client retries (it never saw the answer): the same job, not a second paid attempt.
    status, again, headers = _post_with_key(ft, refused, "retry-1")
    assert status == 201 and again["id"] == first["id"] and headers.get("idempotent-replayed") == "true"
    status, listing = ft.api("GET", f"/api/models/{ft.model_id}/fine-tunes")
    assert [j["id"] for j in listing["fine_tunes"]] == [first["id"]]
    # The same key with another body is refused; a new key starts a new job.
    status, answer, _ = _post_with_key(ft, {"leaderboard_id": ft.lb, "base_model": BASE}, "retry-1")
    assert status == 422 and answer["error"]["code"] == "idempotency_key_reused"
    status, second, _ = _post_with_key(ft, {"leaderboard_id": ft.lb, "base_model": BASE}, "retry-2")
    assert status == 201 and second["id"] != first["id"]
    status, answer, _ = _post_with_key(ft, {"leaderboard_id": ft.lb, "base_model": BASE}, "x" * 300)
    assert status == 400 and answer["error"]["code"] == "invalid_idempotency_key"


def test_a_create_racing_another_starts_exactly_one_job(ft):
    """The interleaving that matters, made deterministic (threads on the in-process moto are
    not): request A has passed every check and is about to commit when request B commits."""
    from drgero.core.errors import ApiError

    settings = settings_from_env(ft.aws.functions.environment("ApiFunction"))
    body = {"leaderboard_id": ft.lb, "base_model": BASE}
    raced: list[str] = []

    class RacingTable(MetadataTable):
        def transact(self, operations):
            if not raced:
                raced.append("B")
                b = create.create_job(plain, settings, ft.aws.clients, ft.setup.workspace_id, ft.model_id, body)
                raced.append(b["id"])
            return super().transact(operations)

    plain = MetadataTable(ft.aws.clients.dynamodb, settings.aws.table_name)
    racing = RacingTable(ft.aws.clients.dynamodb, settings.aws.table_name)
    with pytest.raises(ApiError) as lost:
        create.create_job(racing, settings, ft.aws.clients, ft.setup.workspace_id, ft.model_id, body)
    assert lost.value.code == "fine_tune_in_progress" and lost.value.details == {"job_id": raced[1]}
    status, listing = ft.api("GET", f"/api/models/{ft.model_id}/fine-tunes")
    assert [j["id"] for j in listing["fine_tunes"]] == [raced[1]]


def test_a_cancel_racing_the_end_records_what_the_backend_says(ft):
    status, job = ft.create()
    assert status == 201
    settings = settings_from_env(ft.aws.functions.environment("ApiFunction"))
    backend = FineTuneBackend(settings.fine_tune)
    try:
        for _ in range(3):  # the backend finishes before our poller looks
            backend.get_job(job["backend"]["job_id"])
    finally:
        backend.close()
    status, answer = ft.api("POST", f"/api/models/{ft.model_id}/fine-tunes/{job['id']}/cancel")
    assert status == 200 and answer["status"] == "succeeded" and answer["model_version"] == 2
