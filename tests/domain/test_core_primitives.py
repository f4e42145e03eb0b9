"""The shared primitives of drgero.core: clock formats, validation errors, secrets, queue
sends and the Idempotency-Key validator (each used by several capabilities)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError
from pydantic import Field, SecretStr, ValidationError

from drgero.core import clock, idempotency, queues, secrets
from drgero.core.errors import ApiError
from drgero.core.validation import FrozenModel, StrictModel, field_errors, invalid, parse


# ------------------------------------------------------------------ clock
def test_clock_formats():
    moment = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert clock.iso(moment) == "2024-05-01T12:00:00.123456Z"
    assert clock.iso(moment.replace(microsecond=0)) == "2024-05-01T12:00:00Z"
    assert clock.iso(moment.astimezone(timezone(timedelta(hours=2)))) == "2024-05-01T12:00:00.123456Z"
    assert clock.iso_millis(moment) == "2024-05-01T12:00:00.123Z"
    assert clock.iso_millis(moment.replace(microsecond=0)) == "2024-05-01T12:00:00.000Z"
    assert clock.iso_epoch(moment.timestamp()) == "2024-05-01T12:00:00.123456Z"
    assert clock.iso_epoch(None) is None
    assert clock.parse_iso(clock.iso(moment)) == moment
    assert clock.parse_iso(clock.iso_millis(moment)) == moment.replace(microsecond=123000)


def test_clock_now_is_the_one_seam(monkeypatch):
    fixed = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    monkeypatch.setattr(clock, "now", lambda: fixed)
    assert clock.iso() == "2030-01-02T03:04:05Z"
    assert clock.iso_millis() == "2030-01-02T03:04:05.000Z"


# ------------------------------------------------------------------ validation
class _Body(StrictModel):
    name: str = Field(min_length=1)
    token: SecretStr | None = None
    count: int = 0


def test_parse_refuses_unknown_fields_and_names_each_bad_field():
    with pytest.raises(ApiError) as caught:
        parse(_Body, {"name": "", "count": "many", "extra": 1}, "The thing is not valid.")
    error = caught.value
    assert (error.status, error.code, error.message) == (400, "invalid_request", "The thing is not valid.")
    assert sorted(d["field"] for d in error.details) == ["count", "extra", "name"]
    assert error.__cause__ is None and error.__suppress_context__


def test_parse_keeps_each_surface_code_and_never_echoes_the_input():
    secret = "sk-very-secret-value-123"
    with pytest.raises(ApiError) as caught:
        parse(_Body, {"name": "x", "token": 5, "count": secret}, "Bad.", code="invalid_thing")
    assert caught.value.code == "invalid_thing"
    assert secret not in json.dumps(caught.value.details)
    with pytest.raises(ApiError) as caught:
        parse(_Body, ["not", "an", "object"], "Bad.")
    assert caught.value.message == "The request body must be a JSON object."


def test_field_errors_prefix_and_empty_location():
    try:
        _Body.model_validate({"name": "", "count": 1})
    except ValidationError as exc:
        assert invalid(exc, "m", prefix=("schedule",)).details == [
            {"field": "schedule.name", "error": "String should have at least 1 character"}
        ]
    assert field_errors([{"loc": (), "msg": "whole"}], empty="body") == [{"field": "body", "error": "whole"}]


def test_frozen_model_is_strict_and_immutable():
    class Value(FrozenModel):
        a: int

    value = Value(a=1)
    with pytest.raises(ValidationError):
        value.a = 2
    with pytest.raises(ValidationError):
        Value.model_validate({"a": 1, "b": 2})


# ------------------------------------------------------------------ secrets
def test_secrets_are_bound_to_their_context(aws):
    context = {"workspace_id": "ws_1", "purpose": "test"}
    ciphertext = secrets.seal(aws.settings, aws.clients, "s3cr3t-value", context)
    assert b"s3cr3t-value" not in bytes(ciphertext)
    assert secrets.unseal(aws.settings, aws.clients, ciphertext, context) == "s3cr3t-value"
    with pytest.raises(ClientError):
        secrets.unseal(aws.settings, aws.clients, ciphertext, {**context, "workspace_id": "ws_2"})


def test_decrypts_are_cached_per_context_for_a_bounded_time(aws, monkeypatch):
    context = {"workspace_id": "ws_1", "purpose": "test"}
    ciphertext = secrets.seal(aws.settings, aws.clients, "cached-value", context)
    decrypts: list[str] = []
    aws.clients.kms.meta.events.register("before-call.kms.Decrypt", lambda **_: decrypts.append("x"))
    now = [1000.0]
    monkeypatch.setattr(secrets.time, "monotonic", lambda: now[0])
    assert secrets.unseal(aws.settings, aws.clients, ciphertext, context) == "cached-value"
    assert secrets.unseal(aws.settings, aws.clients, ciphertext, context) == "cached-value"
    assert len(decrypts) == 1
    # Another context is a cache miss: KMS itself refuses it, as before the cache.
    with pytest.raises(ClientError):
        secrets.unseal(aws.settings, aws.clients, ciphertext, {**context, "workspace_id": "ws_2"})
    assert len(decrypts) == 2
    now[0] += secrets.UNSEAL_CACHE_SECONDS + 1  # past the bound: KMS is asked again
    assert secrets.unseal(aws.settings, aws.clients, ciphertext, context) == "cached-value"
    assert len(decrypts) == 3


def test_the_decrypt_cache_holds_a_bounded_number_of_plaintexts(aws, monkeypatch):
    monkeypatch.setattr(secrets, "UNSEAL_CACHE_MAX", 2)
    secrets.forget_unsealed()
    for i in range(4):
        context = {"workspace_id": f"ws_{i}", "purpose": "test"}
        ciphertext = secrets.seal(aws.settings, aws.clients, f"value-{i}", context)
        assert secrets.unseal(aws.settings, aws.clients, ciphertext, context) == f"value-{i}"
    assert len(secrets._unsealed) == 2


def test_secret_hints():
    assert secrets.hint("0123456789abcdef") == "…cdef"
    assert secrets.hint("short-secret") == "…"
    assert secrets.key_hint("sk-or-v1-0123456789abcdef") == "sk-o…cdef"
    assert secrets.key_hint("hf_short12") == "…12"


# ------------------------------------------------------------------ queues
class FakeSqs:
    """Rejects the entries named in ``reject`` (per call), or fails whole requests."""

    def __init__(self, reject: list[set[int]] | None = None, fail_requests: int = 0):
        self.reject = reject or []
        self.fail_requests = fail_requests
        self.calls: list[list[dict]] = []
        self.sent: list[str] = []

    def send_message(self, QueueUrl: str, MessageBody: str) -> None:  # noqa: N803 - boto3's names
        self.sent.append(MessageBody)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803 - boto3's names
        self.calls.append(Entries)
        if self.fail_requests:
            self.fail_requests -= 1
            raise ClientError({"Error": {"Code": "ServiceUnavailable"}}, "SendMessageBatch")
        reject = self.reject.pop(0) if self.reject else set()
        failed = [{"Id": e["Id"]} for e in Entries if int(e["Id"]) in reject]
        self.sent += [e["MessageBody"] for e in Entries if int(e["Id"]) not in reject]
        return {"Failed": failed}


def test_send_dumps_dicts_and_models():
    sqs = FakeSqs()
    queues.send(sqs, "url", {"a": 1})
    queues.send(sqs, "url", _Body(name="n"))
    queues.send(sqs, "url", '{"already": "json"}')
    assert [json.loads(b) for b in sqs.sent] == [
        {"a": 1},
        {"name": "n", "token": None, "count": 0},
        {"already": "json"},
    ]


def test_send_batch_resends_only_rejected_entries():
    sqs = FakeSqs(reject=[{1, 2}, {2}])
    assert queues.send_batch(sqs, "url", ["a", "b", "c"], attempts=3) == []
    assert [[e["Id"] for e in call] for call in sqs.calls] == [["0", "1", "2"], ["1", "2"], ["2"]]
    assert sorted(sqs.sent) == ["a", "b", "c"]
    stubborn = FakeSqs(reject=[{0}, {0}])
    assert queues.send_batch(stubborn, "url", ["a", "b"], attempts=2) == [0]


def test_send_batch_request_errors_raise_unless_retried():
    with pytest.raises(ClientError):
        queues.send_batch(FakeSqs(fail_requests=1), "url", ["a"], attempts=3)
    sqs = FakeSqs(fail_requests=1)
    assert queues.send_batch(sqs, "url", ["a"], attempts=2, retry_request_errors=True) == []
    assert queues.send_batch(FakeSqs(fail_requests=2), "url", ["a"], attempts=2, retry_request_errors=True) == [0]
    with pytest.raises(ValueError):
        queues.send_batch(sqs, "url", ["x"] * 11, attempts=1)


# ------------------------------------------------------------------ idempotency
@pytest.mark.parametrize("key", [None, "k", "retry-1", "x" * idempotency.MAX_KEY_CHARS, "ünïcode key"])
def test_idempotency_key_accepted(key):
    assert idempotency.check_key(key) == key


@pytest.mark.parametrize("key", ["", "x" * (idempotency.MAX_KEY_CHARS + 1), "tab\there", "new\nline"])
def test_idempotency_key_refused(key):
    with pytest.raises(ApiError) as caught:
        idempotency.check_key(key)
    assert (caught.value.status, caught.value.code) == (400, "invalid_idempotency_key")
