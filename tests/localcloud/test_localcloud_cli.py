"""The ``drgero`` command: ``local`` in the foreground, ``invoke`` one function, delegation;
and LocalCloud's isolation (no state shared between instances)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import types

import httpx
import pytest

from drgero_ops import cli
from localcloud.cloud import LocalCloud
from localcloud.template import REPO_ROOT

pytestmark = pytest.mark.slow

HEALTH_EVENT = REPO_ROOT / "events" / "api-health.json"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_invoke_runs_one_function_on_an_ephemeral_cloud(capsys, tmp_path):
    code, out, err = run_cli(capsys, "invoke", "api", "--event", str(HEALTH_EVENT), "--state-dir", str(tmp_path))
    assert code == 0, err
    result = json.loads(out)  # stdout is only the result; logs went to stderr
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["status"] == "ok"
    assert "ephemeral" in err


def test_invoke_uses_the_running_local_cloud_named_by_local_json(capsys, tmp_path, local_cloud):
    (tmp_path / "local.json").write_text(json.dumps(local_cloud.info()))
    event = {"Records": []}
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))
    code, out, err = run_cli(capsys, "invoke", "ApiFunction", "-e", str(HEALTH_EVENT), "--state-dir", str(tmp_path))
    assert code == 0, err
    assert json.loads(out)["statusCode"] == 200
    assert "running local cloud" in err


def test_plan_set_local_changes_the_seeded_workspace_of_the_running_cloud(capsys, tmp_path, local_cloud):
    (tmp_path / "local.json").write_text(json.dumps(local_cloud.info()))
    info = local_cloud.info()

    def billing() -> dict:
        url = f"{local_cloud.api_url}/api/workspaces/{info['workspace_id']}/billing"
        return httpx.get(url, headers={"X-API-Key": info["token"]}, timeout=30).json()

    assert billing()["plan"] == "pro"  # [local] seed_plan
    try:
        code, out, err = run_cli(capsys, "plan", "set", "--local", "--state-dir", str(tmp_path), "--plan", "free")
        assert code == 0, err
        assert out.startswith(f"workspace {info['workspace_id']}: plan pro -> free")
        assert billing()["plan"] == "free"
    finally:
        assert run_cli(capsys, "plan", "set", "--local", "--state-dir", str(tmp_path), "--plan", "pro")[0] == 0
    code, _, err = run_cli(capsys, "plan", "show", "--local", "--state-dir", str(tmp_path / "none"))
    assert code == 1 and "not running" in err


def test_invoke_ignores_a_stale_local_json(capsys, tmp_path):
    stale = {"status": "running", "pid": 2**22 + 12345, "aws_endpoint_url": "http://127.0.0.1:9", "created": {}}
    (tmp_path / "local.json").write_text(json.dumps(stale))
    code, out, err = run_cli(capsys, "invoke", "api", "--event", str(HEALTH_EVENT), "--state-dir", str(tmp_path))
    assert code == 0, err
    assert "ephemeral" in err


def test_invoke_refuses_unknown_functions_and_unreadable_events(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run_cli(capsys, "invoke", "api", "--event", str(bad), "--state-dir", str(tmp_path))
    assert code == 2 and "cannot read event" in err
    code, _, err = run_cli(capsys, "invoke", "api", "--event", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read event" in err
    code, _, err = run_cli(capsys, "invoke", "nope", "--event", str(HEALTH_EVENT), "--state-dir", str(tmp_path))
    assert code == 2 and "unknown function 'nope'" in err


def test_identity_commands_are_delegated_or_refused_clearly(capsys, monkeypatch):
    calls: list[list[str]] = []
    fake = types.ModuleType("localcloud._fake_bootstrap")
    fake.main = lambda argv: calls.append(argv) or 0
    monkeypatch.setitem(sys.modules, "localcloud._fake_bootstrap", fake)
    monkeypatch.setattr(cli, "DELEGATED", {"bootstrap": "localcloud._fake_bootstrap", "mint-jwt": "localcloud._absent"})
    assert cli.main(["bootstrap", "--email", "a@b.c"]) == 0
    assert calls == [["--email", "a@b.c"]]
    code, _, err = run_cli(capsys, "mint-jwt", "--sub", "u1")
    assert code == 2 and "not available yet" in err


def test_drgero_local_runs_in_the_foreground_and_stops_cleanly_on_sigterm(tmp_path):
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    proc = subprocess.Popen(  # noqa: S603 - our own console script
        [
            sys.executable,
            "-m",
            "drgero_ops.cli",
            "local",
            "--api-port",
            "0",
            "--aws-port",
            "0",
            "--sandbox-port",
            "0",
            "--hub-port",
            "0",
            "--state-dir",
            str(state),
        ],  # fmt: skip
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        local_json = state / "local.json"
        deadline = time.monotonic() + 60
        while not local_json.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert local_json.exists(), proc.stdout.read() if proc.poll() is not None else "no local.json"
        info = json.loads(local_json.read_text())
        assert info["api_url"].startswith("http://127.0.0.1:")
        assert info["aws_endpoint_url"].startswith("http://127.0.0.1:")
        assert oct(local_json.stat().st_mode & 0o777) == "0o600"
        # The local Hugging Face hub serves {hub_dir} beside the saved state, samples included.
        assert info["hub_url"].startswith("http://127.0.0.1:") and info["hub_dir"] == str(state / "hub")
        sample = httpx.get(info["hub_url"] + "/api/datasets/drgero-samples/arithmetic", timeout=30)
        assert sample.status_code == 200 and sample.json()["sha"]
        assert httpx.get(info["api_url"] + "/v1/health", timeout=30).status_code == 200
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert "Dr.Gero local cloud is running" in output and "stopped." in output
    # The banner ends with the next three things to do, as the README's quick start says.
    next_steps = output.split("Next:", 1)[1]
    assert "1. open the dashboard:" in next_steps and "/api/leaderboards" in next_steps
    assert "3. the whole tour:      make demo" in next_steps
    assert not local_json.exists()


def test_local_clouds_share_no_state(template):
    def minimal() -> LocalCloud:
        return LocalCloud(api_port=0, aws_port=0, sandbox_port=0, api=False, pollers=False, scheduler=False, seed=False)

    def items(cloud: LocalCloud) -> list:
        return cloud.client("dynamodb").scan(TableName=cloud.created.refs["MetadataTable"])["Items"]

    with minimal() as first:
        first.client("dynamodb").put_item(
            TableName=first.created.refs["MetadataTable"], Item={"pk": {"S": "ws#1"}, "sk": {"S": "meta"}}
        )
        first.client("sqs").send_message(QueueUrl=first.queue_url("RunsQueue"), MessageBody="left over")
        with minimal() as alongside:  # at the same time: its own moto process
            assert items(alongside) == []
        assert len(items(first)) == 1
    with minimal() as second:  # in a row
        assert items(second) == []
        attrs = second.client("sqs").get_queue_attributes(
            QueueUrl=second.queue_url("RunsQueue"), AttributeNames=["ApproximateNumberOfMessages"]
        )
        assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_local_cloud_refuses_non_loopback_hosts():
    with pytest.raises(ValueError, match="loopback"):
        LocalCloud(host="0.0.0.0")  # noqa: S104 - the point of the test


def test_stop_leaves_nothing_running():
    before = set(threading.enumerate())
    cloud = LocalCloud(api_port=0, aws_port=0, sandbox_port=0, seed=False).start()
    urls = (cloud.api_url, cloud.aws_endpoint_url, cloud.sandbox_url)
    cloud.stop()
    cloud.stop()  # idempotent
    for url in urls:
        with pytest.raises(httpx.TransportError):
            httpx.get(url, timeout=2)
    # Every thread the cloud started (servers, SQS pollers, the scheduler) has ended; stop()
    # joins them, the deadline only absorbs a server thread's last tick.
    deadline = time.monotonic() + 10
    while (left := [t.name for t in threading.enumerate() if t not in before]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == []
