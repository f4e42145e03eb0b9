"""The training export: chat-format JSONL against hand-written expectations, the deterministic
validation split, skipped rows and limits; and the file a real job writes to S3."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from drgero.core.errors import ApiError
from drgero.own_models.finetune.export import build_export, in_validation
from tests.support.fine_tunes import make_fine_tune_setup

LIMITS = {"max_rows": 1000, "min_rows": 1, "max_bytes": 1_000_000}


def test_lines_are_the_rendered_prompt_and_the_expected_output():
    rows = [
        {"id": "a", "input": "2 + 3", "output": "5"},
        {"id": "b", "input": 'say {"x": 1}', "output": "ok"},
        {"id": "c", "input": "é", "output": "ü"},
    ]
    export = build_export('Solve {input}. JSON stays: {"k": 1}', rows, **LIMITS)
    expected = (
        '{"messages":[{"role":"user","content":"Solve 2 + 3. JSON stays: {\\"k\\": 1}"},'
        '{"role":"assistant","content":"5"}]}\n'
        '{"messages":[{"role":"user","content":"Solve say {\\"x\\": 1}. JSON stays: {\\"k\\": 1}"},'
        '{"role":"assistant","content":"ok"}]}\n'
        '{"messages":[{"role":"user","content":"Solve é. JSON stays: {\\"k\\": 1}"},'
        '{"role":"assistant","content":"ü"}]}\n'
    )
    assert export.training.decode("utf-8") == expected
    assert export.validation == b"" and export.training_rows == 3 and export.validation_rows == 0


def test_a_prompt_without_placeholder_gets_the_input_after_a_blank_line():
    export = build_export("You are a calculator.", [{"id": "a", "input": "1 + 1", "output": "2"}], **LIMITS)
    assert json.loads(export.training)["messages"][0] == {"role": "user", "content": "You are a calculator.\n\n1 + 1"}


def test_rows_without_an_expected_output_are_skipped_and_counted():
    rows = [
        {"id": "a", "input": "x", "output": None},
        {"id": "b", "input": "y", "output": ""},
        {"id": "c", "input": "z", "output": "0"},
    ]
    export = build_export("{input}", rows, **LIMITS)
    assert export.training_rows == 1 and export.skipped_rows == 2
    assert json.loads(export.training)["messages"][1]["content"] == "0"


def test_the_validation_split_is_by_row_id_and_deterministic():
    # Hand-computed: a row is held out when sha256(id)[:8] / 2**64 < fraction.
    def expected(row_id: str, fraction: float) -> bool:
        return int(hashlib.sha256(row_id.encode()).hexdigest()[:16], 16) / 2**64 < fraction

    rows = [{"id": f"r{i}", "input": f"{i} + 1", "output": str(i + 1)} for i in range(400)]
    export = build_export("{input}", rows, validation_fraction=0.25, **LIMITS)
    held_out = {json.loads(line)["messages"][0]["content"] for line in export.validation.splitlines()}
    assert held_out == {r["input"] for r in rows if expected(r["id"], 0.25)}
    assert 60 < export.validation_rows < 140 and export.training_rows + export.validation_rows == 400
    # The same rows in another order, or with others around them, land on the same side.
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    again = build_export("{input}", shuffled[:200], validation_fraction=0.25, **LIMITS)
    held_again = {json.loads(line)["messages"][0]["content"] for line in again.validation.splitlines()}
    assert held_again == {r["input"] for r in shuffled[:200] if expected(r["id"], 0.25)}
    assert all(not in_validation(r["id"], 0.0) for r in rows)
    # Byte-identical on a rebuild (a resumed start uploads the same file).
    assert build_export("{input}", rows, validation_fraction=0.25, **LIMITS).sha256 == export.sha256


def test_limits():
    rows = [{"id": f"r{i}", "input": str(i), "output": str(i)} for i in range(10)]
    assert build_export("{input}", rows, **{**LIMITS, "max_rows": 4}).training_rows == 4
    with pytest.raises(ApiError) as too_few:
        build_export("{input}", rows, **{**LIMITS, "min_rows": 11})
    assert too_few.value.status == 409 and too_few.value.code == "not_enough_rows"
    with pytest.raises(ApiError) as too_big:
        build_export("{input}", rows, **{**LIMITS, "max_bytes": 200})
    assert too_big.value.status == 409 and too_big.value.code == "training_file_too_large"


def test_a_job_exports_the_current_dataset_version_to_s3(aws, sandbox):
    ft = make_fine_tune_setup(aws, sandbox, n_rows=6)
    status, job = ft.create(validation_fraction=0.5)
    assert status == 201, job
    bucket = aws.settings.aws.bucket_name
    key = job["training"]["training_uri"].removeprefix(f"s3://{bucket}/")
    train = aws.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    validation_key = job["training"].get("validation_uri", "").removeprefix(f"s3://{bucket}/")
    validation = (
        aws.clients.s3.get_object(Bucket=bucket, Key=validation_key)["Body"].read().decode() if validation_key else ""
    )
    # tests.support.runs rows: id r{i}, input "{i} + {i+7}", output 2i+7; the prompt is "{input}".
    lines = {
        f"r{i}": f'{{"messages":[{{"role":"user","content":"{i} + {i + 7}"}},'
        f'{{"role":"assistant","content":"{2 * i + 7}"}}]}}'
        for i in range(6)
    }
    assert train.splitlines() == [line for rid, line in lines.items() if not in_validation(rid, 0.5)]
    assert validation.splitlines() == [line for rid, line in lines.items() if in_validation(rid, 0.5)]
    assert job["training"]["rows"] + job["training"]["validation_rows"] == 6
