"""Upload one chunk: a single PUT up to 5 MiB, multipart above, bounded memory.

At most `concurrency` parts are in flight and one more is being read, so
memory stays below (concurrency + 1) * part_size whatever the chunk size.
A failed or interrupted multipart upload is aborted, and so is one whose
`cancelled` event is set (another chunk of a concurrent upload failed).
"""

import concurrent.futures
import dataclasses
import logging

from . import chunking, logs, quirks

log = logs.get("upload")


class UploadCancelled(Exception):
    """The upload was called off from outside (see `cancelled`)."""


@dataclasses.dataclass(frozen=True)
class ChunkResult:
    key: str
    size: int
    sha256: str
    etag: str = None


class ChunkUploader:
    def __init__(self, store, storage_class, *, sse=True, multipart_sse=True,
                 concurrency=1, part_size=chunking.DEFAULT_PART, abort_on_failure=True,
                 one_part=False, cancelled=None):
        if part_size <= chunking.SINGLE_PUT_MAX:
            raise ValueError("part size must exceed the single-PUT limit")
        self.store = store
        self.storage_class = storage_class
        self.sse = sse
        self.multipart_sse = multipart_sse
        self.concurrency = max(1, concurrency)
        self.part_size = part_size
        self.abort_on_failure = abort_on_failure
        # The one-part-per-chunk quirk: part_size holds a whole chunk.
        self.one_part = one_part
        self.cancelled = cancelled

    def _check_cancelled(self, key):
        if self.cancelled is not None and self.cancelled.is_set():
            raise UploadCancelled(f"upload of {key} called off")

    def upload(self, key, reader, hasher, before_commit=None):
        """Upload what `reader` yields as object `key`; None if it is empty.

        `hasher` is fed the bytes in stream order; `before_commit` runs once
        all bytes are read, just before the object is committed.
        """
        head = reader.read(chunking.SINGLE_PUT_MAX + 1)
        if not head:
            return None
        if len(head) <= chunking.SINGLE_PUT_MAX:
            hasher.update(head)
            if before_commit:
                before_commit()
            self._check_cancelled(key)
            etag = self.store.put(key, head, self.storage_class, sse=self.sse)
            return ChunkResult(key, len(head), hasher.hexdigest(), etag)
        return self._multipart(key, head, reader, hasher, before_commit)

    def _multipart(self, key, head, reader, hasher, before_commit):
        if self.one_part:
            quirks.path("one-part-per-chunk", "multipart")
        upload_id = self.store.create_multipart(key, self.storage_class, sse=self.multipart_sse)
        logs.event(log, "multipart_started", level=logging.DEBUG, key=key, upload_id=upload_id)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            parts, size = self._send_parts(pool, key, upload_id, head, reader, hasher)
            pool.shutdown(wait=True)
            if before_commit:
                before_commit()
            self._check_cancelled(key)
            etag = self.store.complete_multipart(key, upload_id, sorted(parts.items()), size)
            return ChunkResult(key, size, hasher.hexdigest(), etag)
        except BaseException as exc:
            pool.shutdown(wait=True, cancel_futures=True)
            self._abort(key, upload_id, exc)
            raise

    def _send_parts(self, pool, key, upload_id, head, reader, hasher):
        parts = {}
        pending = set()
        size = 0
        number = 1
        data = head + reader.read(self.part_size - len(head))
        while data:
            hasher.update(data)
            size += len(data)
            while len(pending) >= self.concurrency:
                done, pending = concurrent.futures.wait(
                    pending, return_when=concurrent.futures.FIRST_COMPLETED)
                parts.update(future.result() for future in done)
            self._check_cancelled(key)
            pending.add(pool.submit(self._part, key, upload_id, number, data))
            number += 1
            data = reader.read(self.part_size)
        for future in concurrent.futures.as_completed(pending):
            number_etag = future.result()
            parts[number_etag[0]] = number_etag[1]
        return parts, size

    def _part(self, key, upload_id, number, data):
        etag = self.store.upload_part(key, upload_id, number, data)
        logs.event(log, "part_uploaded", level=logging.DEBUG, key=key, part=number, bytes=len(data))
        return number, etag

    def _abort(self, key, upload_id, cause):
        if not self.abort_on_failure:
            return
        try:
            self.store.abort_multipart(key, upload_id)
            logs.event(log, "multipart_aborted", level=logging.WARNING, key=key,
                       upload_id=upload_id, error=cause)
        except Exception as exc:  # the original failure matters more
            logs.event(log, "multipart_abort_failed", level=logging.WARNING, key=key,
                       upload_id=upload_id, error=exc)
