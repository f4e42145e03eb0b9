"""Every error code the API answers with: the HTTP status(es) it comes with, and when.

The one list the error table of docs/api.md is generated from (``python -m drgero_ops.reference``).
Nothing raises through it: a code and its status are spelled where the error is raised
(``ApiError(status, code, ...)``, the helpers of :mod:`drgero.core.errors`, the provider error
classes, the authorizer's denials, the gateway responses of template.yaml), and
``tests/contract/test_error_codes.py`` scans those places so this list can neither miss a code or a
status nor keep one nobody raises. A new error code: raise it, then add it here.

``statuses``: ``"4xx"``/``"5xx"`` where API Gateway picks the status itself (its DEFAULT_4XX and
DEFAULT_5XX responses). Codes the authorizer denies with are answered 401 by the template's
ACCESS_DENIED response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = int | Literal["4xx", "5xx"]


@dataclass(frozen=True)
class ErrorCode:
    statuses: tuple[Status, ...]
    meaning: str


def _code(*statuses: Status, meaning: str) -> ErrorCode:
    return ErrorCode(statuses, meaning)


ERROR_CODES: dict[str, ErrorCode] = {
    # ---- credentials and access (authorizer, principal, scopes)
    "unauthorized": _code(
        401,
        meaning="No credential was sent (gateway response UNAUTHORIZED), or a function got no valid principal "
        "from the authorizer.",
    ),
    "invalid_token": _code(
        401,
        meaning="The authorizer refused the credential: malformed, unknown, bad checksum, or a session JWT "
        "with a wrong signature, issuer, audience or algorithm.",
    ),
    "token_expired": _code(401, meaning="The API token or the session JWT has expired."),
    "token_revoked": _code(
        401,
        409,
        meaning="The token has been revoked (401: by the authorizer, or found revoked at budget time; 409: a "
        "revoked token's budget cannot change).",
    ),
    "auth_unavailable": _code(401, meaning="The identity provider's signing keys (JWKS) could not be fetched."),
    "insufficient_scope": _code(
        403,
        meaning="The credential lacks the route's scope (a dataset push token only pushes, reads status and "
        "consolidates); also granting scopes one does not hold.",
    ),
    "user_session_required": _code(403, meaning="The action needs a signed-in user's session (JWT), not a token."),
    "no_workspace": _code(403, meaning="The signed-in user belongs to no workspace yet."),
    "workspace_required": _code(
        400, meaning="The user belongs to several workspaces and sent no X-Workspace-Id header."
    ),
    "budget_limited_token": _code(403, meaning="A token with a budget tried to create tokens or change a budget."),
    "json_too_deep": _code(400, meaning="The JSON body nests deeper than api.max_json_depth levels."),
    "cors_origin_not_allowed": _code(
        403, meaning="A CORS preflight from an origin that api.cors_allowed_origins does not list."
    ),
    "token_limit": _code(403, meaning="The workspace already holds auth.max_tokens_per_workspace live tokens."),
    "budget_exhausted": _code(402, meaning="The token's remaining budget cannot cover the call's reservation."),
    # ---- workspaces, members, invitations, plans
    "owner_required": _code(403, meaning="Only an owner can grant, change or remove the owner role."),
    "last_owner": _code(409, meaning="The change would leave the workspace without an owner."),
    "already_member": _code(409, meaning="The user is already a member (adding a member, accepting an invitation)."),
    "workspace_limit": _code(403, meaning="The user already belongs to auth.max_workspaces_per_user workspaces."),
    "invitation_not_found": _code(404, meaning="No such invitation to you, or it was already answered."),
    "already_invited": _code(409, meaning="The user already has a pending invitation to the workspace."),
    "invitation_answered": _code(409, meaning="The invitation was already accepted, declined or revoked."),
    "invitation_expired": _code(410, meaning="The invitation has expired."),
    "invitation_email_mismatch": _code(403, meaning="The invitation was sent to another email address."),
    "email_not_verified": _code(403, meaning="The session has no verified email address to match the invitation."),
    "plan_limit": _code(
        403, meaning="The plan's leaderboard count is reached, or the free plan does not delete leaderboards."
    ),
    # ---- request shape (every route)
    "invalid_request": _code(
        400,
        401,
        meaning="The body, a parameter or a header is not valid (details name the fields); 401 when the "
        "authorizer got different credentials in several headers.",
    ),
    "invalid_json": _code(400, meaning="The body is empty, not valid JSON, or not valid base64."),
    "payload_too_large": _code(413, meaning="The body is larger than the route's limit (details give it)."),
    "invalid_idempotency_key": _code(400, meaning="The Idempotency-Key header is not 1 to 255 printable characters."),
    "idempotency_key_reused": _code(422, meaning="The Idempotency-Key was already used with a different body."),
    "idempotency_in_progress": _code(
        409, meaning="A push with this Idempotency-Key is still being processed (Retry-After: 1)."
    ),
    "invalid_cursor": _code(400, meaning="The listing cursor is not one this API issued."),
    "not_found": _code(
        404, meaning="The resource (workspace, leaderboard, model, run, trace, ...) or route does not exist."
    ),
    "method_not_allowed": _code(405, meaning="The route exists but not with this HTTP method."),
    "http_error": _code("4xx", meaning="Any other HTTP error raised by the web framework itself."),
    "conflict": _code(
        409, meaning="The item changed while it was updated (member, token rotation, budget reservation); retry."
    ),
    "concurrent_change": _code(
        409, meaning="The leaderboard, model or run changed during the operation; read it again and retry."
    ),
    # ---- leaderboards and datasets
    "dataset_mode_change": _code(409, meaning="A leaderboard's dataset mode (GET or PUSH) cannot change."),
    "dataset_too_small": _code(409, meaning="A PUSH leaderboard has too few consolidated rows to add models yet."),
    "invalid_dataset_url": _code(400, meaning="The dataset URL is not a Hugging Face dataset file URL."),
    "not_jsonl_file": _code(
        400, meaning="The Hugging Face file is not .jsonl/.jsonl.gz, or holds no valid JSONL rows."
    ),
    "dataset_not_found": _code(400, meaning="The Hugging Face dataset does not exist, or it is private."),
    "dataset_revision_not_found": _code(400, meaning="The Hugging Face dataset has no such revision."),
    "dataset_file_not_found": _code(400, meaning="The Hugging Face dataset has no such file at that revision."),
    "dataset_gated": _code(400, meaning="The Hugging Face dataset is gated and the workspace's key has no access."),
    "dataset_forbidden": _code(400, meaning="Hugging Face refused access to the dataset."),
    "dataset_too_large": _code(400, meaning="The Hugging Face file is larger than limits.hf_max_file_bytes."),
    "dataset_empty": _code(
        400, 409, meaning="The Hugging Face file holds no rows (400), or a run's dataset has no usable rows (409)."
    ),
    "huggingface_unavailable": _code(502, meaning="Hugging Face could not be reached or answered improperly."),
    "not_push_dataset": _code(409, meaning="A push route was called on a GET-mode leaderboard."),
    "dataset_closed": _code(403, meaning="The PUSH dataset stopped accepting rows at its end date."),
    "invalid_body": _code(
        400, meaning="A push body is not a row, an array of rows, or an object with rows, events or samples."
    ),
    "empty_batch": _code(400, meaning="A push holds no rows."),
    "too_many_rows": _code(413, meaning="A push holds more than limits.push_max_rows_per_request rows."),
    "row_too_large": _code(413, meaning="Pushed rows are larger than limits.push_max_row_bytes; nothing was accepted."),
    "invalid_rows": _code(400, meaning="Some pushed rows are not valid (details per row); nothing was accepted."),
    "daily_limit": _code(
        429, meaning="The push would pass the dataset's daily row limit (Retry-After until the reset)."
    ),
    "monthly_limit": _code(
        429, meaning="The push would pass the dataset's monthly row limit (Retry-After until the reset)."
    ),
    # ---- candidate models and providers
    "model_limit": _code(
        409, meaning="A leaderboard's candidate limit, or the workspace's Dr.Gero model limit, is reached."
    ),
    "model_id_taken": _code(409, meaning="A candidate model with this id already exists."),
    "model_already_attached": _code(409, meaning="This model is already a candidate on the leaderboard."),
    "model_in_use": _code(409, meaning="An active run is evaluating the candidate being removed."),
    "model_in_production": _code(
        409, meaning="The candidate being removed is pinned as the production model (manual selection)."
    ),
    "model_not_attached": _code(409, meaning="The model chosen for production is not attached to the leaderboard."),
    "endpoint_probe_failed": _code(
        400, meaning="The candidate's endpoint failed the test request (details.cause is the provider error code)."
    ),
    "unsafe_url": _code(400, meaning="The SSRF guard refused the URL (scheme, credentials, non-global address)."),
    "unknown_model": _code(400, meaning="The OpenRouter catalog has no such model."),
    "integration_required": _code(409, meaning="The action needs a provider key the workspace has not stored."),
    "provider_error": _code(502, meaning="The provider failed (5xx, connection, malformed answer) after retries."),
    "provider_auth_failed": _code(502, meaning="The provider rejected the stored credentials."),
    "provider_bad_request": _code(400, meaning="The provider refused the request itself."),
    "provider_insufficient_credits": _code(402, meaning="The provider account behind the key has no credit left."),
    "provider_rate_limited": _code(
        429, meaning="The provider kept answering 429 after retries (Retry-After when known)."
    ),
    "provider_timeout": _code(504, meaning="The provider did not answer within the timeouts, after retries."),
    # ---- runs, evaluation, review, schedules
    "invalid_evaluation": _code(400, meaning="The leaderboard's evaluation JSON is not valid (details per field)."),
    "invalid_schedule": _code(400, meaning="A run or fine-tune schedule is not a valid cron/rate object."),
    "schedule_too_frequent": _code(
        400, meaning="A schedule fires more often than runs.schedule_min_interval_minutes (named in the message)."
    ),
    "unknown_models": _code(400, meaning="A run names models that are not attached to the leaderboard."),
    "not_enough_models": _code(409, meaning="A run needs at least 2 candidate models."),
    "run_in_progress": _code(409, meaning="Another run is still active on the leaderboard."),
    "run_not_queued": _code(503, meaning="The run was recorded but could not be queued; try again."),
    "export_not_queued": _code(503, meaning="The results export job was not queued; nothing started, try again."),
    "export_failed": _code(
        500, meaning="The results export failed on every attempt (details: attempts); retry=true starts it again."
    ),
    "run_finished": _code(409, meaning="The run already finished; there is nothing to cancel."),
    "not_human_evaluation": _code(409, meaning="The run is not evaluated by people, so it has no review."),
    "review_not_open": _code(409, meaning="The run is not awaiting review (not yet, or any more)."),
    "invalid_page": _code(400, meaning="The review page is out of range."),
    "invalid_grade": _code(400, meaning="A grade does not fit the evaluation's scale."),
    "unknown_item": _code(400, meaning="A grade names no item of the review."),
    "run_not_ranked": _code(
        409, meaning="The request needs a run's ranking (winner_lost, compare) and the run has none yet."
    ),
    "runs_not_comparable": _code(409, meaning="Two runs can be compared only within one leaderboard."),
    # ---- production inference
    "no_production_model": _code(409, meaning="The leaderboard has no production model yet (no ranking, no pick)."),
    "invalid_model": _code(400, meaning="The chat completions model is not 'leaderboard/{id}'."),
    "model_lacks_capabilities": _code(
        409, meaning="A manual pick of a candidate without the leaderboard's required_capabilities."
    ),
    "unsupported_parameter": _code(
        400,
        meaning="A chat parameter (tools, response_format, logprobs, stop, seed, top_p, stream...) the production "
        "model cannot honour; param names it.",
    ),
    "too_many_messages": _code(413, meaning="The request holds more than inference.max_messages messages."),
    # ---- Dr.Gero models and fine-tuning
    "model_attached": _code(409, meaning="The Dr.Gero model being deleted is a candidate on some leaderboards."),
    "version_limit": _code(409, meaning="The Dr.Gero model already keeps limits.max_model_versions versions."),
    "fine_tune_in_progress": _code(409, meaning="The model already has a fine-tune job in progress."),
    "fine_tune_finished": _code(409, meaning="The fine-tune job being cancelled has already ended."),
    "fine_tune_backend_error": _code(502, meaning="The fine-tuning backend failed or refused to cancel the job."),
    "not_enough_rows": _code(
        409, meaning="The dataset version has fewer than fine_tune.min_training_rows rows with an expected output."
    ),
    "training_file_too_large": _code(
        409, meaning="The exported training file would pass fine_tune.max_training_bytes."
    ),
    "schedules_unavailable": _code(503, meaning="Fine-tune schedules are not configured on this deployment."),
    # ---- the gateway and the service itself
    "rate_limited": _code(429, meaning="API Gateway throttled the request (gateway response THROTTLED)."),
    "bad_request": _code(
        "4xx", meaning="Any other error API Gateway answers itself (DEFAULT_4XX), e.g. no such route."
    ),
    "internal_error": _code(
        500, "5xx", meaning="The service failed; API Gateway answers other 5xx itself (DEFAULT_5XX). Retry later."
    ),
}
