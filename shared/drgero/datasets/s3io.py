"""Uploading a (possibly large) seekable stream to S3 and getting its object version back."""

from __future__ import annotations

import io
from typing import IO, Any

MULTIPART_PART_BYTES = 64 * 1024 * 1024


def upload_stream(s3: Any, bucket: str, key: str, stream: IO[bytes], content_type: str) -> str:
    """Uploads from the start of ``stream``; returns the S3 VersionId ("" if unversioned).

    Multipart above 64 MB. boto3's managed transfer would do the parts too, but it does not
    return the VersionId, and the dataset pointer must name the exact object version."""
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    if size <= MULTIPART_PART_BYTES:
        return s3.put_object(Bucket=bucket, Key=key, Body=stream.read(), ContentType=content_type).get("VersionId", "")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)["UploadId"]
    parts = []
    try:
        number = 1
        while chunk := stream.read(MULTIPART_PART_BYTES):
            response = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk)
            parts.append({"ETag": response["ETag"], "PartNumber": number})
            number += 1
        done = s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        # Re-raised after cleanup; the bucket's lifecycle rule also aborts abandoned uploads.
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return done.get("VersionId", "")
