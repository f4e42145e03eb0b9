"""Local state survives a restart: a LocalCloud on a state dir keeps its tables, objects (with
their version ids), KMS key material, schedules, dev issuer secret and seeded workspace, and
the next LocalCloud on the same dir restores them; ``fresh=True`` starts empty; a crash of the
embedded AWS loses only what came after the last save; a state file of another moto version is
refused; a stale ``local.json`` is recognised as not running.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from drgero.store.table import MetadataTable
from drgero.workspaces.membership import memberships_of
from localcloud import devjwt
from localcloud.clock import ManualClock
from localcloud.cloud import LocalCloud
from localcloud.identity import mint_jwt
from localcloud.moto_server import StateRestoreError

pytestmark = pytest.mark.slow

ROWS = [{"id": f"r{i}", "input": f"q{i}", "output": str(i)} for i in range(5)]
PROVIDER_KEY = "sk-or-restart-test-key"  # the sandbox provider accepts any sk-or- key


def _cloud(state_dir, **kwargs) -> LocalCloud:
    # No periodic saves unless a test asks: what is on disk is what the test saved or stopped.
    options = {"save_interval": 3600.0, **kwargs}
    return LocalCloud(
        api_port=0,
        aws_port=0,
        sandbox_port=0,
        clock=ManualClock(),
        redelivery_delay_seconds=0,
        state_dir=state_dir,
        **options,
    )


def _http(cloud: LocalCloud, token: str) -> httpx.Client:
    return httpx.Client(base_url=cloud.api_url, timeout=30, headers={"Authorization": f"Bearer {token}"})


def _create_leaderboard(http: httpx.Client, name: str) -> str:
    response = http.post(
        "/api/leaderboards",
        json={
            "name": name,
            "prompt": "Answer: {input}",
            "dataset": {"mode": "PUSH", "consolidate_every_events": 100_000},
            "evaluation": {"type": "exact"},
        },
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _dataset_ids(url: str) -> list[str]:
    body = httpx.get(url, timeout=30).content
    return [json.loads(line)["id"] for line in gzip.decompress(body).splitlines() if line]


def _schedule_names(cloud: LocalCloud) -> list[str]:
    pages = cloud.client("scheduler").get_paginator("list_schedules").paginate()
    return sorted(s["Name"] for page in pages for s in page["Schedules"])


def test_a_clean_stop_and_restart_keeps_everything(tmp_path):
    state = tmp_path / "state"
    with _cloud(state) as first:
        info = first.info()
        secret = first.function_env["DRGERO_AUTH__JWT_HS256_SECRET"]
        session = mint_jwt(secret, sub="alice", email="alice@example.com")
        with _http(first, info["token"]) as http:
            lb = _create_leaderboard(http, "kept")
            assert http.post(f"/v1/leaderboard/{lb}/dataset/push", json=ROWS).status_code == 202
            assert http.post(f"/v1/leaderboard/{lb}/dataset/consolidate").status_code in (200, 202)
            before = http.get(f"/v1/leaderboard/{lb}/dataset/status").json()["dataset"]
            stored = http.put("/api/integrations/openrouter", json={"api_key": PROVIDER_KEY})
            assert stored.status_code == 200, stored.text
        alice = httpx.post(
            f"{first.api_url}/api/workspaces", json={"name": "Alice's"}, headers={"Authorization": f"Bearer {session}"}
        )
        assert alice.status_code == 201, alice.text
        schedules = _schedule_names(first)
        keys = first.client("kms").list_keys()["Keys"]
    assert (state / "aws-state.bin").stat().st_mode & 0o777 == 0o600
    assert (state / "identity.json").stat().st_mode & 0o777 == 0o600

    with _cloud(state) as second:
        again = second.info()
        assert again["restored"] is True
        # One seeded workspace, its owner token still valid; the dev issuer's secret kept.
        assert (again["workspace_id"], again["token"]) == (info["workspace_id"], info["token"])
        assert second.function_env["DRGERO_AUTH__JWT_HS256_SECRET"] == secret
        with _http(second, again["token"]) as http:
            assert http.get(f"/api/leaderboards/{lb}").json()["name"] == "kept"
            after = http.get(f"/v1/leaderboard/{lb}/dataset/status").json()["dataset"]
            assert after["version"] == before["version"] and after["rows"] == len(ROWS)
            assert sorted(_dataset_ids(after["url"])) == sorted(r["id"] for r in ROWS)
            # The sealed provider key still decrypts under the restored KMS key material.
            valid = http.post("/api/integrations/validate", json={"provider": "openrouter"})
            assert valid.status_code == 200 and valid.json()["valid"] is True, valid.text
        # The seeded owner belongs to one workspace (none seeded twice); its new session works.
        table = MetadataTable(second.client("dynamodb"), second.created.refs["MetadataTable"])
        assert memberships_of(table, again["user_id"]) == {info["workspace_id"]: "owner"}
        owner = {"Authorization": f"Bearer {again['user_jwt']}"}
        seeded = httpx.get(f"{second.api_url}/api/workspaces/{info['workspace_id']}", headers=owner)
        assert seeded.status_code == 200, seeded.text
        # A session minted before the restart is still valid, and what it made is still there.
        alices = f"{second.api_url}/api/workspaces/{alice.json()['id']}"
        assert httpx.get(alices, headers={"Authorization": f"Bearer {session}"}).status_code == 200
        # Creating the template's resources and schedules skipped what was restored.
        assert _schedule_names(second) == schedules
        assert second.client("kms").list_keys()["Keys"] == keys


def test_fresh_starts_empty(tmp_path):
    state = tmp_path / "state"
    with _cloud(state) as first:
        info = first.info()
        with _http(first, info["token"]) as http:
            _create_leaderboard(http, "forgotten")
    with _cloud(state, fresh=True) as second:
        again = second.info()
        assert again["restored"] is False
        assert again["workspace_id"] != info["workspace_id"]
        assert httpx.get(f"{second.api_url}/api/tokens", headers={"X-API-Key": info["token"]}).status_code == 401
        with _http(second, again["token"]) as http:
            assert http.get("/api/leaderboards").json()["leaderboards"] == []


def test_a_crash_of_the_embedded_aws_loses_only_what_came_after_the_last_save(tmp_path):
    state = tmp_path / "state"
    with _cloud(state) as first:
        token = first.info()["token"]
        with _http(first, token) as http:
            saved = _create_leaderboard(http, "saved")
            first.save_state()
            lost = _create_leaderboard(http, "after the save")
        first.aws_server.kill()  # kill -9: no final save
    with _cloud(state) as second:
        assert second.info()["token"] == token
        with _http(second, token) as http:
            assert http.get(f"/api/leaderboards/{saved}").status_code == 200
            assert http.get(f"/api/leaderboards/{lost}").status_code == 404


def test_periodic_saves_happen_while_it_runs(tmp_path):
    state = tmp_path / "state"
    with _cloud(state, save_interval=0.2) as cloud:
        token = cloud.info()["token"]
        with _http(cloud, token) as http:
            lb = _create_leaderboard(http, "periodic")
        # Bounded wait on the real event: a save that holds the new leaderboard lands on disk.
        saved = state / "aws-state.bin"
        deadline = time.monotonic() + 20
        while not (saved.exists() and lb.encode() in saved.read_bytes()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert saved.exists() and lb.encode() in saved.read_bytes(), "no periodic save within 20 s"
        cloud.aws_server.kill()  # no final save: what is on disk came from a periodic one
    with _cloud(state) as again, _http(again, token) as http:
        assert http.get(f"/api/leaderboards/{lb}").status_code == 200


def test_a_state_file_of_another_moto_version_is_refused(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "aws-state.bin").write_bytes(b"DRGERO-LOCAL-STATE 1 moto=0.0.1\n\x80\x05N.")
    with pytest.raises(StateRestoreError, match="--fresh"):
        _cloud(state, api=False, pollers=False, scheduler=False, seed=False, sandbox=False).start()


def test_a_stale_local_json_says_the_cloud_is_not_running(tmp_path):
    stale = {
        "status": "running",
        "pid": 2**22 + 12345,
        "started_at": "2025-01-01T00:00:00+00:00",
        "aws_endpoint_url": "http://127.0.0.1:9",
        "function_env": {"DRGERO_AUTH__JWT_HS256_SECRET": "x" * 32},
    }
    (tmp_path / "local.json").write_text(json.dumps(stale))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert devjwt.main(["--state-dir", str(tmp_path)]) == 2
    assert "not running" in err.getvalue() and "stale" in err.getvalue()


def _drgero_local(state, *extra: str) -> tuple[dict, str]:
    """Runs ``drgero local`` until its local.json is up, then stops it with SIGTERM; returns
    what local.json said and the command's output."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    argv = [sys.executable, "-m", "drgero_ops.cli", "local", "--api-port", "0", "--aws-port", "0",
            "--sandbox-port", "0", "--state-dir", str(state), *extra]  # fmt: skip
    local_json = state / "local.json"
    before = local_json.read_text() if local_json.exists() else ""
    proc = subprocess.Popen(  # noqa: S603 - our own console script
        argv, cwd=state.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if local_json.exists() and local_json.read_text() not in ("", before):
                break
            time.sleep(0.1)
        info = json.loads(local_json.read_text())
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    return info, output


def test_drgero_local_replaces_a_stale_local_json_and_restores_its_state(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    stale = {"status": "running", "pid": 2**22 + 12345, "aws_endpoint_url": "http://127.0.0.1:9", "token": "old"}
    (state / "local.json").write_text(json.dumps(stale))
    first, output = _drgero_local(state)
    assert "replacing a stale" in output and "state saved" in output
    assert first["restored"] is False and first["start_id"]
    second, _ = _drgero_local(state)
    assert second["restored"] is True and second["start_id"] != first["start_id"]
    assert (second["workspace_id"], second["token"]) == (first["workspace_id"], first["token"])
    third, _ = _drgero_local(state, "--fresh")
    assert third["restored"] is False and third["workspace_id"] != first["workspace_id"]


def _start_local(state) -> tuple[subprocess.Popen, dict]:
    """``drgero local`` in a process group of its own, as a terminal runs it; its local.json."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    argv = [sys.executable, "-m", "drgero_ops.cli", "local", "--api-port", "0", "--aws-port", "0",
            "--sandbox-port", "0", "--state-dir", str(state)]  # fmt: skip
    local_json = state / "local.json"
    proc = subprocess.Popen(  # noqa: S603 - our own console script
        argv, cwd=state.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and not local_json.exists():
        time.sleep(0.1)
    return proc, json.loads(local_json.read_text())


def _ctrl_c(proc: subprocess.Popen) -> str:
    """What a Ctrl-C at the terminal does: SIGINT to the whole foreground process group."""
    os.killpg(proc.pid, signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    return output


def test_a_ctrl_c_right_after_a_write_keeps_the_write(tmp_path):
    # The embedded AWS runs in a session of its own: the terminal's SIGINT reaches only
    # `drgero local`, which closes the moto process's stdin, and that final save keeps what
    # was written after the last periodic save.
    state = tmp_path / "state"
    state.mkdir()
    proc, info = _start_local(state)
    try:
        headers = {"Authorization": f"Bearer {info['token']}"}
        body = {"name": "kept", "prompt": "Q: {input}", "dataset": {"mode": "PUSH"}, "evaluation": {"type": "exact"}}
        created = httpx.post(f"{info['api_url']}/api/leaderboards", headers=headers, json=body, timeout=30)
        assert created.status_code == 201, created.text
        _ctrl_c(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc, info = _start_local(state)
    try:
        listed = httpx.get(f"{info['api_url']}/api/leaderboards", headers=headers, timeout=30).json()
        assert [lb["id"] for lb in listed["leaderboards"]] == [created.json()["id"]]
        _ctrl_c(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
