"""The local cloud's periodic state save costs nothing while nothing changed: it counts the
requests that may change state (``moto_atomic.changes``) and skips its snapshot when none was
served, so an idle ``make local`` does not pickle its whole state every period."""

from __future__ import annotations

from localcloud import moto_state


def test_the_saver_snapshots_only_after_a_request_that_may_change_state(aws, tmp_path):
    saver = moto_state.Saver(tmp_path / "aws-state.bin", interval=3600)
    table, s3 = aws.clients.table, aws.clients.s3
    bucket = aws.settings.aws.bucket_name
    assert saver.tick() is True  # the first period always saves
    assert saver.tick() is False  # nothing served since

    table.get("NOPE", "NOPE")
    list(table.query_all("NOPE"))
    s3.list_objects_v2(Bucket=bucket)
    assert saver.tick() is False  # reads change nothing

    table.put({"pk": "SAVER#1", "sk": "X"})
    assert saver.tick() is True
    s3.put_object(Bucket=bucket, Key="saver/one", Body=b"1")
    assert saver.tick() is True
    s3.get_object(Bucket=bucket, Key="saver/one")["Body"].read()
    assert saver.tick() is False
    restored = moto_state.read(saver.path)
    assert restored  # what was written is a readable state file
