"""The key catalogue: every partition/sort key of the metadata table and every S3 object key.

One section per item of docs/data-model.md, in the same order and under the same names, then
the S3 layout: a key changes here and nowhere else, and no code outside ``drgero.store``
spells a key prefix. Builders return ``(pk, sk)`` tuples for items read by key, plain strings
for partitions, sort-key prefixes (``*_PREFIX``, for ``begins_with`` queries) and index keys.

Standard library only: the authorizer and every handler import this at cold start.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

# Fixed-width UTC timestamps, so string order is time order (trace listing sort keys).
_SORTABLE_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def sortable_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_SORTABLE_TIME)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ============================================================================ table items
# ---- workspace
WORKSPACE_SK = "META"


def workspace_pk(workspace_id: str) -> str:
    return f"WS#{workspace_id}"


def workspace_key(workspace_id: str) -> tuple[str, str]:
    return workspace_pk(workspace_id), WORKSPACE_SK


# ---- member (gsi1: a user's workspaces)
MEMBER_PREFIX = "MEMBER#"


def member_key(workspace_id: str, user_id: str) -> tuple[str, str]:
    return workspace_pk(workspace_id), f"{MEMBER_PREFIX}{user_id}"


def member_index_pk(user_id: str) -> str:
    """gsi1pk of every membership of a user."""
    return f"USER#{user_id}"


def member_index_sk(workspace_id: str) -> str:
    return workspace_pk(workspace_id)


MEMBER_INDEX_SK_PREFIX = workspace_pk("")


# ---- invitation
INVITATION_PREFIX = "INVITE#"


def invitation_key(workspace_id: str, invitation_id: str) -> tuple[str, str]:
    return workspace_pk(workspace_id), f"{INVITATION_PREFIX}{invitation_id}"


# gsi1 of a PENDING invitation (a sparse index: the keys are removed when it is answered), so
# the invitee finds their own invitations: by user id (``POST .../members``) or by email
# (``POST .../invitations``). The sort key carries the workspace, so "already invited to this
# workspace" is one query.
def invitee_index_pk(user_id: str) -> str:
    return member_index_pk(user_id)


def invitee_email_index_pk(email: str) -> str:
    return f"INVITEE#{_sha256(email.strip().lower())}"


def invitee_index_sk(workspace_id: str, invitation_id: str) -> str:
    return f"{INVITATION_PREFIX}{workspace_id}#{invitation_id}"


def invitee_index_sk_prefix(workspace_id: str = "") -> str:
    return f"{INVITATION_PREFIX}{workspace_id}#" if workspace_id else INVITATION_PREFIX


# ---- invitation code
def invite_code_key(code_hash: str) -> tuple[str, str]:
    return f"INVITECODE#{code_hash}", "INVITE"


# ---- credential (API or dataset token)
def cred_key(secret_hash: str) -> tuple[str, str]:
    return f"CRED#{secret_hash}", "CRED"


# ---- API token listing entry
API_TOKEN_PREFIX = "TOKEN#"  # noqa: S105 - a sort-key prefix, not a secret


def api_token_key(workspace_id: str, token_id: str) -> tuple[str, str]:
    return workspace_pk(workspace_id), f"{API_TOKEN_PREFIX}{token_id}"


# ---- live API tokens of a workspace: one counter item, moved in the transactions that issue
# and revoke tokens, so the per-workspace token limit holds under concurrent creates.
API_TOKEN_COUNTER_SK = "TOKENCOUNT"  # noqa: S105 - a sort key, not a secret (and not under TOKEN#)


def api_token_counter_key(workspace_id: str) -> tuple[str, str]:
    return workspace_pk(workspace_id), API_TOKEN_COUNTER_SK


# ---- dataset token listing entry
DATASET_TOKEN_PREFIX = "DSTOKEN#"  # noqa: S105 - a sort-key prefix, not a secret


def dataset_token_key(leaderboard_id: str, token_id: str) -> tuple[str, str]:
    return leaderboard_pk(leaderboard_id), f"{DATASET_TOKEN_PREFIX}{token_id}"


# ---- budget accounts: an API token's listing item is its account; user sessions of a
# workspace share this one (no budget, spend only). Open holds live in the account item.
def session_spend_key(workspace_id: str) -> tuple[str, str]:
    return workspace_pk(workspace_id), "SPEND#SESSIONS"


def accounts_with_holds_pk(shard: int) -> str:
    """gsi1pk of the accounts that may hold open reservations, spread over shards (gsi1sk: the
    account's own ``pk|sk``). Sparse: the sweeper drops an account once it holds nothing."""
    return f"HOLDS#{shard}"


# ---- usage counters (spend that is not a budget account's: finished fine-tunes, by month)
USAGE_PREFIX = "USAGE#"


def usage_month_sk(month: str) -> str:
    return f"{USAGE_PREFIX}MONTH#{month}"


# ---- integration
def integration_key(workspace_id: str, provider: str) -> tuple[str, str]:
    return workspace_pk(workspace_id), f"INTEGRATION#{provider}"


# ---- provider-key concurrency lease (drgero.runs.key_lease): one item per
# (workspace, provider, key fingerprint); the sort key hashes the limiter identity.
def provider_key_lease_key(workspace_id: str, provider: str, limiter_key: str) -> tuple[str, str]:
    return workspace_pk(workspace_id), f"KEYLEASE#{_sha256(f'{provider}#{limiter_key}')}"


# ---- leaderboard (also the active-run marker and the production pointer, see below)
LEADERBOARD_PREFIX = "LB#"


def leaderboard_key(workspace_id: str, leaderboard_id: str) -> tuple[str, str]:
    return workspace_pk(workspace_id), f"{LEADERBOARD_PREFIX}{leaderboard_id}"


# ---- leaderboard-scoped records (the partition every record below shares)
def leaderboard_pk(leaderboard_id: str) -> str:
    return f"{LEADERBOARD_PREFIX}{leaderboard_id}"


# ---- production-model changes (GET /api/leaderboards/{id}/production-history), oldest first
PRODUCTION_HISTORY_PREFIX = "PRODHIST#"


def production_history_key(leaderboard_id: str, at: str, change_id: str) -> tuple[str, str]:
    return leaderboard_pk(leaderboard_id), f"{PRODUCTION_HISTORY_PREFIX}{at}#{change_id}"


# ---- PUSH dataset record (gsi1: every PUSH dataset, for the consolidation sweep)
DATASET_SK = "DATASET"
PUSH_DATASETS_INDEX_PK = "DATASETS#PUSH"


def dataset_key(leaderboard_id: str) -> tuple[str, str]:
    return leaderboard_pk(leaderboard_id), DATASET_SK


# ---- push counters
def day_counter_sk(now: datetime) -> str:
    return f"COUNTER#DAY#{now.date().isoformat()}"


def month_counter_sk(now: datetime) -> str:
    return f"COUNTER#MONTH#{now.strftime('%Y-%m')}"


# ---- push batch record (gsi1 while pending: arrival order)
BATCH_PREFIX = "BATCH#"


def batch_sk(batch_id: str) -> str:
    return f"{BATCH_PREFIX}{batch_id}"


def batch_key(leaderboard_id: str, batch_id: str) -> tuple[str, str]:
    return leaderboard_pk(leaderboard_id), batch_sk(batch_id)


def pending_index_pk(leaderboard_id: str) -> str:
    """gsi1pk of a batch record while it is pending (a sparse index: consumed batches leave it)."""
    return f"{leaderboard_pk(leaderboard_id)}#PENDING"


def pending_index_sk(received_ms: int, batch_id: str) -> str:
    """gsi1sk of a pending batch: arrival order, which is the order "newest wins" follows."""
    return f"{received_ms:013d}#{batch_id}"


# ---- deleted PUSH row (a tombstone: consolidation drops the row id from every later version)
DELETED_ROW_PREFIX = "DELROW#"


def deleted_row_key(leaderboard_id: str, row_hash: str) -> tuple[str, str]:
    """``row_hash``: hex of the 16-byte blake2b digest consolidation keys rows by."""
    return leaderboard_pk(leaderboard_id), f"{DELETED_ROW_PREFIX}{row_hash}"


# ---- dataset version
def version_sk(version: int) -> str:
    return f"DSVER#{version:010d}"


# ---- consolidation lease
LEASE_SK = "LEASE#consolidate"


def lease_key(leaderboard_id: str) -> tuple[str, str]:
    return leaderboard_pk(leaderboard_id), LEASE_SK


# ---- candidate model
CANDIDATE_PREFIX = "MODEL#"


def candidate_sk(model_id: str) -> str:
    return f"{CANDIDATE_PREFIX}{model_id}"


def candidate_key(leaderboard_id: str, model_id: str) -> tuple[str, str]:
    return leaderboard_pk(leaderboard_id), candidate_sk(model_id)


# ---- candidate identity
def candidate_identity_key(leaderboard_id: str, identity: str) -> tuple[str, str]:
    """``identity`` names what makes two candidates the same model (platform and model/url)."""
    return leaderboard_pk(leaderboard_id), "MODELKEY#" + _sha256(identity)


# ---- run (gsi1: a leaderboard's runs, newest last)
RUN_SK = "META"


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def run_key(run_id: str) -> tuple[str, str]:
    return run_pk(run_id), RUN_SK


def history_index_pk(leaderboard_id: str) -> str:
    """gsi1pk of every run of a leaderboard (gsi1sk: :func:`history_index_sk`)."""
    return f"{leaderboard_pk(leaderboard_id)}#RUNS"


def history_index_sk(started_at: str, run_id: str) -> str:
    return f"{started_at}#{run_id}"


# ---- active-run entry (gsi1: every run not yet seen ended, for the run sweep)
ACTIVE_RUN_SK = "ACTIVE"
ACTIVE_RUNS_INDEX_PK = "RUNS#ACTIVE"


def active_run_key(run_id: str) -> tuple[str, str]:
    return run_pk(run_id), ACTIVE_RUN_SK


def active_run_index_sk(started_at: str, run_id: str) -> str:
    """gsi1sk of an active-run entry: oldest run first."""
    return f"{started_at}#{run_id}"


# ---- run shard
SHARD_PREFIX = "SHARD#"


def shard_key(run_id: str, shard_id: str) -> tuple[str, str]:
    return run_pk(run_id), f"{SHARD_PREFIX}{shard_id}"


# ---- review grade
GRADE_PREFIX = "GRADE#"


def grade_row_prefix(row_index: int) -> str:
    """Sort-key prefix of every grade of one row."""
    return f"{GRADE_PREFIX}{row_index:09d}#"


def grade_key(run_id: str, row_index: int, model_id: str) -> tuple[str, str]:
    return run_pk(run_id), f"{grade_row_prefix(row_index)}{model_id}"


# ---- active-run marker, production: attributes of the leaderboard item (leaderboard_key)

# ---- Dr.Gero model
DRGERO_MODEL_PREFIX = "DGMODEL#"


def drgero_model_key(workspace_id: str, model_id: str) -> tuple[str, str]:
    return workspace_pk(workspace_id), f"{DRGERO_MODEL_PREFIX}{model_id}"


# ---- Dr.Gero model counter
DRGERO_MODEL_COUNTER_SK = "DGMODELCOUNT"


def drgero_model_counter_key(workspace_id: str) -> tuple[str, str]:
    return workspace_pk(workspace_id), DRGERO_MODEL_COUNTER_SK


# ---- fine-tune job (gsi1 while active: every active job, oldest first)
FINE_TUNE_ACTIVE_INDEX_PK = "FTJOB#ACTIVE"


def fine_tune_jobs_prefix(model_id: str) -> str:
    """Sort-key prefix of every job of one model (job ids sort by creation time)."""
    return f"FTJOB#{model_id}#"


def fine_tune_job_key(workspace_id: str, model_id: str, job_id: str) -> tuple[str, str]:
    return workspace_pk(workspace_id), f"{fine_tune_jobs_prefix(model_id)}{job_id}"


def fine_tune_active_index_sk(created_at: str, job_id: str) -> str:
    return f"{created_at}#{job_id}"


# ---- fine-tune lock
def fine_tune_lock_key(workspace_id: str, model_id: str) -> tuple[str, str]:
    return workspace_pk(workspace_id), f"FTACTIVE#{model_id}"


# ---- fine-tune idempotency key
def fine_tune_idempotency_key(workspace_id: str, model_id: str, key: str) -> tuple[str, str]:
    digest = _sha256(f"{model_id}\n{key}")
    return workspace_pk(workspace_id), f"FTIDEM#{digest}"


# ---- fine-tune schedule
def fine_tune_schedule_key(workspace_id: str, model_id: str) -> tuple[str, str]:
    return workspace_pk(workspace_id), f"FTSCHED#{model_id}"


# ---- trace anchor: which workspace owns a trace and where its object is (lookup by id,
# tenant check, and the writer's idempotency guard); written last
TRACE_ANCHOR_SK = "TRACE"


def trace_anchor_key(trace_id: str) -> tuple[str, str]:
    return f"TRACE#{trace_id}", TRACE_ANCHOR_SK


# ---- trace listing entries: one partition per filter combination, sorted by
# ``{created_at}#{id}``, so each filter is one Query, newest first, with a time range
def trace_listing_pk(workspace_id: str, leaderboard_id: str | None = None, kind: str | None = None) -> str:
    pk = f"TRACES#{workspace_id}"
    if leaderboard_id:
        pk += f"#{leaderboard_pk(leaderboard_id)}"
    if kind:
        pk += f"#KIND#{kind}"
    return pk


def trace_listing_pks(workspace_id: str, kind: str, leaderboard_id: str | None) -> list[str]:
    """Every listing partition a trace appears in (2 without a leaderboard, 4 with one)."""
    partitions = [trace_listing_pk(workspace_id), trace_listing_pk(workspace_id, kind=kind)]
    if leaderboard_id:
        partitions += [
            trace_listing_pk(workspace_id, leaderboard_id),
            trace_listing_pk(workspace_id, leaderboard_id, kind),
        ]
    return partitions


def trace_listing_sk(created_at: datetime, trace_id: str) -> str:
    return f"{sortable_time(created_at)}#{trace_id}"


# ============================================================================ S3 objects
def pending_object_key(leaderboard_id: str, batch_id: str) -> str:
    return f"pending/{leaderboard_id}/{batch_id}.jsonl"


def version_object_key(leaderboard_id: str, version: int) -> str:
    return f"datasets/{leaderboard_id}/v{version}.jsonl.gz"


def manifest_object_key(leaderboard_id: str, version: int) -> str:
    return f"datasets/{leaderboard_id}/v{version}.manifest.json"


def snapshot_object_key(leaderboard_id: str, commit: str, path: str) -> str:
    """A normalized Hugging Face file, always gzipped."""
    key = f"snapshots/{leaderboard_id}/{commit}/{path}"
    return key if key.endswith(".gz") else key + ".gz"


def run_snapshot_object(run_id: str) -> str:
    return f"runs/{run_id}/snapshot.json"


def run_rows_object(run_id: str, shard_index: int) -> str:
    """The rows of one shard range (shared by every model), copied from the pinned dataset."""
    return f"runs/{run_id}/rows/{shard_index:06d}.jsonl"


def run_outputs_object(run_id: str, model_id: str, shard_index: int) -> str:
    return f"runs/{run_id}/outputs/{model_id}/{shard_index:06d}.jsonl"


def run_judgements_object(run_id: str, model_id: str, shard_index: int) -> str:
    return f"runs/{run_id}/judgements/{model_id}/{shard_index:06d}.jsonl"


def run_ranking_object(run_id: str) -> str:
    return f"runs/{run_id}/ranking.json"


def run_export_object(run_id: str, fmt: str, version: str) -> str:
    """The per-row results export of one state (``version``) of a run, ``jsonl`` or ``csv``:
    written once by the export worker, never rewritten (a changed run is a new version)."""
    # Under exports/, not runs/: the bucket's lifecycle rule expires exports by this prefix.
    return f"exports/runs/{run_id}/{version}/results.{fmt}"


EXPORT_PREFIX = "EXPORT#"


def run_export_key(run_id: str, fmt: str, version: str) -> tuple[str, str]:
    """The export job of one (run, format, run version) (drgero.runs.export_jobs)."""
    return run_pk(run_id), f"{EXPORT_PREFIX}{fmt}#{version}"


def fine_tune_objects(workspace_id: str, job_id: str) -> tuple[str, str]:
    """The training and validation files of a fine-tune job."""
    base = f"fine-tunes/{workspace_id}/{job_id}"
    return f"{base}/train.jsonl", f"{base}/validation.jsonl"


# ``catalog/openrouter.json`` is a setting (``providers.catalog_s3_key``).
CATALOG_ENDPOINTS_PREFIX = "catalog/openrouter-endpoints/"


def catalog_endpoints_object(model_slug: str) -> str:
    """Cached latency percentiles of one OpenRouter model (``author/slug``)."""
    return f"{CATALOG_ENDPOINTS_PREFIX}{model_slug}.json"


def trace_object_key(trace_id: str, created_at: datetime) -> str:
    return f"traces/{created_at:%Y/%m/%d}/{trace_id}.json"
