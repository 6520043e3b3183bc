"""The restore command: resolve the chain, fetch and verify chunks, receive, hand over."""

import dataclasses
import logging
import os
import shutil
import time
import traceback

from . import chain as chains
from . import defects, logs, manifest, naming, treecheck
from .archive import ARCHIVE_CLASSES, ArchiveRestorer
from .downloader import fetch_verified
from .errors import ToolError, UsageError
from .retry import describe, error_code, is_not_found, is_s3_error

log = logs.get("restore")
FEED_BLOCK = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class RestoreOptions:
    subvolume: str
    target: str
    manifest_key: str = None
    wait: bool = None
    timeout_seconds: float = None
    verify: str = None


class Restore:
    def __init__(self, cfg, opts, *, btrfs, make_store, monotonic=time.monotonic, sleep=time.sleep):
        self.cfg = cfg
        self.opts = opts
        self.btrfs = btrfs
        self.make_store = make_store
        self.monotonic = monotonic
        self.sleep = sleep
        self.p = naming.normalize_prefix(cfg.s3.prefix)
        self.store = None
        self.restorer = None

    def run(self):
        if "/" in self.opts.subvolume or not self.opts.subvolume.strip():
            raise UsageError(f"--subvolume must be a subvolume name, got {self.opts.subvolume!r}")
        try:
            return self._run()
        except Exception as exc:
            if not isinstance(exc, ToolError) and not is_s3_error(exc):
                traceback.print_exc()
            logs.event(log, "restore_failed", level=logging.ERROR, subvolume=self.opts.subvolume,
                       error=exc if isinstance(exc, ToolError) else describe(exc))
            return 1

    # -- steps -----------------------------------------------------------

    def target_path(self):
        target = self.opts.target
        if not os.path.isabs(target):
            target = os.path.join(self.cfg.restore.target_base_dir, target)
        return os.path.normpath(target)

    def _run(self):
        rcfg = self.cfg.restore
        target = self.target_path()
        if os.path.lexists(target):
            raise ToolError(f"restore target {target} already exists")
        parent_dir = os.path.dirname(target)
        if parent_dir == rcfg.target_base_dir:
            os.makedirs(parent_dir, exist_ok=True)
        elif not os.path.isdir(parent_dir):
            raise ToolError(f"restore target's directory {parent_dir} does not exist")

        self.store = self.make_store()
        self.restorer = ArchiveRestorer(
            self.store, rcfg.restore_tier,
            wait=rcfg.wait_for_restore if self.opts.wait is None else self.opts.wait,
            timeout_seconds=rcfg.restore_timeout_seconds if self.opts.timeout_seconds is None
            else self.opts.timeout_seconds,
            monotonic=self.monotonic, sleep=self.sleep,
        )
        start_key = self.opts.manifest_key or self._current_manifest_key()
        chain = chains.resolve(start_key, self._load_manifest)
        if defects.enabled("restore-only-last-manifest"):
            chain = chain[-1:]
        logs.event(log, "restore_started", subvolume=self.opts.subvolume, manifest_key=start_key,
                   chain_length=len(chain), target=target)
        if not defects.enabled("restore-skips-archive-restore"):
            self.restorer.ensure_available([
                chunk["key"] for _, doc in chain
                if doc.get("s3", {}).get("storage_class") in ARCHIVE_CLASSES
                for chunk in doc["chunks"]
            ])

        started = self.monotonic()
        staging = os.path.join(parent_dir, f".{os.path.basename(target)}.btrfs_to_s3-staging-{os.getpid()}")
        os.mkdir(staging, 0o700)
        created_target = False
        try:
            total = 0
            for key, doc in chain:
                total += self._apply(key, doc, staging)
            final = os.path.join(staging, chain[-1][1]["snapshot"]["name"])
            self._check_received(final, chain[-1][1])
            created_target = True
            self._hand_over(final, target)
            entries, files, read = treecheck.check(target, self._verify_mode(), rcfg.sample_max_files)
            logs.event(log, "restore_verified", mode=self._verify_mode(), entries=entries,
                       files_read=files, bytes_read=read)
        except BaseException:
            if created_target:
                self._remove(target)
            self._cleanup(staging)
            raise
        self._cleanup(staging)
        elapsed = self.monotonic() - started
        logs.event(log, "restore_metrics", **logs.metrics_fields(self.opts.subvolume, total, elapsed))
        logs.event(log, "restore_complete", status="ok", subvolume=self.opts.subvolume,
                   target=target, manifest_key=start_key)
        return 0

    def _verify_mode(self):
        return self.opts.verify or self.cfg.restore.verify_mode

    def _current_manifest_key(self):
        key = naming.pointer_key(self.p, self.opts.subvolume)
        try:
            document = self.store.get_json(key)
        except Exception as exc:
            if is_not_found(exc):
                raise ToolError(f"no backup of {self.opts.subvolume}: {key} does not exist") from None
            raise
        manifest_key = document.get("manifest_key") if isinstance(document, dict) else None
        if not isinstance(manifest_key, str) or not manifest_key:
            raise ToolError(f"{key} has no manifest_key")
        return manifest_key

    def _load_manifest(self, key):
        try:
            document = self.store.get_json(key)
        except ValueError as exc:
            raise ToolError(f"manifest {key} is not valid JSON: {exc}") from None
        except Exception as exc:
            if is_not_found(exc):
                raise ToolError(f"manifest {key} does not exist") from None
            raise
        return manifest.validate(document, key, self.opts.subvolume)

    def _apply(self, key, doc, staging):
        """Feed one manifest's verified chunks to `btrfs receive`; return its bytes."""
        receiver = self.btrfs.receive(staging)
        total = 0
        try:
            for chunk in doc["chunks"]:
                with self._fetch(chunk) as spool:
                    while True:
                        data = spool.read(FEED_BLOCK)
                        if not data:
                            break
                        receiver.write(data)
                        total += len(data)
            receiver.finish()
        except BaseException:
            receiver.abort()
            raise
        logs.event(log, "receive_applied", manifest_key=key, kind=doc["kind"],
                   snapshot=doc["snapshot"]["name"], bytes=total)
        return total

    def _fetch(self, chunk):
        verify = not defects.enabled("restore-skips-hash")
        spool_dir = self.cfg.global_.spool_dir
        os.makedirs(spool_dir, exist_ok=True)
        try:
            return fetch_verified(self.store, chunk, spool_dir, verify=verify, sleep=self.sleep)
        except Exception as exc:
            if error_code(exc) != "InvalidObjectState" or defects.enabled("restore-skips-archive-restore"):
                raise
        # Archived although the manifest did not say so: restore it, then read.
        self.restorer.ensure_available([chunk["key"]])
        return fetch_verified(self.store, chunk, spool_dir, verify=verify, sleep=self.sleep)

    def _check_received(self, path, doc):
        try:
            fields = self.btrfs.show(path)
        except ToolError as exc:
            raise ToolError(f"btrfs receive did not produce subvolume {path}: {exc}") from None
        expected = doc["snapshot"].get("uuid")
        received = fields.get("Received UUID")
        if expected and received != expected:
            raise ToolError(
                f"received subvolume {path} has received UUID {received}, "
                f"the manifest's snapshot has UUID {expected}"
            )

    def _hand_over(self, final, target):
        """Make the result a writable subvolume at the target."""
        if defects.enabled("restore-drops-metadata"):
            self.btrfs.create(target)
            self.btrfs.copy_tree(final, target)
        else:
            self.btrfs.snapshot(final, target, readonly=defects.enabled("restore-target-readonly"))

    # -- cleanup ---------------------------------------------------------

    def _remove(self, path):
        if not os.path.lexists(path):
            return
        try:
            self.btrfs.delete(path)
        except ToolError:
            shutil.rmtree(path, ignore_errors=True)
        if os.path.lexists(path):
            logs.event(log, "cleanup_failed", level=logging.WARNING, path=path)

    def _cleanup(self, staging):
        try:
            for name in os.listdir(staging):
                self._remove(os.path.join(staging, name))
            os.rmdir(staging)
        except OSError as exc:
            logs.event(log, "cleanup_failed", level=logging.WARNING, path=staging, error=exc)
