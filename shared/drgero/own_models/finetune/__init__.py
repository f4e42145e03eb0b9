"""Fine-tuning Dr.Gero models from leaderboard datasets (docs/fine-tuning.md).

A job is a Dr.Gero model trained on a leaderboard's dataset by the deployment's fine-tuning
backend. Lifecycle: ``starting`` (exported, not yet on the backend) -> the backend's states ->
``succeeded`` | ``failed`` | ``cancelled``; at most one active job per model (a lock item taken
with the job); on success one transaction appends the tuned model as the model's current
version; every end emits one ``fine_tune`` trace. Modules, one job each:

- ``records``: the job item's statuses, reads (get, list, latest) and public view.
- ``bodies``: the request bodies (``FineTuneCreate``, validated with ``drgero.core.validation``).
- ``export``: the deterministic training/validation JSONL built from a dataset version.
- ``backend``: the OpenAI-style fine-tuning API client (upload, create, read, cancel).
- ``create``: creating a job (export, lock, Idempotency-Key), then starting it.
- ``start``: uploading the export and creating the backend job; resumable.
- ``endings``: ending a job exactly once (job, lock and usage in one transaction).
- ``completion``: a succeeded job's new model version.
- ``cancel``: cancelling a job.
- ``poll``: the sweeper's poller, and applying one backend read to a job.
- ``tracing``: the ``fine_tune`` trace of an ended job, and its id (derived from the job id).
- ``schedules``: recurring fine-tunes (EventBridge Scheduler).
"""
