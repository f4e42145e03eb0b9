"""Runs always end: the sweeper's ``run_sweep`` job (drgero.runs.sweep) through the real
sweeper handler and its scheduler event, on the embedded AWS. A message is forced into each
run DLQ the way SQS does it (received ``maxReceiveCount`` times by a consumer that never
deletes it); a stall is made by moving the injectable clock, never by sleeping."""

from __future__ import annotations

from datetime import timedelta

import pytest

from drgero.core import clock
from drgero.runs import failure, records
from drgero.runs.failure import Stuck, end_stuck_run
from tests.support.events import sample_event
from tests.support.runs import Driver, make_setup

EXACT = "sandbox/arithmetic-exact"
COIN = "sandbox/coin-flip-half"
OFF = "sandbox/off-by-one"
STALL = 3600  # runs.stall_seconds' default


def sweep(aws) -> dict:
    result = aws.functions.invoke("SweeperFunction", sample_event("sweeper-run-sweep.json"))
    assert result["job"] == "run_sweep" and result["done"] is True, result
    return result


def dlq_url(aws, queue: str) -> str:
    """The DLQ the template wires to the sweeper (its environment), so the wiring is tested."""
    return aws.functions.environment("SweeperFunction")[f"DRGERO_AWS__{queue.upper()}_DLQ_URL"]


def dead_letter(aws, driver: Driver, queue: str) -> int:
    """Receives every message of a run queue without deleting it until SQS moves it to its DLQ
    (after 5 receives); returns how many messages the DLQ then holds."""
    for _ in range(10):
        if not driver.receive(queue):
            break
    else:
        raise AssertionError(f"{queue} never emptied into its DLQ")
    return len(waiting(aws, dlq_url(aws, queue)))


def waiting(aws, url: str) -> list[dict]:
    return aws.clients.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0
    ).get("Messages", [])


def depth(aws, url: str) -> int:
    """Messages in a queue, visible or not (the sweep hides what it receives)."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = aws.clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[n]) for n in names)


def assert_failed(setup, run_id: str, code: str, step: str) -> dict:
    run = setup.run(run_id)
    assert run["status"] == "failed" and run["partial"] is True, run
    assert run["error"]["code"] == code and run["error"]["step"] == step, run["error"]
    assert step in run["error"]["message"] and run["finished_at"]
    return run


def assert_leaderboard_free(setup) -> None:
    """The active-run marker is released (a new run starts) and production did not move."""
    status, ranking = setup.api("GET", f"/api/leaderboards/{setup.leaderboard_id}/ranking")
    assert status == 200 and ranking["active_run_id"] is None
    assert ranking["production"] is None or ranking["production"].get("model_id") is None, ranking["production"]
    assert setup.start()


def later(monkeypatch, seconds: float) -> None:
    """Moves the domain's clock ``seconds`` ahead (the sweeper and the workers share it)."""
    real = clock.now
    monkeypatch.setattr(clock, "now", lambda: real() + timedelta(seconds=seconds))


def test_a_fan_out_message_in_the_runs_dlq_fails_its_run_naming_the_fan_out(aws, sandbox):
    setup = make_setup(aws, sandbox)
    run_id = setup.start()
    driver = Driver(aws)
    assert dead_letter(aws, driver, "runs") == 1
    assert setup.run(run_id)["status"] == "queued"  # today: stays queued, the leaderboard blocked

    result = sweep(aws)
    assert result["dead_letters_failed"] == 1, result
    run = assert_failed(setup, run_id, "dead_lettered", "fan-out")
    assert run["ranking"] is None  # nothing ran
    assert depth(aws, dlq_url(aws, "runs")) == 0  # handled, so deleted
    assert_leaderboard_free(setup)
    # A redriven copy finds the run over and does nothing.
    driver.drain()
    assert setup.run(run_id)["status"] == "failed"


def test_an_evaluate_message_in_the_evaluate_dlq_fails_its_run_keeping_what_was_scored(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, OFF))
    run_id = setup.start()
    driver = Driver(aws)
    driver.step("runs")
    work = driver.receive("evaluate")
    assert len(work) == 2 * 3  # 2 models x 12 rows / 5 per shard
    lost, *delivered = work
    driver.deliver("evaluate", delivered)
    assert driver.failures == 0
    assert dead_letter(aws, driver, "evaluate") == 1
    assert setup.run(run_id)["status"] == "running"  # today: running until someone cancels it

    assert sweep(aws)["dead_letters_failed"] == 1
    run = assert_failed(setup, run_id, "dead_lettered", "evaluate")
    assert "rows" in run["error"]["message"]
    # The 5 scored shards are ranked; the lost shard's rows are not_run.
    not_run = sorted(r["not_run"] for r in run["ranking"]["rows"])
    assert not_run in ([0, 5], [0, 2])  # the lost shard's rows (shards of 5, 5 and 2 rows)
    assert all(r["n"] > 0 for r in run["ranking"]["rows"]) and run["cost_usd"] > 0
    assert run["progress"]["shards_done"] == 5 and run["progress"]["shards_total"] == 6
    assert any(t["name"] == "run failed" for t in driver.traces() if t.get("run_id") == run_id)
    assert depth(aws, dlq_url(aws, "evaluate")) == 0
    assert_leaderboard_free(setup)


def test_a_judge_message_in_the_judge_dlq_fails_its_run_and_the_other_judges_stop(aws, sandbox):
    setup = make_setup(aws, sandbox, toys=(EXACT, OFF))
    status, answer = setup.api(
        "PATCH",
        f"/api/leaderboards/{setup.leaderboard_id}",
        {"evaluation": {"type": "judge", "judge_model": "sandbox/arithmetic-exact", "scale": "0-10"}},
    )
    assert status == 200, answer
    run_id = setup.start()
    driver = Driver(aws)
    driver.step("runs")
    while driver.step("evaluate"):
        pass
    judges = driver.receive("judge")
    assert len(judges) == 6
    # One judge message is dead-lettered; the others wait in the judge queue.
    sqs, judge_queue = aws.clients.sqs, driver.urls["judge"]
    sqs.change_message_visibility_batch(
        QueueUrl=judge_queue,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 600}
            for i, m in enumerate(judges[1:])
        ],
    )
    assert dead_letter(aws, driver, "judge") == 1
    assert setup.run(run_id)["status"] == "running"

    assert sweep(aws)["dead_letters_failed"] == 1
    assert_failed(setup, run_id, "dead_lettered", "judge")
    # The judge messages still queued find the run failed: no judge call, the run stays failed.
    before = setup.run(run_id)["progress"]["shards_finished"]
    sqs.change_message_visibility_batch(
        QueueUrl=judge_queue,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(judges[1:])
        ],
    )
    driver.drain()
    run = setup.run(run_id)
    assert run["status"] == "failed" and run["progress"]["shards_finished"] == before + 5
    assert run["progress"]["shards_cancelled"] == 5
    assert_leaderboard_free(setup)


def test_a_run_without_progress_for_stall_seconds_is_failed_naming_its_step(aws, sandbox, monkeypatch):
    setup = make_setup(aws, sandbox, toys=(EXACT, OFF))
    run_id = setup.start()
    driver = Driver(aws)
    driver.step("runs")
    work = driver.receive("evaluate")
    driver.deliver("evaluate", work[:4])
    # The two other work items are in flight on a worker that never finishes (hidden).
    aws.clients.sqs.change_message_visibility_batch(
        QueueUrl=driver.urls["evaluate"],
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 600}
            for i, m in enumerate(work[4:])
        ],
    )
    assert sweep(aws)["runs_moving"] == 1
    later(monkeypatch, STALL - 60)
    assert sweep(aws)["runs_moving"] == 1
    assert setup.run(run_id)["status"] == "running"

    later(monkeypatch, 120)  # now STALL + 60 after the last shard
    assert sweep(aws)["runs_failed"] == 1
    run = assert_failed(setup, run_id, "stalled", "evaluate")
    assert run["progress"]["shards_done"] == 4 and run["ranking"]["rows"]
    assert_leaderboard_free(setup)
    # The next sweep sees it ended and drops it from the index; the new run is watched.
    result = sweep(aws)
    assert result["runs_seen_ended"] == 1 and result["runs_moving"] == 1, result


def test_a_stuck_aggregation_is_failed_once_its_lease_is_over(aws, sandbox, monkeypatch):
    setup = make_setup(aws, sandbox, toys=(EXACT, OFF))
    run_id = setup.start()
    Driver(aws).drain()
    # An aggregation that was taken and never finished (its worker died, no redelivery left).
    lease_until = int(clock.now().timestamp()) + 2 * STALL
    records.transition(setup.table, run_id, ("completed",), "aggregating", {"aggregation_lease_until": lease_until})
    later(monkeypatch, STALL + 60)
    assert sweep(aws)["runs_busy"] == 1
    assert setup.run(run_id)["status"] == "aggregating"  # stalled, but the lease still holds
    later(monkeypatch, STALL)
    assert sweep(aws)["runs_failed"] == 1
    assert_failed(setup, run_id, "stalled", "aggregation")


def test_a_finished_run_is_never_failed_and_its_dead_letter_is_deleted(aws, sandbox, monkeypatch):
    setup = make_setup(aws, sandbox, toys=(EXACT, OFF))
    run_id = setup.start()
    driver = Driver(aws)
    driver.step("runs")
    work = driver.receive("evaluate")
    driver.deliver("evaluate", work)
    # A duplicate of a work item that failed after its shard was counted reaches the DLQ.
    aws.clients.sqs.send_message(QueueUrl=dlq_url(aws, "evaluate"), MessageBody=work[0]["Body"])
    later(monkeypatch, 10 * STALL)
    result = sweep(aws)
    assert result["dead_letters_obsolete"] == 1 and result["runs_seen_ended"] == 1, result
    run = setup.run(run_id)
    assert run["status"] == "completed" and run["partial"] is False and run["error"] is None
    assert depth(aws, dlq_url(aws, "evaluate")) == 0


def test_a_message_naming_no_run_is_left_in_its_dlq(aws, sandbox):
    url = dlq_url(aws, "runs")
    aws.clients.sqs.send_message(QueueUrl=url, MessageBody="not json")
    aws.clients.sqs.send_message(
        QueueUrl=url, MessageBody='{"run_id": "run_gone", "leaderboard_id": "lb_x", "workspace_id": "ws_x"}'
    )
    assert sweep(aws)["dead_letters_unknown"] == 2
    assert depth(aws, url) == 2


def test_failing_is_conditional_on_what_the_sweep_read(aws, sandbox, monkeypatch):
    """Two sweepers, or a shard that lands meanwhile: the stale reader's transition fails."""
    setup = make_setup(aws, sandbox, toys=(EXACT, OFF))
    run_id = setup.start()
    driver = Driver(aws)
    driver.step("runs")
    work = driver.receive("evaluate")
    driver.deliver("evaluate", work[:1])
    stale = records.get_run(setup.table, run_id)
    driver.deliver("evaluate", work[1:2])  # progress after the sweep read the run
    monkeypatch.setattr(failure.records, "get_run", lambda table, rid: stale)
    stuck = Stuck(failure.STALLED, progress_seen=records.progress_of(stale))
    assert end_stuck_run(aws.settings, aws.clients, run_id, stuck) == failure.BUSY
    monkeypatch.undo()
    assert setup.run(run_id)["status"] == "running"
    # A dead letter for a run another sweeper already failed: nothing more happens.
    assert end_stuck_run(aws.settings, aws.clients, run_id, Stuck(failure.DEAD_LETTERED, step="evaluate")) == "failed"
    first = setup.run(run_id)
    assert end_stuck_run(aws.settings, aws.clients, run_id, Stuck(failure.DEAD_LETTERED, step="evaluate")) == (
        failure.NOT_STUCK
    )
    assert setup.run(run_id) == first


@pytest.mark.parametrize("status", ["queued", "running"])
def test_runs_sweep_without_dlq_urls_still_watches_stalls(aws, sandbox, monkeypatch, status):
    """A deployment whose settings name no DLQ (aws.*_dlq_url empty) still fails stalls."""
    setup = make_setup(aws, sandbox, toys=(EXACT, OFF))
    run_id = setup.start()
    if status == "running":
        Driver(aws).step("runs")
    monkeypatch.setattr(aws.settings.aws, "runs_dlq_url", "")
    from drgero.runs.sweep import sweep_runs

    later(monkeypatch, STALL + 1)
    assert sweep_runs(aws.settings, aws.clients)["runs_failed"] == 1
    assert_failed(setup, run_id, "stalled", "fan-out" if status == "queued" else "evaluate")


def test_an_unexpected_error_leaves_the_message_and_fails_the_sweep_after_the_rest(aws, sandbox, monkeypatch):
    from drgero.runs import sweep as run_sweep

    setup = make_setup(aws, sandbox, toys=(EXACT, OFF))
    run_id = setup.start()
    assert dead_letter(aws, Driver(aws), "runs") == 1

    def broken(*args, **kwargs):
        raise RuntimeError("the table is down")

    monkeypatch.setattr(run_sweep, "end_stuck_run", broken)
    with pytest.raises(run_sweep.RunSweepError, match="1 item"):
        sweep(aws)
    assert depth(aws, dlq_url(aws, "runs")) == 1  # never lost
    assert setup.run(run_id)["status"] == "queued"
