"""Conformance of the vmharness embedded S3 endpoint as seen by boto3.

Run by tests/host/s3_boto3.rs with AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION and VMH_BUCKET set, exactly like
the backup tool in the guest (a default boto3 client, path-style by itself).
The endpoint was started with fault rules on keys under fault/ (see the
Rust side). Prints one line per check and exits non-zero on any failure.
"""

import hashlib
import io
import os
import sys
import time
import traceback

import boto3
import botocore
import botocore.httpchecksum
from botocore.config import Config
from botocore.exceptions import ClientError

BUCKET = os.environ["VMH_BUCKET"]
MIB = 1024 * 1024

s3 = boto3.client("s3")
no_retry = boto3.client("s3", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))

results = []


def check(fn):
    try:
        fn()
        results.append((fn.__name__, None))
        print(f"ok   {fn.__name__}", flush=True)
    except Exception:  # noqa: BLE001 - report every failure, keep going
        results.append((fn.__name__, traceback.format_exc()))
        print(f"FAIL {fn.__name__}\n{traceback.format_exc()}", flush=True)
    return fn


def expect_error(code, status, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except ClientError as e:
        got = (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])
        assert got == (code, status), f"expected {(code, status)}, got {got}"
        return e
    raise AssertionError(f"expected {code} {status}, call succeeded")


def data(n, seed=0):
    return bytes((i * 31 + seed) % 256 for i in range(n))


@check
def versions():
    major, minor = (int(x) for x in boto3.__version__.split(".")[:2])
    assert (major, minor) >= (1, 36), f"boto3 {boto3.__version__} is older than 1.36"
    print(f"     boto3 {boto3.__version__} botocore {botocore.__version__}")


@check
def put_get_head_with_checksums_and_sse():
    body = data(1000)
    r = s3.put_object(Bucket=BUCKET, Key="b/obj", Body=body, ContentType="application/json")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest(), r["ETag"]
    assert r["ServerSideEncryption"] == "AES256"
    assert "ChecksumCRC32" in r, "boto3 sent CRC32 and it is echoed"
    g = s3.get_object(Bucket=BUCKET, Key="b/obj")  # boto3 validates the CRC32
    assert g["Body"].read() == body
    assert g["ServerSideEncryption"] == "AES256"
    assert "StorageClass" not in g
    h = s3.head_object(Bucket=BUCKET, Key="b/obj")
    assert h["ContentLength"] == 1000 and h["ContentType"] == "application/json"
    expect_error("404", 404, s3.head_object, Bucket=BUCKET, Key="b/missing")
    expect_error("NoSuchKey", 404, s3.get_object, Bucket=BUCKET, Key="b/missing")


@check
def aws_chunked_trailer_checksum():
    # botocore only uses trailers over https; pretend, to send what a TLS
    # endpoint would get: aws-chunked body with an x-amz-checksum-crc32 trailer.
    real = botocore.httpchecksum.urlparse

    class Https:
        def __init__(self, url):
            self.scheme = "https"

    botocore.httpchecksum.urlparse = Https
    try:
        body = data(300 * 1024, 5)
        r = s3.put_object(Bucket=BUCKET, Key="trailer/obj", Body=io.BytesIO(body))
        assert "ChecksumCRC32" in r
    finally:
        botocore.httpchecksum.urlparse = real
    assert s3.get_object(Bucket=BUCKET, Key="trailer/obj")["Body"].read() == body


@check
def ranged_gets():
    r = s3.get_object(Bucket=BUCKET, Key="b/obj", Range="bytes=2-4")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert r["ContentRange"] == "bytes 2-4/1000", r["ContentRange"]
    assert r["Body"].read() == data(1000)[2:5]
    r = s3.get_object(Bucket=BUCKET, Key="b/obj", Range="bytes=-10")
    assert r["Body"].read() == data(1000)[-10:]
    expect_error("InvalidRange", 416, s3.get_object, Bucket=BUCKET, Key="b/obj", Range="bytes=2000-")


HOSTILE = ["k/a", "k/a/b", "k/a+b", "k/a%2Fb", "k/with space", "k/ü/ñ 文字", "k/a/../b", "k/x//y", "k/q?x=1&y"]


@check
def hostile_keys_list_with_paging():
    for i, k in enumerate(HOSTILE):
        s3.put_object(Bucket=BUCKET, Key=k, Body=data(i + 1))
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix="k/", PaginationConfig={"PageSize": 2}
    )
    keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    assert keys == sorted(HOSTILE, key=lambda k: k.encode()), keys
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="k/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == sorted(
        [k for k in HOSTILE if "/" not in k[2:]], key=lambda k: k.encode()
    )
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["k/a/", "k/x/", "k/ü/"]
    for k in HOSTILE:
        assert s3.head_object(Bucket=BUCKET, Key=k)["ContentLength"] > 0, k


@check
def delete_objects_quiet_and_limits():
    for i in range(3):
        s3.put_object(Bucket=BUCKET, Key=f"d/{i}", Body=b"x")
    r = s3.delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": "d/0"}, {"Key": "d/1"}], "Quiet": True}
    )
    assert not r.get("Deleted") and not r.get("Errors"), r
    r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "d/2"}]})
    assert [d["Key"] for d in r["Deleted"]] == ["d/2"]
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="d/")
    objs = [{"Key": f"d/{i}"} for i in range(1001)]
    expect_error("MalformedXML", 400, s3.delete_objects, Bucket=BUCKET, Delete={"Objects": objs})
    r = s3.delete_object(Bucket=BUCKET, Key="d/never")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204


@check
def multipart_via_s3transfer():
    body = data(12 * MIB, 9)
    cfg = boto3.s3.transfer.TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    s3.upload_fileobj(io.BytesIO(body), BUCKET, "mp/big.bin", Config=cfg,
                      ExtraArgs={"StorageClass": "STANDARD_IA", "ServerSideEncryption": "AES256"})
    h = s3.head_object(Bucket=BUCKET, Key="mp/big.bin", ChecksumMode="ENABLED")
    parts = [body[i:i + 5 * MIB] for i in range(0, len(body), 5 * MIB)]
    want = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert h["ETag"] == f'"{want}-3"', h["ETag"]
    assert h["ContentLength"] == len(body)
    assert h["StorageClass"] == "STANDARD_IA"
    assert h["ServerSideEncryption"] == "AES256"
    assert h.get("ChecksumCRC32", "").endswith("-3"), h.get("ChecksumCRC32")
    out = io.BytesIO()
    s3.download_fileobj(BUCKET, "mp/big.bin", out)
    assert hashlib.sha256(out.getvalue()).digest() == hashlib.sha256(body).digest()


@check
def multipart_rules_and_listing():
    key = "mp/manual.bin"
    up = s3.create_multipart_upload(Bucket=BUCKET, Key=key, StorageClass="GLACIER")
    uid = up["UploadId"]
    p1 = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=1, Body=data(5 * MIB, 1))
    p2 = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=2, Body=data(1024, 2))
    p3 = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=3, Body=data(10, 3))
    assert "ChecksumCRC32" in p1
    ups = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="mp/")["Uploads"]
    assert [(u["Key"], u["UploadId"], u["StorageClass"]) for u in ups] == [(key, uid, "GLACIER")]
    lp = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=uid)
    assert [(p["PartNumber"], p["Size"]) for p in lp["Parts"]] == [(1, 5 * MIB), (2, 1024), (3, 10)]
    part = lambda n, r: {"PartNumber": n, "ETag": r["ETag"]}  # noqa: E731
    expect_error("EntityTooSmall", 400, s3.complete_multipart_upload, Bucket=BUCKET, Key=key,
                 UploadId=uid, MultipartUpload={"Parts": [part(1, p1), part(2, p2), part(3, p3)]})
    expect_error("InvalidPart", 400, s3.complete_multipart_upload, Bucket=BUCKET, Key=key,
                 UploadId=uid, MultipartUpload={"Parts": [part(1, p1), {"PartNumber": 3, "ETag": '"00"'}]})
    expect_error("InvalidPartOrder", 400, s3.complete_multipart_upload, Bucket=BUCKET, Key=key,
                 UploadId=uid, MultipartUpload={"Parts": [part(3, p3), part(1, p1)]})
    r = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                     MultipartUpload={"Parts": [part(1, p1), part(3, p3)]})
    assert r["ETag"].endswith('-2"'), r["ETag"]
    h = s3.head_object(Bucket=BUCKET, Key=key)
    assert h["ContentLength"] == 5 * MIB + 10 and h["StorageClass"] == "GLACIER"
    expect_error("NoSuchUpload", 404, s3.upload_part, Bucket=BUCKET, Key=key, UploadId="nope",
                 PartNumber=1, Body=b"x")
    expect_error("NoSuchUpload", 404, s3.abort_multipart_upload, Bucket=BUCKET, Key=key, UploadId="nope")
    expect_error("NoSuchUpload", 404, s3.list_parts, Bucket=BUCKET, Key=key, UploadId="nope")
    u2 = s3.create_multipart_upload(Bucket=BUCKET, Key="mp/aborted")["UploadId"]
    s3.abort_multipart_upload(Bucket=BUCKET, Key="mp/aborted", UploadId=u2)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=BUCKET, Prefix="mp/")


@check
def storage_classes_and_restore():
    for cls in ["STANDARD", "STANDARD_IA", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR"]:
        s3.put_object(Bucket=BUCKET, Key=f"sc/{cls}", Body=b"archived", StorageClass=cls,
                      ServerSideEncryption="AES256")
        h = s3.head_object(Bucket=BUCKET, Key=f"sc/{cls}")
        assert h.get("StorageClass") == (None if cls == "STANDARD" else cls), h.get("StorageClass")
        assert h["ServerSideEncryption"] == "AES256"
    for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="sc/")["Contents"]:
        assert o["StorageClass"] == o["Key"][3:], o
    for cls in ["STANDARD", "GLACIER_IR"]:
        expect_error("InvalidObjectState", 403, s3.restore_object, Bucket=BUCKET, Key=f"sc/{cls}",
                     RestoreRequest={"Days": 1})
    for cls in ["GLACIER", "DEEP_ARCHIVE"]:
        key = f"sc/{cls}"
        expect_error("InvalidObjectState", 403, s3.get_object, Bucket=BUCKET, Key=key)
        assert "Restore" not in s3.head_object(Bucket=BUCKET, Key=key)
        r = s3.restore_object(Bucket=BUCKET, Key=key,
                              RestoreRequest={"Days": 1, "GlacierJobParameters": {"Tier": "Standard"}})
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 202
        expect_error("RestoreAlreadyInProgress", 409, s3.restore_object, Bucket=BUCKET, Key=key,
                     RestoreRequest={"Days": 1})
        assert s3.head_object(Bucket=BUCKET, Key=key)["Restore"] == 'ongoing-request="true"'
    deadline = time.time() + 20
    for cls in ["GLACIER", "DEEP_ARCHIVE"]:
        key = f"sc/{cls}"
        while 'ongoing-request="true"' in s3.head_object(Bucket=BUCKET, Key=key)["Restore"]:
            assert time.time() < deadline, "restore never finished"
            time.sleep(0.1)
        restore = s3.head_object(Bucket=BUCKET, Key=key)["Restore"]
        assert restore.startswith('ongoing-request="false", expiry-date="'), restore
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"archived"
        r = s3.restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 2})
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200


@check
def copy_object():
    s3.copy_object(Bucket=BUCKET, Key="c/copy", CopySource={"Bucket": BUCKET, "Key": "b/obj"},
                   StorageClass="STANDARD_IA")
    assert s3.get_object(Bucket=BUCKET, Key="c/copy")["Body"].read() == data(1000)
    expect_error("InvalidRequest", 400, s3.copy_object, Bucket=BUCKET, Key="c/copy",
                 CopySource={"Bucket": BUCKET, "Key": "c/copy"})


@check
def bad_input_gets_aws_codes():
    expect_error("NoSuchBucket", 404, s3.put_object, Bucket="no-such-bucket", Key="k", Body=b"x")
    bad = boto3.client("s3", aws_secret_access_key="wrong", aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                       config=Config(retries={"total_max_attempts": 1}))
    expect_error("SignatureDoesNotMatch", 403, bad.list_objects_v2, Bucket=BUCKET)
    expect_error("InvalidStorageClass", 400, s3.put_object, Bucket=BUCKET, Key="k", Body=b"x",
                 StorageClass="FANCY")
    expect_error("BadDigest", 400, no_retry.put_object, Bucket=BUCKET, Key="k", Body=b"abc",
                 ChecksumCRC32="AAAAAA==")


@check
def injected_faults_and_boto3_retries():
    # Rules set by the Rust test: fault/slow (SlowDown x1), fault/err
    # (InternalError x1), fault/reset (Reset x1).
    expect_error("SlowDown", 503, no_retry.put_object, Bucket=BUCKET, Key="fault/slow", Body=b"x")
    no_retry.put_object(Bucket=BUCKET, Key="fault/slow", Body=b"x")
    r = s3.put_object(Bucket=BUCKET, Key="fault/err", Body=b"y")  # retried by boto3
    assert r["ResponseMetadata"]["RetryAttempts"] == 1, r["ResponseMetadata"]
    # The RST itself is asserted (ECONNRESET) by the Rust tests; botocore
    # reports it as a closed connection without a response.
    try:
        no_retry.put_object(Bucket=BUCKET, Key="fault/reset", Body=b"z")
        raise AssertionError("reset did not surface")
    except (botocore.exceptions.ConnectionError, botocore.exceptions.ConnectionClosedError) as e:
        print(f"     reset seen by boto3 as: {type(e).__name__}")
    no_retry.put_object(Bucket=BUCKET, Key="fault/reset", Body=b"z")


failed = [name for name, err in results if err]
print(f"boto3 conformance: {len(results) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
