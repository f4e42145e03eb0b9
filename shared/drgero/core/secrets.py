"""Secrets we must call with later: sealed with KMS, bound to where they belong.

Three kinds of items keep a secret the product needs in plaintext again (to call a provider):
a workspace's provider key (:mod:`drgero.identity.integrations`), a candidate's endpoint
secret (:mod:`drgero.leaderboards.candidates`) and a Dr.Gero model version's endpoint secret
(:mod:`drgero.own_models.registry`). Each is stored only as KMS ciphertext plus a masked hint.

The caller passes the KMS *encryption context* naming the item the secret belongs to (its
workspace, its leaderboard or model, and a ``purpose``). KMS refuses to decrypt under any
other context, so a ciphertext copied into another workspace's (or another model's) item is
useless. The context is the item's business, so each module keeps its own; only the KMS
calls and the hints live here.

The plaintext is never logged, returned by the API or written anywhere but to KMS.

Decrypts are cached per process (one Lambda container): a run's shards and a warm function's
calls would otherwise pay one KMS request each for the same key. The cache key is the
ciphertext *and* the encryption context, so a ciphertext under another context still goes to
KMS (and is refused there); only successful decrypts are kept. Staleness bound: a ciphertext's
plaintext never changes (a replaced key is a new ciphertext, read from its item on every use),
so the cache never returns an old key; what it delays is KMS's own word: a key disabled or a
decrypt permission revoked stops a warm container's decrypts after at most
``UNSEAL_CACHE_SECONDS`` (300 s). At most ``UNSEAL_CACHE_MAX`` (256) plaintexts are held.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: callers already hold both
    from drgero.core.aws import AwsClients
    from drgero.core.settings import Settings

UNSEAL_CACHE_SECONDS = 300.0
UNSEAL_CACHE_MAX = 256
_unsealed: OrderedDict[tuple[bytes, frozenset[tuple[str, str]]], tuple[float, str]] = OrderedDict()
_unsealed_lock = threading.Lock()


def seal(settings: Settings, clients: AwsClients, plaintext: str, context: Mapping[str, str]) -> Any:
    """The KMS ciphertext (bytes) of ``plaintext`` under the product key and ``context``."""
    return clients.kms.encrypt(
        KeyId=settings.aws.kms_key_id, Plaintext=plaintext.encode("utf-8"), EncryptionContext=dict(context)
    )["CiphertextBlob"]


def unseal(settings: Settings, clients: AwsClients, ciphertext: Any, context: Mapping[str, str]) -> str:
    """The plaintext of a :func:`seal` ciphertext; KMS refuses it under another context.

    ``ciphertext``: as read back from DynamoDB (a ``Binary`` or bytes). Cached per process
    for ``UNSEAL_CACHE_SECONDS`` (the module docstring says what that may delay)."""
    blob = bytes(ciphertext)
    key = (blob, frozenset(context.items()))
    now = time.monotonic()
    with _unsealed_lock:
        cached = _unsealed.get(key)
        if cached is not None and cached[0] > now:
            _unsealed.move_to_end(key)
            return cached[1]
    plaintext = clients.kms.decrypt(
        CiphertextBlob=blob, KeyId=settings.aws.kms_key_id, EncryptionContext=dict(context)
    )["Plaintext"].decode("utf-8")
    with _unsealed_lock:
        _unsealed[key] = (now + UNSEAL_CACHE_SECONDS, plaintext)
        _unsealed.move_to_end(key)
        while len(_unsealed) > UNSEAL_CACHE_MAX:
            _unsealed.popitem(last=False)
    return plaintext


def forget_unsealed() -> None:
    """Empties the decrypt cache (tests that need a fresh container's behaviour)."""
    with _unsealed_lock:
        _unsealed.clear()


def hint(secret: str) -> str:
    """An endpoint secret's hint (``…abcd``): its last four characters, and only for a
    secret of 16 or more characters (a short one would be too easy to guess from four)."""
    return f"…{secret[-4:]}" if len(secret) >= 16 else "…"


def key_hint(api_key: str) -> str:
    """A provider API key's hint (``sk-o…abcd``): enough to recognise which key it is (the
    prefix names the provider's key kind), never enough to use it."""
    if len(api_key) >= 20:
        return f"{api_key[:4]}…{api_key[-4:]}"
    return f"…{api_key[-2:]}"
