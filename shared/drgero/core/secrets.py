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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: callers already hold both
    from drgero.core.aws import AwsClients
    from drgero.core.settings import Settings


def seal(settings: Settings, clients: AwsClients, plaintext: str, context: Mapping[str, str]) -> Any:
    """The KMS ciphertext (bytes) of ``plaintext`` under the product key and ``context``."""
    return clients.kms.encrypt(
        KeyId=settings.aws.kms_key_id, Plaintext=plaintext.encode("utf-8"), EncryptionContext=dict(context)
    )["CiphertextBlob"]


def unseal(settings: Settings, clients: AwsClients, ciphertext: Any, context: Mapping[str, str]) -> str:
    """The plaintext of a :func:`seal` ciphertext; KMS refuses it under another context.

    ``ciphertext``: as read back from DynamoDB (a ``Binary`` or bytes)."""
    return clients.kms.decrypt(
        CiphertextBlob=bytes(ciphertext), KeyId=settings.aws.kms_key_id, EncryptionContext=dict(context)
    )["Plaintext"].decode("utf-8")


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
