"""sweeper function: recurring housekeeping jobs fired by EventBridge Scheduler.

The event names its job (``{"job": "consolidation_sweep"}``); JOBS maps each name to the
domain function that does it, ``(settings, clients) -> dict``. Areas add their job here with
one line (additive edits only), plus a ScheduleV2 event in template.yaml. An unknown job is
an error, so a typo in the template shows up in the function's error alarm instead of
silently doing nothing.
"""

from collections.abc import Callable

from drgero.core.aws import AwsClients
from drgero.core.observability import logger
from drgero.core.settings import Settings, load_settings

settings = load_settings()
clients = AwsClients(settings)


def consolidation_sweep(settings: Settings, clients: AwsClients) -> dict:
    """Enqueues consolidation for leaderboards due by time or size (drgero.datasets.triggers)."""
    # Cold start: each job imports its own domain subtree when it runs, so a sweeper instance
    # loads only what the jobs it serves need (the import itself stays at core + settings).
    from drgero.datasets.triggers import consolidation_sweep as sweep

    return dict(sweep(settings, clients))


def reservation_sweep(settings: Settings, clients: AwsClients) -> dict:
    """Releases budget holds left open by callers that died (drgero.identity.budget.sweep)."""
    from drgero.identity.budget import sweep  # Cold start: per job, as above (loads boto3 via the table).

    return sweep(clients.table)


def fine_tune_poll(settings: Settings, clients: AwsClients) -> dict:
    """Moves active fine-tune jobs on from their backend's status (drgero.own_models.finetune.poll)."""
    from drgero.own_models.finetune.poll import poll_jobs  # Cold start: per job (the provider layer, httpx).

    return poll_jobs(settings, clients)


def run_sweep(settings: Settings, clients: AwsClients) -> dict:
    """Fails runs whose work was dead-lettered or that stopped moving (drgero.runs.sweep)."""
    from drgero.runs.sweep import sweep_runs  # Cold start: per job, as above.

    return sweep_runs(settings, clients)


def fine_tune_scheduled(settings: Settings, clients: AwsClients, event: dict) -> dict:
    """One firing of a model's fine-tune schedule (drgero.own_models.finetune.schedules)."""
    from drgero.own_models.finetune.schedules import run_scheduled  # Cold start: per job, as above.

    return run_scheduled(settings, clients, event)


JOBS: dict[str, Callable[[Settings, AwsClients], dict]] = {
    "consolidation_sweep": consolidation_sweep,
    "reservation_sweep": reservation_sweep,
    "fine_tune_poll": fine_tune_poll,
    "run_sweep": run_sweep,
}

# Jobs fired by schedules created at runtime, whose input carries more than the job name:
# (settings, clients, event) -> dict.
EVENT_JOBS: dict[str, Callable[[Settings, AwsClients, dict], dict]] = {
    "fine_tune_scheduled": fine_tune_scheduled,
}


@logger.inject_lambda_context
def handler(event, context):
    job = (event or {}).get("job")
    if job in EVENT_JOBS:
        result = EVENT_JOBS[job](settings, clients, event)
        logger.info("sweeper job done", extra={"job": job, **result})
        return {"job": job, "done": True, **result}
    run = JOBS.get(job)
    if run is None:
        raise ValueError(f"unknown sweeper job {job!r}; known: {sorted(JOBS) + sorted(EVENT_JOBS)}")
    result = run(settings, clients)
    logger.info("sweeper job done", extra={"job": job, **result})
    return {"job": job, "done": True, **result}
