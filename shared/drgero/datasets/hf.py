"""GET mode: a .jsonl / .jsonl.gz file of a Hugging Face dataset repo, pinned and snapshotted.

Accepted URLs (the URL only names the file; requests always go to
``settings.providers.huggingface_endpoint``, never to a host taken from the user's URL, so a
URL cannot make the service call anywhere else):

- ``https://huggingface.co/datasets/{owner}/{name}/blob/{revision}/{path}`` (or ``/resolve/``)
- ``hf://datasets/{owner}/{name}/{path}`` or ``hf://datasets/{owner}/{name}@{revision}/{path}``

Resolution (at leaderboard creation, and again when the URL changes):

1. ``dataset_info`` at the requested revision gives the commit sha: the dataset is pinned to
   it, so every later run reads exactly the same bytes.
2. The file's metadata (HEAD on ``resolve/{commit}/{path}``) proves it exists.
3. The file is streamed once, every line normalized with the PUSH rules
   (:mod:`drgero.datasets.rows`), and the good rows written to
   ``snapshots/{lb}/{commit}/{path}.jsonl.gz`` in S3: runs read the snapshot, never the hub.
   Malformed lines are reported with their line numbers (count + the first 100), not dropped
   silently. Blank lines are skipped.

Clear 400s: unsupported URL, not a JSONL file, repo/revision/file not found, gated or private
without a working Hugging Face integration, empty. The hub being unreachable is a 502.
"""

from __future__ import annotations

import gzip
import json
import re
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

# The hub client at module scope: this module is itself the deferred import. Only the api
# function's GET-dataset path loads it (drgero.api.routers.leaderboards), and always to call the hub.
import httpx2  # huggingface_hub's HTTP client
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from drgero.core import clock
from drgero.core.aws import AwsClients
from drgero.core.errors import ApiError
from drgero.core.settings import Settings
from drgero.datasets.rows import RowError, encode_row, normalize_row
from drgero.datasets.s3io import upload_stream
from drgero.identity.integrations import get_integration_key
from drgero.store.keys import snapshot_object_key

MAX_REPORTED_ERRORS = 100
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_SUFFIXES = (".jsonl", ".jsonl.gz")


@dataclass(frozen=True)
class HfFile:
    owner: str
    name: str
    revision: str
    path: str

    @property
    def repo_id(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def gzipped(self) -> bool:
        return self.path.endswith(".gz")


def _invalid(message: str, code: str = "invalid_dataset_url") -> ApiError:
    return ApiError(400, code, message, {"field": "dataset.url"})


def parse_hf_url(url: str) -> HfFile:
    """The repo, revision and file a dataset URL names; 400 for anything else."""
    url = url.strip()
    if url.startswith("hf://"):
        rest = url[len("hf://") :]
        if not rest.startswith("datasets/"):
            raise _invalid("Only Hugging Face dataset repos are supported: hf://datasets/{owner}/{name}/{path}.")
        parts = rest[len("datasets/") :].split("/")
        if len(parts) < 3:
            raise _invalid("The URL must name a file: hf://datasets/{owner}/{name}[@revision]/{path}.")
        owner, name_rev, path_parts = parts[0], parts[1], parts[2:]
        name, _, revision = name_rev.partition("@")
        revision = unquote(revision) or "main"
    else:
        split = urlsplit(url)
        if split.scheme != "https" or split.netloc not in {"huggingface.co", "www.huggingface.co"}:
            raise _invalid(
                "Use a Hugging Face dataset file URL: https://huggingface.co/datasets/{owner}/{name}/blob/{revision}/"
                "{path} or hf://datasets/{owner}/{name}/{path}."
            )
        parts = split.path.strip("/").split("/")
        if len(parts) < 6 or parts[0] != "datasets" or parts[3] not in {"blob", "resolve"}:
            raise _invalid(
                "The URL must point at one file of a dataset repo: "
                "https://huggingface.co/datasets/{owner}/{name}/blob/{revision}/{path}."
            )
        owner, name, revision, path_parts = parts[1], parts[2], unquote(parts[4]), parts[5:]
    path = "/".join(unquote(p) for p in path_parts)
    if not _NAME.match(owner) or not _NAME.match(name):
        raise _invalid("The repo owner or name is not valid.")
    if not path or any(p in {"", ".", ".."} for p in path.split("/")) or not revision or len(revision) > 200:
        raise _invalid("The file path or revision is not valid.")
    if not path.endswith(_SUFFIXES):
        raise _invalid(f"'{path}' is not a JSONL file: use a .jsonl or .jsonl.gz file.", code="not_jsonl_file")
    return HfFile(owner=owner, name=name, revision=revision, path=path)


# ------------------------------------------------------------------ reading
def _hub_errors(exc: Exception, ref: HfFile, has_token: bool) -> ApiError:
    """Maps huggingface_hub's errors to what the user should do."""
    integration = (
        "the workspace's Hugging Face integration has no access to it; request access on Hugging Face "
        "with that account, or update the key (PUT /api/integrations/huggingface)"
        if has_token
        else "add a Hugging Face integration with access to it (PUT /api/integrations/huggingface)"
    )
    if isinstance(exc, GatedRepoError):
        return ApiError(400, "dataset_gated", f"The dataset {ref.repo_id} is gated: {integration}.")
    if isinstance(exc, RevisionNotFoundError):
        return ApiError(400, "dataset_revision_not_found", f"{ref.repo_id} has no revision '{ref.revision}'.")
    if isinstance(exc, EntryNotFoundError):
        return ApiError(
            400, "dataset_file_not_found", f"{ref.repo_id} has no file '{ref.path}' at revision '{ref.revision}'."
        )
    if isinstance(exc, RepositoryNotFoundError):
        return ApiError(
            400,
            "dataset_not_found",
            f"The dataset {ref.repo_id} was not found, or it is private and {integration}.",
        )
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, HfHubHTTPError) and status in {401, 403}:
        return ApiError(400, "dataset_forbidden", f"Access to {ref.repo_id} was refused: {integration}.")
    return ApiError(502, "huggingface_unavailable", "Hugging Face did not answer properly; retry later.")


def _lines(chunks: Iterator[bytes], gzipped: bool) -> Iterator[bytes]:
    """Lines of a (possibly gzip, possibly multi-member) byte stream, without line ends."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    buffer = b""
    for chunk in chunks:
        if decompressor is not None:
            data = b""
            while chunk:
                data += decompressor.decompress(chunk)
                chunk = decompressor.unused_data
                if chunk:  # a new gzip member starts
                    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            chunk = data
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        yield from complete
    if decompressor is not None:
        buffer += decompressor.flush()
        if not decompressor.eof:
            raise ValueError("the gzip stream ends early (truncated file)")
    if buffer:
        yield buffer


@dataclass
class Snapshot:
    rows: int = 0
    blank_lines: int = 0
    malformed: int = 0
    errors: list[dict[str, Any]] | None = None


def snapshot_lines(lines: Iterator[bytes], out: Any) -> Snapshot:
    """Normalizes each line into ``out`` (a binary file); reports malformed lines by number."""
    result = Snapshot(errors=[])
    assert result.errors is not None
    with gzip.GzipFile(fileobj=out, mode="wb") as gz:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                result.blank_lines += 1
                continue
            try:
                row = normalize_row(json.loads(line))
                encoded = encode_row(row)
            except (ValueError, RowError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                result.malformed += 1
                if len(result.errors) < MAX_REPORTED_ERRORS:
                    reason = (
                        f"not valid JSON: {exc}"
                        if isinstance(exc, ValueError) and not isinstance(exc, RowError)
                        else str(exc)
                    )
                    result.errors.append({"line": number, "error": reason})
                continue
            gz.write(encoded)
            gz.write(b"\n")
            result.rows += 1
    return result


def _hub_access(
    settings: Settings, clients: AwsClients, workspace_id: str, url: str
) -> tuple[HfFile, str | bool, str, float]:
    """The parsed URL, the workspace's Hub credential (``False``: never a token from the
    machine's HF cache), the Hub endpoint and the request timeout."""
    token = get_integration_key(settings, clients, workspace_id, "huggingface")
    endpoint = settings.providers.huggingface_endpoint.rstrip("/")
    return parse_hf_url(url), token or False, endpoint, settings.limits.hf_timeout_seconds


def resolve_and_snapshot(
    settings: Settings, clients: AwsClients, workspace_id: str, leaderboard_id: str, url: str
) -> dict[str, Any]:
    """Resolves the URL to a pinned commit, snapshots the normalized rows into S3 and returns
    the ``dataset.resolved`` record; 400 with a clear code when the file cannot be used."""
    ref, auth, endpoint, timeout = _hub_access(settings, clients, workspace_id, url)
    try:
        info = HfApi(endpoint=endpoint, token=auth).dataset_info(ref.repo_id, revision=ref.revision, timeout=timeout)
        commit = info.sha
        if not commit:
            raise ApiError(502, "huggingface_unavailable", "Hugging Face did not say which commit the revision is.")
        file_url = hf_hub_url(ref.repo_id, ref.path, repo_type="dataset", revision=commit, endpoint=endpoint)
        metadata = get_hf_file_metadata(file_url, token=auth, timeout=timeout, endpoint=endpoint)
        if metadata.size is not None and metadata.size > settings.limits.hf_max_file_bytes:
            raise ApiError(
                400,
                "dataset_too_large",
                f"The file is {metadata.size} bytes; the limit is {settings.limits.hf_max_file_bytes} bytes "
                "(limits.hf_max_file_bytes).",
            )
        with tempfile.TemporaryFile(prefix="drgero-hf-") as out:
            headers = build_hf_headers(token=auth)
            with get_session().stream(
                "GET", file_url, headers=headers, timeout=timeout, follow_redirects=True
            ) as response:
                hf_raise_for_status(response)
                try:
                    report = snapshot_lines(_lines(response.iter_bytes(1024 * 1024), ref.gzipped), out)
                except (zlib.error, ValueError) as exc:
                    raise ApiError(
                        400,
                        "not_jsonl_file",
                        f"'{ref.path}' is not a readable gzip file: {exc}",
                        {"field": "dataset.url"},
                    ) from exc
            if report.rows == 0:
                if report.malformed:
                    raise ApiError(
                        400,
                        "not_jsonl_file",
                        f"'{ref.path}' has no valid JSONL rows ({report.malformed} malformed lines).",
                        report.errors,
                    )
                raise ApiError(400, "dataset_empty", f"'{ref.path}' holds no rows.")
            key = snapshot_object_key(leaderboard_id, commit, ref.path)
            version_id = upload_stream(clients.s3, settings.aws.bucket_name, key, out, "application/gzip")
    except ApiError:
        raise
    except HfHubHTTPError as exc:
        raise _hub_errors(exc, ref, auth is not False) from exc
    except httpx2.HTTPError as exc:  # connection refused, DNS, timeouts (the hub's HTTP client)
        raise ApiError(502, "huggingface_unavailable", "Hugging Face could not be reached; retry later.") from exc
    return {
        "repo": ref.repo_id,
        "revision": ref.revision,
        "commit": commit,
        "path": ref.path,
        "size_bytes": metadata.size,
        "rows": report.rows,
        "malformed_lines": report.malformed,
        "errors": report.errors,
        "snapshot_uri": f"s3://{settings.aws.bucket_name}/{key}",
        "snapshot_key": key,
        "snapshot_version_id": version_id,
        "resolved_at": clock.iso(),
    }


def validate_url(settings: Settings, clients: AwsClients, workspace_id: str, url: str) -> dict[str, Any]:
    """Validate-only (the wizard's "validate before continuing"): the URL parses, the repo,
    revision and file exist and are readable with the workspace's key, and the file is within
    the size limit. Reads no rows and stores nothing. Same 400 codes as creating the leaderboard."""
    ref, auth, endpoint, timeout = _hub_access(settings, clients, workspace_id, url)
    try:
        info = HfApi(endpoint=endpoint, token=auth).dataset_info(ref.repo_id, revision=ref.revision, timeout=timeout)
        file_url = hf_hub_url(ref.repo_id, ref.path, repo_type="dataset", revision=info.sha, endpoint=endpoint)
        metadata = get_hf_file_metadata(file_url, token=auth, timeout=timeout, endpoint=endpoint)
    except HfHubHTTPError as exc:
        raise _hub_errors(exc, ref, auth is not False) from exc
    except httpx2.HTTPError as exc:
        raise ApiError(502, "huggingface_unavailable", "Hugging Face could not be reached; retry later.") from exc
    if metadata.size is not None and metadata.size > settings.limits.hf_max_file_bytes:
        raise ApiError(
            400,
            "dataset_too_large",
            f"The file is {metadata.size} bytes; the limit is {settings.limits.hf_max_file_bytes} bytes "
            "(limits.hf_max_file_bytes).",
        )
    return {
        "valid": True,
        "repo": ref.repo_id,
        "revision": ref.revision,
        "commit": info.sha,
        "path": ref.path,
        "size_bytes": metadata.size,
    }
