"""The S3 operations the tool uses, on one bucket, each call retried."""

import json

from . import logs
from .retry import error_code, is_not_found

log = logs.get("s3")
SSE = "AES256"


class Store:
    def __init__(self, client, bucket, retrier):
        self.client = client
        self.bucket = bucket
        self.retrier = retrier

    def _call(self, op, **kwargs):
        method = getattr(self.client, op)
        return self.retrier.call(op, method, Bucket=self.bucket, **kwargs)

    @staticmethod
    def _object_args(storage_class, content_type, sse):
        args = {}
        if storage_class:
            args["StorageClass"] = storage_class
        if content_type:
            args["ContentType"] = content_type
        if sse:
            args["ServerSideEncryption"] = SSE
        return args

    def put(self, key, body, storage_class, content_type=None, sse=True, if_match=None, if_none_match=None):
        """PutObject; `if_match` / `if_none_match` make it conditional (412 on a mismatch)."""
        conditions = {}
        if if_match:
            conditions["IfMatch"] = if_match
        if if_none_match:
            conditions["IfNoneMatch"] = if_none_match
        response = self._call("put_object", Key=key, Body=body,
                              **self._object_args(storage_class, content_type, sse), **conditions)
        return response.get("ETag")

    def put_json(self, key, document, storage_class, sse=True, content_type="application/json", **conditions):
        body = (json.dumps(document, indent=2) + "\n").encode()
        return self.put(key, body, storage_class, content_type=content_type, sse=sse, **conditions)

    def head(self, key):
        """HeadObject's response, or None when the object does not exist."""
        try:
            return self._call("head_object", Key=key)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise

    def has_prefix(self, prefix):
        response = self._call("list_objects_v2", Prefix=prefix, MaxKeys=1)
        return bool(response.get("KeyCount") or response.get("Contents"))

    def incomplete_uploads(self, prefix):
        """(key, upload_id) of every multipart upload in progress under prefix."""
        found = []
        kwargs = {"Prefix": prefix}
        while True:
            response = self._call("list_multipart_uploads", **kwargs)
            for upload in response.get("Uploads", []) or []:
                found.append((upload["Key"], upload["UploadId"]))
            if not response.get("IsTruncated"):
                return found
            kwargs["KeyMarker"] = response.get("NextKeyMarker")
            kwargs["UploadIdMarker"] = response.get("NextUploadIdMarker")

    def create_multipart(self, key, storage_class, sse=True):
        response = self._call("create_multipart_upload", Key=key,
                              **self._object_args(storage_class, None, sse))
        return response["UploadId"]

    def upload_part(self, key, upload_id, number, data):
        response = self._call("upload_part", Key=key, UploadId=upload_id,
                              PartNumber=number, Body=data)
        return response["ETag"]

    def complete_multipart(self, key, upload_id, parts, expected_size):
        """Complete an upload; tolerate a retry after a lost success reply."""
        try:
            response = self._call(
                "complete_multipart_upload", Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in parts]},
            )
            return response.get("ETag")
        except Exception as exc:
            if error_code(exc) != "NoSuchUpload":
                raise
            # An earlier attempt may have completed the upload before its
            # reply was lost: accept it only if the object is there, whole.
            head = self.head(key)
            if head is None or head.get("ContentLength") != expected_size:
                raise
            return head.get("ETag")

    def abort_multipart(self, key, upload_id):
        self._call("abort_multipart_upload", Key=key, UploadId=upload_id)

    def get_body(self, key):
        return self._call("get_object", Key=key)["Body"]

    def get_json(self, key):
        body = self.get_body(key)
        try:
            return json.loads(body.read())
        finally:
            close = getattr(body, "close", None)
            if close:
                close()

    def restore_object(self, key, tier, days=1):
        self._call("restore_object", Key=key, RestoreRequest={
            "Days": days, "GlacierJobParameters": {"Tier": tier},
        })
