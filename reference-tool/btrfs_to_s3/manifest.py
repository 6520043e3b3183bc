"""Manifest and pointer documents: building them, and checking them on restore."""

import re

from . import defects, naming, wording
from .errors import ToolError

VERSION = 1
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class ManifestError(ToolError):
    pass


def chunk_entry(result):
    return {"key": result.key, "size": result.size, "sha256": result.sha256, "etag": result.etag}


def build(*, subvolume, kind, created_at, snapshot_name, snapshot_path, uuid, parent_uuid,
          parent_manifest, chunks, chunk_size, storage_class):
    """The manifest of one backup; `chunks` are ChunkResults in stream order."""
    entries = []
    for result in chunks:
        if defects.enabled("chunks-out-of-order"):
            entries.insert(0, chunk_entry(result))
        else:
            entries.append(chunk_entry(result))
    if defects.enabled("last-chunk-missing"):
        entries = entries[:-1]
    if defects.enabled("total-bytes-off"):
        total = len(chunks) * chunk_size
    else:
        total = sum(entry["size"] for entry in entries)
    return {
        "version": VERSION,
        "subvolume": subvolume,
        "kind": kind,
        "created_at": created_at,
        "snapshot": {
            "name": snapshot_name,
            "path": snapshot_path,
            "uuid": uuid,
            "parent_uuid": parent_uuid,
        },
        "parent_manifest": parent_manifest if kind == naming.INCREMENTAL else None,
        "chunks": entries,
        "total_bytes": total,
        "chunk_size": chunk_size,
        "s3": {"storage_class": storage_class},
    }


def pointer(manifest_key, kind, created_at):
    return {"manifest_key": manifest_key, "kind": kind, "created_at": created_at}


def validate(document, key, subvolume):
    """Check a downloaded manifest before trusting it; raise ManifestError."""
    def fail(problem):
        raise ManifestError(wording.say(f"manifest {key}: {problem}", f"{key} is not a usable manifest: {problem}"))

    if not isinstance(document, dict):
        fail("not a JSON object")
    if document.get("version") != VERSION:
        fail(f"unsupported version {document.get('version')!r}")
    if document.get("subvolume") != subvolume:
        fail(f"belongs to subvolume {document.get('subvolume')!r}, not {subvolume!r}")
    kind = document.get("kind")
    if kind not in naming.KINDS:
        fail(f"unknown kind {kind!r}")
    parsed = naming.parse_manifest_key(key)
    if parsed and parsed[1] != kind:
        fail(f"kind {kind!r} does not match the key's {parsed[1]!r} segment")
    parent = document.get("parent_manifest")
    if kind == naming.FULL and parent is not None:
        fail("a full backup must not have a parent_manifest")
    if kind == naming.INCREMENTAL and not isinstance(parent, str):
        fail("an incremental backup needs a parent_manifest")
    snapshot = document.get("snapshot")
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("name"), str) \
            or not snapshot["name"] or "/" in snapshot["name"]:
        fail("snapshot.name is missing or invalid")
    chunks = document.get("chunks")
    if not isinstance(chunks, list) or not chunks:
        fail("has no chunks")
    total = 0
    for index, chunk in enumerate(chunks):
        if not isinstance(chunk, dict) or not isinstance(chunk.get("key"), str):
            fail(f"chunk {index} has no key")
        size = chunk.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            fail(f"chunk {index} has an invalid size {size!r}")
        if not isinstance(chunk.get("sha256"), str) or not _SHA256_RE.match(chunk["sha256"]):
            fail(wording.say(f"chunk {index} has an invalid sha256", f"chunk {index} has no proper hash"))
        total += size
    if document.get("total_bytes") != total:
        fail(f"total_bytes {document.get('total_bytes')!r} is not the sum of chunk sizes {total}")
    return document
