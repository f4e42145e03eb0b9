"""The embedded AWS's state on disk: moto's backends, pickled in the moto process itself.

moto keeps every table, object, queue, key and schedule in Python objects (its "backends")
and has no persistence of its own. Pickling those objects keeps everything exactly: S3
version ids (dataset records point at object versions), SQS message ids and receive counts,
and the KMS keys' private material, which no AWS API can export (provider keys sealed with
it must still decrypt after a restart). The price: the file is moto's internal layout, so it
is tied to the moto version that wrote it (moto is pinned exactly); another version's file is
refused with a message that suggests ``--fresh`` rather than restored into objects that may
no longer match.

Two kinds of object in moto's backends do not pickle as they are, so :class:`_StatePickler`
reduces them: thread locks (SQS queues hold them) become fresh locks, and cryptography's
private keys (one per KMS key) become their PEM bytes, loaded back with
``load_pem_private_key``.

A snapshot holds DynamoDB and S3 still (``moto_atomic.quiesced``) so no request of theirs is
half applied in it. SQS, KMS and the scheduler are not locked (a lock across an SQS long poll
would stall every consumer); a snapshot that races one of their requests changing a
collection is simply taken again.

The file: one header line ``DRGERO-LOCAL-STATE 1 moto=<version>`` then the pickle; written
to a temporary file and renamed (a crash never leaves half a file), mode 0600 (it holds
tokens' hashes, the dev issuer's sessions' data and the KMS key material). Unpickling runs
code, so only ever load a file this machine's user wrote: it lives in their state dir.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import threading
from pathlib import Path
from typing import Any

from localcloud.moto_atomic import changes, quiesced

FORMAT = 1
MAGIC = b"DRGERO-LOCAL-STATE"
# Every service the local cloud stores state in. "events" rides along with "scheduler" (moto's
# scheduler shares its targets' model); IAM and the rest hold nothing the product reads back.
SERVICES = ("dynamodb", "s3", "sqs", "kms", "scheduler", "events")
_SNAPSHOT_ATTEMPTS = 5
logger = logging.getLogger("localcloud.moto_state")
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


class StateVersionError(RuntimeError):
    """The state file was written by another moto version (or is no state file at all)."""


def moto_version() -> str:
    import moto

    return str(moto.__version__)


def _fresh_lock(reentrant: bool) -> Any:
    return threading.RLock() if reentrant else threading.Lock()


def _load_private_key(pem: bytes) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(pem, password=None)


def _private_key_types() -> tuple[type, ...]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    return (
        rsa.RSAPrivateKey,
        ec.EllipticCurvePrivateKey,
        ed25519.Ed25519PrivateKey,
        ed448.Ed448PrivateKey,
    )


class _StatePickler(pickle.Pickler):
    """A pickler for moto's backends: locks and private keys reduced to what rebuilds them."""

    _private_keys = _private_key_types()

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _LOCK_TYPES):
            return _fresh_lock, (isinstance(obj, _LOCK_TYPES[1]),)
        if isinstance(obj, self._private_keys):
            from cryptography.hazmat.primitives import serialization

            pem = obj.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            return _load_private_key, (pem,)
        return NotImplemented


def _backends() -> dict[str, Any]:
    from moto.backends import get_backend

    return {name: get_backend(name) for name in SERVICES}  # type: ignore[call-overload]


def snapshot() -> bytes:
    """moto's backends as one pickle (one, so objects two services share stay shared)."""
    last_error: RuntimeError | None = None
    for _ in range(_SNAPSHOT_ATTEMPTS):
        buffer = io.BytesIO()
        try:
            with quiesced():
                _StatePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(
                    {"format": FORMAT, "backends": _backends()}
                )
        except RuntimeError as exc:  # "changed size during iteration": an unlocked service moved
            last_error = exc
            continue
        return buffer.getvalue()
    raise RuntimeError(f"could not take a consistent snapshot of the embedded AWS: {last_error}")


def _header() -> bytes:
    return MAGIC + f" {FORMAT} moto={moto_version()}\n".encode()


def write(path: Path, payload: bytes) -> None:
    """Writes a snapshot atomically (temporary file, then rename), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(_header())
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read(path: Path) -> bytes:
    """The pickle of a state file, after checking it was written by this moto version."""
    with path.open("rb") as fh:
        header = fh.readline()
        payload = fh.read()
    if header != _header():
        found = header.decode("utf-8", "replace").strip()[:80] or "empty"
        raise StateVersionError(
            f"the local state {path} was written by another version ({found!r}; this is moto "
            f"{moto_version()}, format {FORMAT}); start with --fresh to discard it"
        )
    return payload


def restore(payload: bytes) -> None:
    """Puts a snapshot's backends in place. In place: other moto modules hold references to
    the BackendDict objects, so each is cleared and refilled, never rebound."""
    state = pickle.loads(payload)  # noqa: S301 - our own file, in the user's state dir (see module doc)
    current = _backends()
    with quiesced():
        for name, saved in state["backends"].items():
            target = current[name]
            target.clear()
            target.update(saved)


class Saver:
    """Saves snapshots to ``path``: on demand and every ``interval`` seconds, writing only when
    the state changed since the last write (same bytes, same digest: nothing to write). The
    periodic save does not even take a snapshot while no request that may change state was
    served (``moto_atomic.changes``): an idle local cloud costs nothing, whatever its size."""

    def __init__(self, path: Path, interval: float) -> None:
        self.path = path
        self.interval = interval
        self._lock = threading.Lock()
        self._digest: bytes | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved_changes: int | None = None

    def save(self) -> bool:
        """Takes a snapshot and writes it if it changed; returns whether it wrote."""
        with self._lock:
            payload = snapshot()
            digest = hashlib.sha256(payload).digest()
            if digest == self._digest and self.path.exists():
                return False
            write(self.path, payload)
            self._digest = digest
            return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="moto-state-saver", daemon=True)
        self._thread.start()

    def tick(self) -> bool:
        """One period: snapshots (and writes if changed) unless no possibly-changing request
        was served since the last one. Returns whether a snapshot was taken."""
        seen = changes()  # read before the snapshot: a change after it makes the next period save
        if seen == self._saved_changes:
            return False
        self.save()
        self._saved_changes = seen
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except (OSError, RuntimeError, pickle.PicklingError):
                # The next period tries again, and the clean stop saves for good; a failing
                # disk must not take the embedded AWS down with it.
                logger.exception("saving the local state to %s failed", self.path)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
