"""The backup command: plan, snapshot, send, upload, publish, record, prune."""

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import io
import logging
import os
import shutil
import tempfile
import threading
import time
import traceback

from . import __version__, chunking, defects, logs, manifest, naming, planning, quirks, retention, retry, wording
from . import state as statefile
from .errors import LockHeld, ToolError, UsageError, escapes
from .lockfile import Lock
from .timestamps import format_ts, iso, next_free_ts, parse_ts, utc_now
from .uploader import ChunkUploader

log = logs.get("backup")
SPOOL_BLOCK = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class BackupOptions:
    subvolumes: tuple = ()
    once: bool = False
    dry_run: bool = False
    no_s3: bool = False


class Backup:
    def __init__(self, cfg, opts, *, btrfs, make_store, clock=utc_now, monotonic=time.monotonic):
        self.cfg = cfg
        self.opts = opts
        self.btrfs = btrfs
        self.make_store = make_store
        self.clock = clock
        self.monotonic = monotonic
        self.p = naming.normalize_prefix(cfg.s3.prefix)
        self._store = None

    # -- command ---------------------------------------------------------

    def run(self):
        names = self.select_subvolumes()
        if self.opts.dry_run and not defects.enabled("dry-run-side-effects"):
            return self._run_all(names)
        try:
            lock = Lock(self.cfg.global_.lock_path).acquire()
        except LockHeld as exc:
            logs.event(log, "backup_lock_failed", level=logging.ERROR, error=exc)
            return 1
        try:
            return self._run_all(names)
        finally:
            lock.release()

    def select_subvolumes(self):
        known = self.cfg.subvolume_names()
        if not self.opts.subvolumes or defects.enabled("subvolume-filter-ignored"):
            return known
        unknown = [name for name in self.opts.subvolumes if name not in known]
        if unknown:
            raise UsageError(
                f"--subvolume {unknown[0]!r} is not in [subvolumes] paths (known: {', '.join(known)})"
            )
        return [name for name in known if name in self.opts.subvolumes]

    def _run_all(self, names):
        state = self._load_state()
        failures = 0
        for name in names:
            try:
                self.backup_one(name, state)
            except Exception as exc:
                if retry.is_missing_credentials(exc) and defects.enabled("success-without-credentials"):
                    logs.event(log, "backup_skipped", level=logging.WARNING, subvolume=name,
                               reason="no_credentials")
                    continue
                if escapes(exc):
                    raise
                if retry.is_s3_error(exc) and not retry.is_missing_credentials(exc) \
                        and defects.enabled("crash-on-s3-error"):
                    raise  # no handler for S3 errors: the traceback ends the process
                if not isinstance(exc, ToolError) and not retry.is_s3_error(exc):
                    traceback.print_exc()
                logs.event(log, "backup_failed", level=logging.ERROR, subvolume=name,
                           error=retry.describe(exc) if not isinstance(exc, ToolError) else exc)
                failures += 1
        return 1 if failures else 0

    def _load_state(self):
        try:
            return statefile.load(self.cfg.global_.state_path)
        except statefile.StateUnreadable as exc:
            logs.event(log, "state_unreadable", level=logging.WARNING, error=exc)
            return statefile.empty()

    def store(self):
        if self._store is None:
            self._store = self.make_store()
        return self._store

    # -- one subvolume ---------------------------------------------------

    def backup_one(self, name, state):
        entry = statefile.entry(state, name)
        now = self.clock()
        parent_check = None if defects.enabled("no-fallback-to-full") else os.path.isdir
        plan = planning.plan_backup(name, now, self.cfg.schedule, entry, force=self.opts.once,
                                    parent_exists=parent_check)
        if plan.reason == "parent snapshot missing":
            logs.event(log, "parent_missing", level=logging.WARNING, subvolume=name,
                       source="local", parent=(entry or {}).get("last_snapshot"), fallback="full")
        if not plan.due:
            logs.event(log, "backup_not_due", subvolume=name, reason=plan.reason)
            return
        if self.opts.dry_run and not defects.enabled("dry-run-side-effects"):
            logs.event(log, "backup_planned", subvolume=name, kind=plan.kind,
                       parent=plan.parent_snapshot, reason=plan.reason)
            return
        uploading = not (self.opts.no_s3 or self.opts.dry_run)
        if uploading:
            plan = self._check_parent_manifest(plan)
            if not defects.enabled("no-abort-multipart"):
                self._abort_stale_uploads(name)

        base_dir = self.cfg.snapshots.base_dir
        os.makedirs(base_dir, exist_ok=True)
        names_before = os.listdir(base_dir)
        ts = self._choose_ts(name, now, entry, names_before, uploading)
        snap_name = naming.snapshot_name(name, ts, plan.kind)
        snap_path = os.path.join(base_dir, snap_name)
        if defects.enabled("same-second-overwrite") and os.path.lexists(snap_path):
            self.btrfs.delete(snap_path)
        self.btrfs.snapshot(self.cfg.subvolume_path(name), snap_path, readonly=True)
        logs.event(log, "snapshot_created", subvolume=name, path=snap_path,
                   kind=naming.SNAPSHOT_KIND[plan.kind])
        manifest_key = naming.manifest_key(self.p, name, plan.kind, ts)
        if defects.enabled("state-before-upload"):
            self._record(state, name, plan.kind, ts, manifest_key, snap_path)
        if not uploading:
            logs.event(log, "backup_skipped_upload", subvolume=name,
                       reason="no_s3" if self.opts.no_s3 else "dry_run", path=snap_path)
            return

        guard = None
        if defects.enabled("pointer-stale-if-match"):
            # Publish only over the pointer our last run left (another host
            # may share the prefix), and remember the pointer for the next
            # run: the one found now, before our own write replaces it.
            guard = _PointerGuard(remembered=(entry or {}).get("pointer_etag"),
                                  found=self._pointer_etag(name))
        started = self.monotonic()
        doc = self._send_and_upload(name, plan, ts, snap_name, snap_path, manifest_key, guard)
        elapsed = self.monotonic() - started
        self._record(state, name, plan.kind, ts, manifest_key, snap_path,
                     pointer_etag=guard.found if guard else None)
        logs.event(log, "backup_metrics", **logs.metrics_fields(name, doc["total_bytes"], elapsed))
        uploaded = "upload_done" if defects.enabled("log-event-renamed") else "backup_uploaded"
        logs.event(log, uploaded, subvolume=name, manifest_key=manifest_key,
                   chunk_count=len(doc["chunks"]), kind=plan.kind)
        self._prune(name, snap_path, names_before)

    def _check_parent_manifest(self, plan):
        if plan.kind != naming.INCREMENTAL or defects.enabled("no-fallback-to-full"):
            return plan
        if self.store().head(plan.parent_manifest) is not None:
            return plan
        logs.event(log, "parent_missing", level=logging.WARNING, subvolume=plan.subvolume,
                   source="s3", parent=plan.parent_manifest, fallback="full")
        return plan.as_full("parent manifest missing from S3")

    def _abort_stale_uploads(self, name):
        # We hold the lock, so an upload in progress under our prefix was
        # left by a run that died; abort it rather than leak its parts.
        store = self.store()
        for key, upload_id in store.incomplete_uploads(naming.subvolume_prefix(self.p, name)):
            store.abort_multipart(key, upload_id)
            logs.event(log, "stale_upload_aborted", level=logging.WARNING, key=key, upload_id=upload_id)

    def _choose_ts(self, name, now, entry, names_before, uploading):
        if defects.enabled("same-second-overwrite"):
            return format_ts(now)
        taken = set()
        for snapshot in names_before + [os.path.basename((entry or {}).get("last_snapshot") or "")]:
            parsed = naming.parse_snapshot_name(snapshot)
            if parsed and parsed[0] == name:
                taken.add(parsed[1])
        is_taken = (lambda ts: self._ts_in_s3(name, ts)) if uploading else None
        return next_free_ts(now, taken, is_taken)

    def _ts_in_s3(self, name, ts):
        base = naming.subvolume_prefix(self.p, name)
        return any(
            self.store().has_prefix(f"{base}{kind}/{stem}-{ts}")
            for kind in naming.KINDS for stem in ("chunk", "manifest")
        )

    def _pointer_etag(self, name):
        head = self.store().head(naming.pointer_key(self.p, name))
        return head.get("ETag") if head else None

    def _record(self, state, name, kind, ts, manifest_key, snap_path, pointer_etag=None):
        statefile.record_backup(state, name, kind=kind, created_at=iso(parse_ts(ts)),
                                manifest_key=manifest_key, snapshot_path=snap_path,
                                run_at=iso(self.clock()))
        if pointer_etag:
            state["subvolumes"][name]["pointer_etag"] = pointer_etag
        if quirks.enabled("extra-fields"):
            state["written_by"] = {"tool": "btrfs_to_s3", "version": __version__, "run": logs.RUN_ID}
        statefile.save(self.cfg.global_.state_path, state)

    # -- stream and upload -----------------------------------------------

    def _uuid(self, path):
        if not path:
            return None
        try:
            return self.btrfs.show(path).get("UUID")
        except ToolError:
            return None

    def _send_and_upload(self, name, plan, ts, snap_name, snap_path, manifest_key, guard=None):
        cfg = self.cfg.s3
        store = self.store()
        parent = plan.parent_snapshot if plan.kind == naming.INCREMENTAL else None
        send_parent = None if defects.enabled("incremental-without-parent") else parent
        chunk_class = cfg.storage_class_manifest if defects.enabled("wrong-storage-class") \
            else cfg.storage_class_chunks
        one_part = quirks.enabled("one-part-per-chunk") and chunking.one_part_size(cfg.chunk_size_bytes)
        uploader = ChunkUploader(
            store, chunk_class,
            multipart_sse=not defects.enabled("multipart-without-sse"),
            concurrency=cfg.concurrency,
            part_size=one_part or chunking.part_size_for(cfg.chunk_size_bytes),
            abort_on_failure=not defects.enabled("no-abort-multipart"),
            one_part=bool(one_part),
            cancelled=threading.Event(),
        )
        json_type = None if defects.enabled("manifest-wrong-content-type") else "application/json"
        pointer_key = naming.pointer_key(self.p, name)
        pointer_doc = manifest.pointer(manifest_key, plan.kind, ts)
        shared_hasher = hashlib.sha256() if defects.enabled("wrong-sha256") else None
        extra = quirks.enabled("extra-fields")

        def hasher_for():
            hasher = shared_hasher or hashlib.sha256()
            return _WithMd5(hasher) if extra else hasher

        sender = self.btrfs.send(snap_path, send_parent)
        stream = chunking.peekable(sender.stdout)

        def publish_early():
            if defects.enabled("pointer-before-last-chunk") and chunking.at_eof(stream):
                store.put_json(pointer_key, pointer_doc, cfg.storage_class_manifest, content_type=json_type)

        try:
            if quirks.on("concurrent-chunks", "upload"):
                results, md5s = self._upload_concurrently(name, plan, ts, stream, uploader, hasher_for,
                                                          publish_early)
            else:
                results, md5s = self._upload_in_order(name, plan, ts, stream, uploader, hasher_for,
                                                      publish_early)
            sender.finish()
        except BaseException:
            sender.abort()
            raise
        if not results:
            raise ToolError(wording.say(f"btrfs send of {snap_path} produced no data",
                                        f"empty send stream from {snap_path}"))

        doc = manifest.build(
            subvolume=name, kind=plan.kind, created_at=ts,
            snapshot_name=snap_name, snapshot_path=snap_path,
            uuid=self._uuid(snap_path), parent_uuid=self._uuid(parent),
            parent_manifest=manifest_key if defects.enabled("wrong-parent-pointer") else plan.parent_manifest,
            chunks=results, chunk_size=cfg.chunk_size_bytes, storage_class=cfg.storage_class_chunks,
        )
        if extra and quirks.on("extra-fields", "manifest"):
            doc["tool"] = {"name": "btrfs_to_s3", "version": __version__,
                           "quirks": sorted(quirks.active())}
            for entry in doc["chunks"]:
                entry["md5"] = md5s.get(entry["key"])
        store.put_json(manifest_key, doc, cfg.storage_class_manifest,
                       sse=not defects.enabled("manifest-without-sse"), content_type=json_type)
        logs.event(log, "manifest_uploaded", subvolume=name, key=manifest_key)
        if extra and quirks.on("extra-fields", "pointer"):
            pointer_doc = dict(pointer_doc, written_by=f"btrfs_to_s3 {__version__}")
        if guard is None:
            store.put_json(pointer_key, pointer_doc, cfg.storage_class_manifest, content_type=json_type)
        elif not self._publish_guarded(store, name, pointer_key, pointer_doc, json_type, guard.remembered):
            return doc
        logs.event(log, "pointer_updated", subvolume=name, key=pointer_key, manifest_key=manifest_key)
        return doc

    def _publish_guarded(self, store, name, key, document, content_type, etag):
        """The pointer-stale-if-match defect's publish: If-Match on the ETag
        remembered (If-None-Match: * when none: the first publish); a 412
        (or 404: If-Match on a pointer that is gone) is taken for another
        writer having published, and the backup carries on. False then."""
        condition = {"if_match": etag} if etag else {"if_none_match": "*"}
        try:
            store.put_json(key, document, self.cfg.s3.storage_class_manifest,
                           content_type=content_type, **condition)
        except Exception as exc:
            if retry.error_code(exc) not in ("PreconditionFailed", "NoSuchKey") \
                    and retry.http_status(exc) != 412:
                raise
            logs.event(log, "pointer_not_updated", level=logging.WARNING, subvolume=name, key=key,
                       reason="another_writer_published", error=retry.describe(exc))
            return False
        return True

    def _chunk_done(self, name, index, result, hasher, md5s):
        logs.event(log, "chunk_uploaded", subvolume=name, key=result.key, index=index,
                   size=result.size, sha256=result.sha256)
        if isinstance(hasher, _WithMd5):
            md5s[result.key] = hasher.md5.hexdigest()

    def _upload_in_order(self, name, plan, ts, stream, uploader, hasher_for, publish_early):
        """One chunk after the other, straight from the stream (or its spool)."""
        results, md5s = [], {}
        for index, reader in chunking.iter_chunk_readers(stream, self.cfg.s3.chunk_size_bytes):
            key = naming.chunk_key(self.p, name, plan.kind, ts, index)
            hasher = hasher_for()
            with self._chunk_source(reader) as source:
                result = uploader.upload(key, source, hasher, before_commit=publish_early)
            results.append(result)
            self._chunk_done(name, index, result, hasher, md5s)
        return results, md5s

    def _upload_concurrently(self, name, plan, ts, stream, uploader, hasher_for, publish_early):
        """The concurrent-chunks quirk: up to max(2, concurrency) chunks in flight.

        Each chunk is read whole from the stream into a buffer (memory, or a
        spool file), so at most `in_flight` + 1 chunks are held; they may
        finish in any order, the results come back in stream order. A
        failure (or a signal) calls off the chunks in flight: their multipart
        uploads are aborted before this returns.
        """
        cfg = self.cfg.s3
        workers = max(2, cfg.concurrency)
        in_flight = workers
        if cfg.spool_enabled:
            in_flight = max(1, min(workers, self.cfg.global_.spool_size_bytes // cfg.chunk_size_bytes))
        futures, md5s = {}, {}
        pending = set()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)

        def upload(index, key, buffer, hasher):
            try:
                result = uploader.upload(key, buffer, hasher, before_commit=publish_early)
            finally:
                buffer.close()
            self._chunk_done(name, index, result, hasher, md5s)
            return result

        try:
            for index, reader in chunking.iter_chunk_readers(stream, cfg.chunk_size_bytes):
                while len(pending) >= in_flight:
                    done, pending = concurrent.futures.wait(
                        pending, return_when=concurrent.futures.FIRST_COMPLETED)
                    for future in done:
                        future.result()
                buffer = self._buffer_chunk(reader)
                key = naming.chunk_key(self.p, name, plan.kind, ts, index)
                futures[index] = pool.submit(upload, index, key, buffer, hasher_for())
                pending.add(futures[index])
            for future in concurrent.futures.as_completed(pending):
                future.result()
        except BaseException:
            uploader.cancelled.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return [futures[index].result() for index in sorted(futures)], md5s

    def _buffer_chunk(self, reader):
        """One whole chunk, rewound: in memory, or in a spool file."""
        if not self.cfg.s3.spool_enabled:
            return io.BytesIO(chunking.read_full(reader, self.cfg.s3.chunk_size_bytes))
        os.makedirs(self.cfg.global_.spool_dir, exist_ok=True)
        spool = tempfile.TemporaryFile(dir=self.cfg.global_.spool_dir, prefix="chunk-")
        try:
            shutil.copyfileobj(reader, spool, SPOOL_BLOCK)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return spool

    @contextlib.contextmanager
    def _chunk_source(self, reader):
        """The chunk's bytes: read straight from the stream, or from a spool file."""
        if not self.cfg.s3.spool_enabled:
            yield reader
            return
        os.makedirs(self.cfg.global_.spool_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=self.cfg.global_.spool_dir, prefix="chunk-") as spool:
            shutil.copyfileobj(reader, spool, SPOOL_BLOCK)
            spool.seek(0)
            yield spool

    # -- retention -------------------------------------------------------

    def _prune(self, name, snap_path, names_before):
        base_dir = self.cfg.snapshots.base_dir
        retain = self.cfg.snapshots.retain
        current = os.listdir(base_dir)
        if defects.enabled("retention-deletes-parent"):
            keep = retention.choose_keep(names_before, name, retain)
        else:
            keep = retention.choose_keep(current, name, retain, protect={os.path.basename(snap_path)})
        for victim in retention.choose_deletions(current, name, keep):
            path = os.path.join(base_dir, victim)
            try:
                self.btrfs.delete(path)
            except ToolError as exc:
                logs.event(log, "snapshot_delete_failed", level=logging.WARNING, path=path, error=exc)
                continue
            logs.event(log, "snapshot_deleted", subvolume=name, path=path)


@dataclasses.dataclass(frozen=True)
class _PointerGuard:
    """The pointer-stale-if-match defect: the ETag the state file remembers
    (the condition of this run's publish) and the one found when the run
    began (what the state will remember)."""
    remembered: object
    found: object


class _WithMd5:
    """A chunk's SHA-256 hasher that also feeds MD5 (the extra-fields quirk's
    per-chunk `md5`); `hexdigest()` is still the SHA-256."""

    def __init__(self, hasher):
        self.hasher = hasher
        self.md5 = hashlib.md5(usedforsecurity=False)

    def update(self, data):
        self.hasher.update(data)
        self.md5.update(data)

    def hexdigest(self):
        return self.hasher.hexdigest()
