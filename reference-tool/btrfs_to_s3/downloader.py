"""Fetch a chunk to a spool file and prove it matches the manifest before use."""

import hashlib
import logging
import tempfile

from . import logs, quirks
from .errors import IntegrityError
from .retry import describe, is_retryable

log = logs.get("restore")
BLOCK = 1024 * 1024


def _download(store, key, spool):
    body = store.get_body(key)
    hasher = hashlib.sha256()
    size = 0
    try:
        while True:
            data = body.read(BLOCK)
            if not data:
                break
            hasher.update(data)
            spool.write(data)
            size += len(data)
    finally:
        close = getattr(body, "close", None)
        if close:
            close()
    return size, hasher.hexdigest()


def _mismatch(key, chunk, size, digest):
    """Log the bad chunk; the IntegrityError to raise."""
    if quirks.on("error-wording", "hash"):
        logs.event(log, "chunk_hash_mismatch", level=logging.ERROR, key=key,
                   expected_size=chunk["size"], actual_size=size,
                   expected_hash=chunk["sha256"], actual_hash=digest)
        return IntegrityError(
            f"hash mismatch for {key}: expected {chunk['size']} bytes {chunk['sha256']}, "
            f"got {size} bytes {digest}")
    logs.event(log, "chunk_integrity_failed", level=logging.ERROR, key=key,
               expected_size=chunk["size"], actual_size=size,
               expected_sha256=chunk["sha256"], actual_sha256=digest)
    return IntegrityError(
        f"integrity check failed for chunk {key}: expected {chunk['size']} bytes "
        f"sha256 {chunk['sha256']}, got {size} bytes sha256 {digest}")


def fetch_verified(store, chunk, spool_dir, *, verify=True, attempts=4, sleep=None):
    """Download `chunk` ({key, size, sha256}) into a temp file, rewound.

    A broken transfer is retried from the start; a complete transfer whose
    size or SHA-256 differs is an IntegrityError (the stored object is bad).
    The caller closes the returned file.
    """
    key = chunk["key"]
    for attempt in range(1, attempts + 1):
        spool = tempfile.TemporaryFile(dir=spool_dir, prefix="restore-")
        try:
            size, digest = _download(store, key, spool)
        except Exception as exc:
            spool.close()
            if attempt >= attempts or not is_retryable(exc):
                raise
            logs.event(log, "chunk_download_retry", level=logging.WARNING, key=key,
                       attempt=attempt, error=describe(exc))
            if sleep:
                sleep(min(20.0, 2 ** (attempt - 1)))
            continue
        if verify and (size != chunk["size"] or digest != chunk["sha256"]):
            spool.close()
            raise _mismatch(key, chunk, size, digest)
        spool.seek(0)
        return spool
    raise AssertionError("unreachable")
