"""``drgero plan`` against the embedded AWS: the operator's way to another plan, by table name
like ``drgero bootstrap`` (the same boto3 calls a real stack gets)."""

from __future__ import annotations

import contextlib
import io
import json

from drgero.store.keys import workspace_key
from drgero.workspaces.plans import plan_of
from drgero_ops import cli
from tests.support.aws import table_of
from tests.support.identity import new_workspace


def _run(aws, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    table = aws.created.refs["MetadataTable"]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["plan", *argv, "--table", table, "--region", "us-east-1"])
    return code, out.getvalue(), err.getvalue()


def test_set_changes_the_plan_and_prints_limits(aws):
    ws = new_workspace(aws, plan="free")["workspace_id"]
    code, out, err = _run(aws, "set", "--workspace", ws, "--plan", "pro")
    assert code == 0, err
    assert out.splitlines()[0] == f"workspace {ws}: plan free -> pro"
    shown = json.loads(out.split("\n", 1)[1])
    assert shown["plan"] == "pro" and shown["limits"]["max_leaderboards"] is None
    assert plan_of(table_of(aws), aws.settings, ws) == "pro"
    assert table_of(aws).get(*workspace_key(ws))["plan_changed_at"]


def test_show_reads_without_changing(aws):
    ws = new_workspace(aws, plan="free")["workspace_id"]
    code, out, err = _run(aws, "show", "--workspace", ws)
    assert code == 0, err
    view = json.loads(out)
    assert view["plan"] == "free"
    assert view["usage"] == {"leaderboards": 0, "leaderboards_remaining": aws.settings.plans.free_max_leaderboards}
    assert plan_of(table_of(aws), aws.settings, ws) == "free"


def test_refuses_an_unknown_plan_or_workspace(aws):
    ws = new_workspace(aws, plan="free")["workspace_id"]
    code, _, err = _run(aws, "set", "--workspace", ws, "--plan", "platinum")
    assert code == 2 and "unknown plan 'platinum'" in err
    assert plan_of(table_of(aws), aws.settings, ws) == "free"
    code, _, err = _run(aws, "set", "--workspace", "ws_missing", "--plan", "pro")
    assert code == 1 and "no workspace 'ws_missing'" in err
    assert table_of(aws).get(*workspace_key("ws_missing")) is None
