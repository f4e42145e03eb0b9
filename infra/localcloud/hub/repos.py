"""The local hub's dataset repos: added in memory (tests) or read from a folder (``hub_dir``).

A file at ``{hub_dir}/datasets/{owner}/{name}/{path}`` is file ``{path}`` of repo
``{owner}/{name}``. The folder is read on every request, so a file dropped in is served at once.
An optional ``.hub.json`` beside the files sets how the repo behaves::

    {"private": true, "gated": false, "tokens": ["hf_local_..."], "branches": ["main", "v1"]}

- ``private``: only a request with one of ``tokens`` sees the repo (others get RepoNotFound);
- ``gated``: the repo is listed, but its files need one of ``tokens`` (GatedRepo otherwise);
- ``branches``: the revision names that resolve to the repo's commit (default ``["main"]``).

Paths starting with a dot (``.hub.json``, ``.git``) are never served. A folder repo has one
commit: a hash of its files' paths and bytes, so it changes when a file changes, and the same
files always give the same commit (a restart keeps it). That commit is also a revision, which
is how the product pins a dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG = ".hub.json"


@dataclass
class Repo:
    files: dict[str, bytes]
    revisions: dict[str, str]  # revision name -> commit sha (a sha is also a revision)
    private: bool = False
    gated: bool = False
    allowed_tokens: set[str] = field(default_factory=set)

    @property
    def sha(self) -> str:
        return next(iter(self.revisions.values()))


def commit_of(repo_id: str, files: dict[str, bytes]) -> str:
    """A stable 40-hex commit id for these files (sha1 like git's, not for security)."""
    digest = hashlib.sha1(repo_id.encode(), usedforsecurity=False)
    for name in sorted(files):
        digest.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def make_repo(
    repo_id: str,
    files: dict[str, bytes],
    *,
    private: bool = False,
    gated: bool = False,
    allowed_tokens: set[str] | None = None,
    branches: tuple[str, ...] | list[str] = ("main",),
) -> Repo:
    sha = commit_of(repo_id, files)
    revisions = {name: sha for name in branches} | {sha: sha}
    return Repo(dict(files), revisions, private, gated, set(allowed_tokens or ()))


class FolderRepos:
    """The repos under ``{root}/datasets``, re-read when a file's size or mtime changes."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._cache: dict[str, tuple[tuple[Any, ...], Repo]] = {}
        self._lock = threading.Lock()

    def _folder(self, repo_id: str) -> Path | None:
        owner, _, name = repo_id.partition("/")
        if not owner or not name or "/" in name or owner.startswith(".") or name.startswith("."):
            return None
        folder = self.root / "datasets" / owner / name
        return folder if folder.is_dir() else None

    def get(self, repo_id: str) -> Repo | None:
        folder = self._folder(repo_id)
        if folder is None:
            return None
        paths = sorted(_served_files(folder))
        config_path = folder / CONFIG
        signature = tuple((str(p), *_stat(p)) for p in [*paths, config_path])
        with self._lock:
            cached = self._cache.get(repo_id)
            if cached is not None and cached[0] == signature:
                return cached[1]
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in paths}
        config = _read_config(config_path)
        repo = make_repo(
            repo_id,
            files,
            private=bool(config.get("private")),
            gated=bool(config.get("gated")),
            allowed_tokens={str(t) for t in config.get("tokens") or []},
            branches=[str(b) for b in config.get("branches") or ["main"]],
        )
        with self._lock:
            self._cache[repo_id] = (signature, repo)
        return repo

    def repo_ids(self) -> list[str]:
        base = self.root / "datasets"
        if not base.is_dir():
            return []
        return sorted(
            f"{owner.name}/{name.name}"
            for owner in base.iterdir()
            if owner.is_dir() and not owner.name.startswith(".")
            for name in owner.iterdir()
            if name.is_dir() and not name.name.startswith(".")
        )

    def tokens(self) -> set[str]:
        """Every token some folder repo accepts (the hub's known users)."""
        found: set[str] = set()
        for repo_id in self.repo_ids():
            folder = self._folder(repo_id)
            if folder is not None:
                found |= {str(t) for t in _read_config(folder / CONFIG).get("tokens") or []}
        return found


def _served_files(folder: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # .git, .cache: never served
        files += [Path(dirpath) / f for f in filenames if not f.startswith(".")]
    return files


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return data
