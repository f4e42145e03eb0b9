"""The local Hugging Face hub's HTTP side: the requests ``huggingface_hub`` makes for a dataset
file, answered with the Hub's shapes, headers and error codes (its ``hf_raise_for_status``
turns ``X-Error-Code`` into ``RepositoryNotFoundError``, ``GatedRepoError``,
``RevisionNotFoundError`` and ``EntryNotFoundError``):

- ``GET /api/datasets/{owner}/{name}[/revision/{rev}]``: dataset info (``sha``, ``private``,
  ``gated``, ``siblings``); 401 ``RepoNotFound`` without a token / 404 with one, for an
  unknown repo or a private one the token cannot see; 404 ``RevisionNotFound``.
- ``HEAD|GET /datasets/{owner}/{name}/resolve/{rev}/{path}`` (and ``/blob/``, what a browser
  opens): the file with ``ETag``, ``X-Repo-Commit`` and ``Content-Length``; 404
  ``EntryNotFound``; gated repos answer 401 ``GatedRepo`` without a token and 403 with a token
  that was not granted.
- ``GET /api/whoami-v2``: the token's user (how a Hugging Face integration key is checked);
  401 for a token no repo accepts.

Binds to loopback only. Repos come from :class:`~localcloud.hub.repos.FolderRepos` (the
``hub_dir``) and from :meth:`HubServer.add_repo` (tests); one added in memory wins.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from localcloud.hub.repos import FolderRepos, Repo, make_repo

logger = logging.getLogger("localcloud.hub")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
USER = "local-hub-user"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


class HubServer:
    """A Hugging Face hub-compatible file server on ``host:port`` (port 0: a free one).

    ``with HubServer(hub_dir) as hub: ...`` or ``start()`` / ``stop()``; ``url`` is its base
    URL, ``requests`` the ``(method, path, authorization)`` of every request it answered."""

    def __init__(self, hub_dir: str | Path | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in LOOPBACK:
            raise ValueError(f"the local hub binds to loopback only, not {host!r}")
        self.hub_dir = Path(hub_dir) if hub_dir is not None else None
        self.folder = FolderRepos(self.hub_dir) if self.hub_dir is not None else None
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet: the local cloud logs elsewhere
                return

            def do_GET(self) -> None:
                hub._handle(self, head=False)

            def do_HEAD(self) -> None:
                hub._handle(self, head=True)

        self._httpd = _Server((host, port), Handler)
        bound_host, bound_port = self._httpd.server_address[:2]
        display = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        self.url = f"http://{display}:{bound_port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="drgero-hub", daemon=True)
        self._stopped = False

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes],
        private: bool = False,
        gated: bool = False,
        allowed_tokens: set[str] | None = None,
        branches: tuple[str, ...] = ("main",),
    ) -> str:
        """Adds a dataset repo held in memory; returns its commit sha."""
        repo = make_repo(repo_id, files, private=private, gated=gated, allowed_tokens=allowed_tokens, branches=branches)
        self.repos[repo_id] = repo
        return repo.sha

    def repo(self, repo_id: str) -> Repo | None:
        if repo_id in self.repos:
            return self.repos[repo_id]
        return self.folder.get(repo_id) if self.folder is not None else None

    def known_tokens(self) -> set[str]:
        tokens = {t for repo in self.repos.values() for t in repo.allowed_tokens}
        return tokens | (self.folder.tokens() if self.folder is not None else set())

    # ------------------------------------------------------------------ request handling
    def _answer(self, handler, status: int, body: bytes = b"", headers: dict | None = None, head=False) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if not head:
            handler.wfile.write(body)

    def _error(self, handler, status: int, code: str, message: str, head: bool) -> None:
        # The Hub's error answer: the code and message in headers (what huggingface_hub reads)
        # and the message in a JSON body.
        body = json.dumps({"error": message}).encode()
        headers = {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json"}
        self._answer(handler, status, body, headers, head)

    @staticmethod
    def _token(handler) -> str | None:
        value = handler.headers.get("Authorization") or ""
        if not value.startswith("Bearer "):
            return None
        return value.removeprefix("Bearer ").strip() or None

    def _handle(self, handler, head: bool) -> None:
        path = urlsplit(handler.path).path
        self.requests.append((handler.command, path, handler.headers.get("Authorization")))
        token = self._token(handler)
        parts = [unquote(p) for p in path.strip("/").split("/")]
        try:
            if parts == ["api", "whoami-v2"]:
                return self._whoami(handler, token, head)
            if parts[:2] == ["api", "datasets"] and len(parts) >= 4:
                revision = "/".join(parts[5:]) if len(parts) >= 6 and parts[4] == "revision" else "main"
                return self._info(handler, f"{parts[2]}/{parts[3]}", revision, token, head)
            if parts[:1] == ["datasets"] and len(parts) >= 6 and parts[3] in {"resolve", "blob"}:
                return self._resolve(handler, f"{parts[1]}/{parts[2]}", parts[4], "/".join(parts[5:]), token, head)
        except (OSError, ValueError) as exc:  # a broken .hub.json or an unreadable file in hub_dir
            logger.warning("local hub: %s %s failed: %s", handler.command, path, exc)
            return self._error(handler, 500, "InternalError", f"local hub: {exc}", head)
        return self._error(handler, 404, "NotFound", "Sorry, we can't find the page you are looking for.", head)

    def _whoami(self, handler, token: str | None, head: bool) -> None:
        if token is None or token not in self.known_tokens():
            return self._error(handler, 401, "Unauthorized", "Invalid credentials in Authorization header", head)
        body = {"type": "user", "name": USER, "fullname": "Local hub user", "auth": {"type": "access_token"}}
        self._answer(handler, 200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)

    def _visible(self, repo: Repo | None, token: str | None) -> bool:
        return repo is not None and (not repo.private or token in repo.allowed_tokens)

    def _not_found(self, handler, token: str | None, head: bool) -> None:
        # The Hub answers 401 to an anonymous caller (maybe it is private) and 404 otherwise.
        message = "Repository not found"
        return self._error(handler, 401 if token is None else 404, "RepoNotFound", message, head)

    def _info(self, handler, repo_id: str, revision: str, token: str | None, head: bool) -> None:
        repo = self.repo(repo_id)
        if not self._visible(repo, token):
            return self._not_found(handler, token, head)
        assert repo is not None
        sha = repo.revisions.get(revision)
        if sha is None:
            return self._error(handler, 404, "RevisionNotFound", f"Invalid rev id: {revision}", head)
        body = {
            "_id": hashlib.sha1(repo_id.encode(), usedforsecurity=False).hexdigest()[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": sha,
            "private": repo.private,
            "gated": "manual" if repo.gated else False,
            "disabled": False,
            "tags": [],
            "siblings": [{"rfilename": name} for name in sorted(repo.files)],
        }
        self._answer(handler, 200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)

    def _resolve(self, handler, repo_id: str, revision: str, filename: str, token: str | None, head: bool) -> None:
        repo = self.repo(repo_id)
        if not self._visible(repo, token):
            return self._not_found(handler, token, head)
        assert repo is not None
        if repo.gated and token not in repo.allowed_tokens:
            if token is None:
                message = f"Access to dataset {repo_id} is restricted. You must be authenticated to access it."
                return self._error(handler, 401, "GatedRepo", message, head)
            message = f"Access to dataset {repo_id} is restricted and you are not in the authorized list."
            return self._error(handler, 403, "GatedRepo", message, head)
        sha = repo.revisions.get(revision)
        if sha is None:
            return self._error(handler, 404, "RevisionNotFound", f"Invalid rev id: {revision}", head)
        content = repo.files.get(filename)
        if content is None:
            return self._error(handler, 404, "EntryNotFound", f'{filename} does not exist on "{revision}"', head)
        etag = hashlib.sha256(content).hexdigest()
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": sha, "Content-Type": "application/octet-stream"}
        self._answer(handler, 200, content, headers, head)
