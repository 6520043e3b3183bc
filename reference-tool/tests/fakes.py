"""Test doubles: an in-memory S3 client, a btrfs that works on plain dirs, a config."""

import hashlib
import io
import json
import os
import shutil
import threading
import uuid as uuidlib

from btrfs_to_s3 import config as configmod
from btrfs_to_s3.btrfs import BtrfsError

MIB = 1024 * 1024


class FakeClientError(Exception):
    """Shaped like botocore's ClientError: a `response` dict."""

    def __init__(self, code, status, message="fake error"):
        super().__init__(f"{code} ({status}): {message}")
        self.response = {"Error": {"Code": code, "Message": message},
                         "ResponseMetadata": {"HTTPStatusCode": status}}


class NoCredentialsError(Exception):
    """Named like botocore's, which is how the tool recognises it."""


class ConnectionClosedError(Exception):
    pass


class _Body(io.BytesIO):
    pass


class FakeS3:
    """Enough of the S3 API for the tool, with a journal and scheduled faults."""

    def __init__(self, bucket="bkt", restore_polls=2):
        self.bucket = bucket
        self.objects = {}
        self.uploads = {}
        self.journal = []
        self.faults = []  # (op, key predicate, exception) consumed once each
        self.restore_polls = restore_polls
        self.restores = {}  # key -> heads remaining until ready
        self._lock = threading.Lock()
        self._next_upload = 0

    # -- test helpers ------------------------------------------------------

    def fail_next(self, op, exc, key_contains=""):
        self.faults.append((op, key_contains, exc))

    def ops(self, op=None):
        return [entry for entry in self.journal if op is None or entry["op"] == op]

    def body(self, key):
        return self.objects[key]["body"]

    def json(self, key):
        return json.loads(self.objects[key]["body"])

    def _enter(self, op, kwargs):
        assert kwargs.get("Bucket") == self.bucket, kwargs
        key = kwargs.get("Key", kwargs.get("Prefix", ""))
        with self._lock:
            for index, (f_op, contains, exc) in enumerate(self.faults):
                if f_op == op and contains in key:
                    del self.faults[index]
                    self.journal.append({"op": op, "key": key, "fault": type(exc).__name__})
                    raise exc
        return key

    def _log(self, op, key, **extra):
        with self._lock:
            entry = {"op": op, "key": key}
            entry.update(extra)
            self.journal.append(entry)

    @staticmethod
    def _meta(kwargs):
        return {
            "storage_class": kwargs.get("StorageClass", "STANDARD"),
            "sse": kwargs.get("ServerSideEncryption"),
            "content_type": kwargs.get("ContentType"),
        }

    # -- S3 operations -----------------------------------------------------

    def put_object(self, **kwargs):
        key = self._enter("PutObject", kwargs)
        body = kwargs["Body"]
        body = body.read() if hasattr(body, "read") else bytes(body)
        etag = f'"{hashlib.md5(body).hexdigest()}"'
        meta = self._meta(kwargs)
        with self._lock:
            self._check_conditions(key, kwargs)
            overwrite = key in self.objects
            self.objects[key] = dict(meta, body=body, etag=etag)
        self._log("PutObject", key, size=len(body), overwrite=overwrite, **meta, **self._conditions(kwargs))
        return {"ETag": etag}

    @staticmethod
    def _conditions(kwargs):
        return {name: kwargs[arg] for name, arg in (("if_match", "IfMatch"), ("if_none_match", "IfNoneMatch"))
                if kwargs.get(arg) is not None}

    def _check_conditions(self, key, kwargs):
        """If-Match / If-None-Match as S3 judges a write (the lock held)."""
        current = self.objects.get(key)
        if kwargs.get("IfNoneMatch") is not None:
            assert kwargs["IfNoneMatch"] == "*", "If-None-Match takes only *"
            if current is not None:
                self._refuse(key, kwargs, "PreconditionFailed", 412)
        if kwargs.get("IfMatch") is not None:
            if current is None:
                self._refuse(key, kwargs, "NoSuchKey", 404)
            if kwargs["IfMatch"].strip('"') != current["etag"].strip('"'):
                self._refuse(key, kwargs, "PreconditionFailed", 412)

    def _refuse(self, key, kwargs, code, status):
        self.journal.append(dict({"op": "PutObject", "key": key, "refused": code}, **self._conditions(kwargs)))
        raise FakeClientError(code, status)

    def create_multipart_upload(self, **kwargs):
        key = self._enter("CreateMultipartUpload", kwargs)
        with self._lock:
            self._next_upload += 1
            upload_id = f"upload-{self._next_upload}"
            self.uploads[upload_id] = {"key": key, "parts": {}, "meta": self._meta(kwargs)}
        self._log("CreateMultipartUpload", key, upload_id=upload_id, **self._meta(kwargs))
        return {"UploadId": upload_id}

    def upload_part(self, **kwargs):
        key = self._enter("UploadPart", kwargs)
        body = kwargs["Body"]
        body = body.read() if hasattr(body, "read") else bytes(body)
        with self._lock:
            upload = self.uploads.get(kwargs["UploadId"])
            if upload is None:
                raise FakeClientError("NoSuchUpload", 404)
            etag = f'"{hashlib.md5(body).hexdigest()}"'
            upload["parts"][kwargs["PartNumber"]] = (body, etag)
        self._log("UploadPart", key, part=kwargs["PartNumber"], size=len(body))
        return {"ETag": etag}

    def complete_multipart_upload(self, **kwargs):
        key = self._enter("CompleteMultipartUpload", kwargs)
        with self._lock:
            upload = self.uploads.get(kwargs["UploadId"])
            if upload is None:
                raise FakeClientError("NoSuchUpload", 404)
            listed = kwargs["MultipartUpload"]["Parts"]
            numbers = [p["PartNumber"] for p in listed]
            assert numbers == sorted(numbers), "parts must be listed in order"
            bodies = []
            for i, part in enumerate(listed):
                body, etag = upload["parts"][part["PartNumber"]]
                if part["ETag"] != etag:
                    raise FakeClientError("InvalidPart", 400)
                if i < len(listed) - 1 and len(body) < 5 * MIB:
                    raise FakeClientError("EntityTooSmall", 400)
                bodies.append(body)
            data = b"".join(bodies)
            etag = f'"{hashlib.md5(b"".join(hashlib.md5(b).digest() for b in bodies)).hexdigest()}-{len(bodies)}"'
            overwrite = key in self.objects
            self.objects[key] = dict(upload["meta"], body=data, etag=etag)
            del self.uploads[kwargs["UploadId"]]
        self._log("CompleteMultipartUpload", key, size=len(data), overwrite=overwrite, **upload["meta"])
        return {"ETag": etag}

    def abort_multipart_upload(self, **kwargs):
        key = self._enter("AbortMultipartUpload", kwargs)
        with self._lock:
            if self.uploads.pop(kwargs["UploadId"], None) is None:
                raise FakeClientError("NoSuchUpload", 404)
        self._log("AbortMultipartUpload", key, upload_id=kwargs["UploadId"])
        return {}

    def list_multipart_uploads(self, **kwargs):
        prefix = self._enter("ListMultipartUploads", kwargs)
        with self._lock:
            uploads = [{"Key": u["key"], "UploadId": uid} for uid, u in sorted(self.uploads.items())
                       if u["key"].startswith(prefix)]
        return {"Uploads": uploads, "IsTruncated": False}

    def list_objects_v2(self, **kwargs):
        prefix = self._enter("ListObjectsV2", kwargs)
        with self._lock:
            keys = sorted(k for k in self.objects if k.startswith(prefix))[: kwargs.get("MaxKeys", 1000)]
        return {"KeyCount": len(keys), "Contents": [{"Key": k} for k in keys]}

    def head_object(self, **kwargs):
        key = self._enter("HeadObject", kwargs)
        with self._lock:
            obj = self.objects.get(key)
            if obj is None:
                raise FakeClientError("404", 404, "Not Found")
            response = {"ContentLength": len(obj["body"]), "ETag": obj["etag"]}
            if obj["storage_class"] != "STANDARD":
                response["StorageClass"] = obj["storage_class"]
            if key in self.restores:
                if self.restores[key] > 0:
                    self.restores[key] -= 1
                    response["Restore"] = 'ongoing-request="true"'
                else:
                    response["Restore"] = 'ongoing-request="false", expiry-date="Fri, 01 Jan 2100 00:00:00 GMT"'
        self._log("HeadObject", key)
        return response

    def restore_object(self, **kwargs):
        key = self._enter("RestoreObject", kwargs)
        with self._lock:
            obj = self.objects.get(key)
            if obj is None:
                raise FakeClientError("NoSuchKey", 404)
            if obj["storage_class"] not in ("GLACIER", "DEEP_ARCHIVE"):
                raise FakeClientError("InvalidObjectState", 403)
            if key in self.restores and self.restores[key] > 0:
                raise FakeClientError("RestoreAlreadyInProgress", 409)
            self.restores.setdefault(key, self.restore_polls)
        self._log("RestoreObject", key, tier=kwargs["RestoreRequest"]["GlacierJobParameters"]["Tier"])
        return {}

    def get_object(self, **kwargs):
        key = self._enter("GetObject", kwargs)
        with self._lock:
            obj = self.objects.get(key)
            if obj is None:
                raise FakeClientError("NoSuchKey", 404)
            if obj["storage_class"] in ("GLACIER", "DEEP_ARCHIVE") and self.restores.get(key, 1) > 0:
                raise FakeClientError("InvalidObjectState", 403)
            body = obj["body"]
        self._log("GetObject", key, size=len(body))
        return {"Body": _Body(body), "ContentLength": len(body)}


# -- btrfs ---------------------------------------------------------------------

MARKER = ".fake-subvolume.json"


def _read_marker(path):
    try:
        with open(os.path.join(path, MARKER)) as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise BtrfsError(f"{path} is not a subvolume") from None


def _write_marker(path, marker):
    with open(os.path.join(path, MARKER), "w") as handle:
        json.dump(marker, handle)


class FakeSend:
    def __init__(self, data, fail=False):
        self.stdout = io.BytesIO(data)
        self.fail = fail
        self.aborted = False

    def finish(self):
        if self.fail:
            raise BtrfsError("btrfs send failed (fake)")

    def abort(self):
        self.aborted = True


class FakeReceive:
    """Parses the fake stream: one JSON header line, then the tree's bytes."""

    def __init__(self, btrfs, dest):
        self.btrfs = btrfs
        self.dest = dest
        self.buffer = bytearray()

    def write(self, data):
        self.buffer.extend(data)

    def finish(self):
        header, _, payload = bytes(self.buffer).partition(b"\n")
        try:
            meta = json.loads(header)
        except ValueError:
            raise BtrfsError("btrfs receive: invalid stream (fake)") from None
        if len(payload) != meta["length"] or hashlib.sha256(payload).hexdigest() != meta["sha256"]:
            raise BtrfsError("btrfs receive: corrupt stream (fake)")
        if meta["parent_uuid"]:
            found = [n for n in os.listdir(self.dest)
                     if os.path.exists(os.path.join(self.dest, n, MARKER))
                     and _read_marker(os.path.join(self.dest, n)).get("received_uuid") == meta["parent_uuid"]]
            if not found:
                raise BtrfsError("btrfs receive: cannot find parent subvolume (fake)")
        path = os.path.join(self.dest, meta["name"])
        os.mkdir(path)
        with open(os.path.join(path, "content.bin"), "wb") as handle:
            handle.write(payload)
        _write_marker(path, {"uuid": str(uuidlib.uuid4()), "received_uuid": meta["uuid"], "readonly": True})
        # Like receive's utimes commands: the tree's times as the stream says.
        for name, mtime_ns in (("content.bin", meta.get("content_mtime_ns")), ("", meta.get("root_mtime_ns"))):
            if mtime_ns is not None:
                os.utime(os.path.join(path, name) if name else path, ns=(mtime_ns, mtime_ns))
        self.btrfs.received.append(meta)

    def abort(self):
        # A killed receive leaves a partial, writable subvolume behind.
        header, _, _ = bytes(self.buffer).partition(b"\n")
        try:
            name = json.loads(header)["name"]
        except (ValueError, KeyError):
            return
        path = os.path.join(self.dest, name)
        if not os.path.exists(path):
            os.mkdir(path)
            _write_marker(path, {"uuid": str(uuidlib.uuid4()), "received_uuid": None, "readonly": False})


class FakeBtrfs:
    """Subvolumes are directories with a marker; `content.bin` is the tree.

    The stream carries `content.bin` and the times of it and of the root, so
    a restore compares equal to its source snapshot (restore --verify);
    nothing else of the tree is sent (like a nested subvolume).
    """

    private_names = (MARKER,)

    def __init__(self):
        self.calls = []
        self.received = []
        self.sends = []
        self.fail_send = False

    @staticmethod
    def make_subvolume(path, content):
        os.makedirs(path)
        with open(os.path.join(path, "content.bin"), "wb") as handle:
            handle.write(content)
        _write_marker(path, {"uuid": str(uuidlib.uuid4()), "received_uuid": None, "readonly": False})

    @staticmethod
    def content(path):
        with open(os.path.join(path, "content.bin"), "rb") as handle:
            return handle.read()

    @staticmethod
    def marker(path):
        return _read_marker(path)

    def snapshot(self, source, dest, readonly):
        self.calls.append(("snapshot", source, dest, readonly))
        _read_marker(source)
        if os.path.exists(dest):
            raise BtrfsError(f"{dest} exists")
        shutil.copytree(source, dest)
        _write_marker(dest, {"uuid": str(uuidlib.uuid4()), "received_uuid": None, "readonly": readonly})

    def delete(self, path):
        self.calls.append(("delete", path))
        _read_marker(path)
        shutil.rmtree(path)

    def show(self, path):
        marker = _read_marker(path)
        return {"UUID": marker["uuid"], "Received UUID": marker["received_uuid"]}

    def set_readonly(self, path, readonly):
        self.calls.append(("set_readonly", path, readonly))
        marker = _read_marker(path)
        marker["readonly"] = readonly
        if not readonly:
            marker["received_uuid"] = None  # `property set -f ro false` forgets where it came from
        _write_marker(path, marker)

    def create(self, path):
        self.calls.append(("create", path))
        os.mkdir(path)
        _write_marker(path, {"uuid": str(uuidlib.uuid4()), "received_uuid": None, "readonly": False})

    def copy_tree(self, source, dest):
        self.calls.append(("copy_tree", source, dest))
        shutil.copyfile(os.path.join(source, "content.bin"), os.path.join(dest, "content.bin"))

    def send(self, snapshot, parent=None):
        self.calls.append(("send", snapshot, parent))
        marker = _read_marker(snapshot)
        assert marker["readonly"], "btrfs send needs a read-only snapshot"
        payload = self.content(snapshot)
        parent_uuid = _read_marker(parent)["uuid"] if parent else None
        header = json.dumps({"name": os.path.basename(snapshot), "uuid": marker["uuid"],
                             "parent_uuid": parent_uuid, "length": len(payload),
                             "sha256": hashlib.sha256(payload).hexdigest(),
                             "content_mtime_ns": os.lstat(os.path.join(snapshot, "content.bin")).st_mtime_ns,
                             "root_mtime_ns": os.lstat(snapshot).st_mtime_ns}).encode()
        data = header + b"\n" + payload
        self.sends.append({"snapshot": snapshot, "parent": parent, "bytes": len(data)})
        return FakeSend(data, fail=self.fail_send)

    def receive(self, dest):
        self.calls.append(("receive", dest))
        return FakeReceive(self, dest)


# -- config ----------------------------------------------------------------------

def config_dict(root, **overrides):
    """A complete valid config (as parsed TOML) rooted at the directory `root`."""
    data = {
        "global": {"log_level": "INFO", "state_path": f"{root}/state/state.json",
                   "lock_path": f"{root}/state/lock", "spool_dir": f"{root}/spool",
                   "spool_size_bytes": 64 * MIB},
        "schedule": {"full_every_days": 7, "incremental_every_days": 1, "run_at": "02:00"},
        "snapshots": {"base_dir": f"{root}/fs/snapshots", "retain": 2},
        "subvolumes": {"paths": [f"{root}/fs/data", f"{root}/fs/home"]},
        "s3": {"bucket": "bkt", "region": "us-east-1", "prefix": "pfx", "chunk_size_bytes": 1 * MIB,
               "storage_class_chunks": "STANDARD_IA", "storage_class_manifest": "STANDARD",
               "concurrency": 2, "spool_enabled": False, "sse": "AES256"},
        "restore": {"target_base_dir": f"{root}/fs/restore", "verify_mode": "full",
                    "sample_max_files": 10, "wait_for_restore": True,
                    "restore_timeout_seconds": 60, "restore_tier": "Standard"},
    }
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        data[section][key] = value
    return data


def make_config(root, **overrides):
    return configmod.parse(config_dict(root, **overrides), path=f"{root}/config.toml")


def to_toml(data):
    lines = []
    for section, table in data.items():
        lines.append(f"[{section}]")
        for key, value in table.items():
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


class LogCapture:
    """Capture the tool's log records for a block; `.text` and `.events(name)`."""

    def __enter__(self):
        from btrfs_to_s3 import logs
        self.stream = io.StringIO()
        logs.setup("DEBUG", stream=self.stream)
        return self

    def __exit__(self, *exc):
        from btrfs_to_s3 import logs
        logs.setup("CRITICAL", stream=io.StringIO())
        return False

    @property
    def text(self):
        return self.stream.getvalue()

    def events(self, name):
        return [line for line in self.text.splitlines() if f" event={name} " in line + " "]
