"""What a local cloud keeps in its state dir (``.drgero/`` by default) across restarts.

- ``aws-state.bin``: the embedded AWS's state (``localcloud.moto_state``: tables, objects,
  queues, KMS keys, schedules), written by the moto process.
- ``identity.json``: the dev JWT issuer's signing secret (so sessions minted before a restart
  stay valid) and the seeded workspace's ids and owner token (so a restart reuses them rather
  than seeding a second workspace). Mode 0600: it holds the token.

``local.json`` (written by ``drgero local``) describes the *running* cloud and goes away when
it stops; these two files outlive it. ``fresh`` removes them before the cloud starts.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AWS_STATE = "aws-state.bin"
IDENTITY = "identity.json"


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write (temporary file, then rename), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, default=str)
        fh.write("\n")
    os.replace(tmp, path)


@dataclass(frozen=True)
class StateDir:
    """A local cloud's persistent state, under ``root``."""

    root: Path

    @property
    def aws_state(self) -> Path:
        return self.root / AWS_STATE

    @property
    def identity_file(self) -> Path:
        return self.root / IDENTITY

    def wipe(self) -> None:
        """Forgets everything saved (``--fresh``)."""
        for path in (self.aws_state, self.identity_file):
            with contextlib.suppress(FileNotFoundError):  # nothing saved yet: already empty
                path.unlink()

    def identity(self) -> dict[str, Any]:
        """The saved identity (``jwt_secret``, ``seed``), or ``{}`` when there is none."""
        try:
            data = json.loads(self.identity_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return data if isinstance(data, dict) else {}

    def save_identity(self, data: dict[str, Any]) -> None:
        write_private_json(self.identity_file, data)
