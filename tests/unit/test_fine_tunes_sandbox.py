"""The sandbox's fine-tuning emulation, through the backend client Dr.Gero uses: uploads are
checked, jobs move one state per read, failures and cancels, and the tuned toy answers its
training rows exactly and everything else like its base."""

from __future__ import annotations

import httpx
import pytest

from drgero.core.settings import FineTuneSettings
from drgero.own_models.finetune.backend import BackendError, FineTuneBackend
from tests.support.fine_tunes import FT_KEY
from tests.support.sandbox import sandbox_fine_tune

TRAIN = (
    b'{"messages":[{"role":"user","content":"2 + 2"},{"role":"assistant","content":"4"}]}\n'
    b'{"messages":[{"role":"user","content":"3 + 3"},{"role":"assistant","content":"6"}]}\n'
)


def backend(sandbox: str, key: str = FT_KEY) -> FineTuneBackend:
    return FineTuneBackend(FineTuneSettings(base_url=f"{sandbox}/v1", api_key=key, max_retries=0))


def chat(sandbox: str, model: str, text: str) -> str:
    response = httpx.post(
        f"{sandbox}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}]},
        headers={"Authorization": f"Bearer {FT_KEY}"},
        trust_env=False,
    )
    response.raise_for_status()
    return response.json()["choices"][0]["message"]["content"]


def test_a_tuned_toy_answers_its_training_rows_and_otherwise_like_its_base(sandbox):
    client = backend(sandbox)
    file_id = client.upload_file("train.jsonl", TRAIN)
    job = client.create_job("sandbox/off-by-one", file_id, None, {"n_epochs": 2}, "dg-test")
    assert job.status == "validating_files" and job.fine_tuned_model is None
    states = [client.get_job(job.id).status for _ in range(4)]
    assert states == ["queued", "running", "succeeded", "succeeded"]
    done = client.get_job(job.id)
    assert done.fine_tuned_model == f"sandbox/ft-{job.id}"
    assert done.trained_tokens == 2 * 8  # 8 toy tokens (words) x 2 epochs
    assert chat(sandbox, done.fine_tuned_model, "2 + 2") == "4"
    assert chat(sandbox, done.fine_tuned_model, "5 + 5") == "11"  # the base toy: off by one
    assert chat(sandbox, "sandbox/off-by-one", "2 + 2") == "5"
    with pytest.raises(BackendError) as finished:
        client.cancel_job(job.id)
    assert finished.value.status == 400 and not finished.value.retryable
    client.close()


def test_failures_on_demand_and_cancel(sandbox):
    client = backend(sandbox)
    file_id = client.upload_file("train.jsonl", TRAIN)
    sandbox_fine_tune(sandbox, fail_next=1, fail_message="sandbox: out of GPUs")
    failing = client.create_job("sandbox/echo", file_id, None, {}, "x")
    assert [client.get_job(failing.id).status for _ in range(3)] == ["queued", "running", "failed"]
    assert client.get_job(failing.id).error == "sandbox: out of GPUs"
    cancelled = client.cancel_job(client.create_job("sandbox/echo", file_id, None, {}, "x").id)
    assert cancelled.status == "cancelled"
    # Until a job succeeds, its model id answers nothing.
    with pytest.raises(httpx.HTTPStatusError):
        chat(sandbox, f"sandbox/ft-{cancelled.id}", "2 + 2")
    client.close()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json\n", "not JSON"),
        (b'{"messages": []}\n', "non-empty"),
        (b'{"messages":[{"role":"assistant","content":"4"}]}\n', "user message"),
        (b"", "no examples"),
    ],
)
def test_bad_training_files_are_refused_with_the_backend_message(sandbox, content, message):
    with pytest.raises(BackendError) as refused:
        backend(sandbox).upload_file("train.jsonl", content)
    assert refused.value.status == 400 and message in refused.value.message


def test_a_bad_key_is_refused_and_never_echoed(sandbox):
    key = "sk-invalid-" + "0123456789abcdef"
    with pytest.raises(BackendError) as refused:
        backend(sandbox, key).upload_file("train.jsonl", TRAIN)
    assert refused.value.status == 401 and key not in refused.value.message


def test_an_unreachable_backend_is_a_retryable_error():
    client = FineTuneBackend(
        FineTuneSettings(base_url="http://127.0.0.1:9/v1", api_key=FT_KEY, max_retries=1), sleep=lambda _s: None
    )
    with pytest.raises(BackendError) as down:
        client.get_job("ftjob-x")
    assert down.value.retryable
