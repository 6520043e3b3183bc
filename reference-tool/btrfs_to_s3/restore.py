"""The restore command: resolve the chain, fetch and verify chunks, receive, hand over, compare."""

import dataclasses
import logging
import os
import shutil
import time
import traceback

from . import chain as chains
from . import defects, logs, manifest, naming, quirks, treecheck, wording
from .archive import ArchiveRestorer
from .downloader import fetch_verified
from .errors import ToolError, UsageError, escapes
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
        self.copy_tree = False

    def run(self):
        if "/" in self.opts.subvolume or not self.opts.subvolume.strip():
            raise UsageError(f"--subvolume must be a subvolume name, got {self.opts.subvolume!r}")
        try:
            return self._run()
        except Exception as exc:
            if escapes(exc):
                raise
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
            raise ToolError(wording.say(f"restore target {target} already exists",
                                        f"refusing to restore over {target}: the path is taken"))
        parent_dir = os.path.dirname(target)
        if parent_dir == rcfg.target_base_dir:
            os.makedirs(parent_dir, exist_ok=True)
        elif not os.path.isdir(parent_dir):
            raise ToolError(wording.say(f"restore target's directory {parent_dir} does not exist",
                                        f"no directory {parent_dir} to restore into"))
        # One decision for the hand-over (cp -r) and the verify that goes with it.
        self.copy_tree = defects.enabled("restore-drops-metadata")

        self.store = self.make_store()
        self.restorer = ArchiveRestorer(
            self.store, rcfg.restore_tier,
            wait=rcfg.wait_for_restore if self.opts.wait is None else self.opts.wait,
            timeout_seconds=rcfg.restore_timeout_seconds if self.opts.timeout_seconds is None
            else self.opts.timeout_seconds,
            monotonic=self.monotonic, sleep=self.sleep,
            thaw_every_class=defects.enabled("restore-object-on-instant-class"),
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
                if self.restorer.needs_thaw(doc.get("s3", {}).get("storage_class"))
                for chunk in doc["chunks"]
            ])

        started = self.monotonic()
        if quirks.on("direct-receive", "receive"):
            total = self._receive_direct(chain, parent_dir, target)
        else:
            total = self._receive_staged(chain, parent_dir, target)
        elapsed = self.monotonic() - started
        logs.event(log, "restore_metrics", **logs.metrics_fields(self.opts.subvolume, total, elapsed))
        logs.event(log, "restore_complete", status="ok", subvolume=self.opts.subvolume,
                   target=target, manifest_key=start_key)
        return 0

    def _receive_staged(self, chain, parent_dir, target):
        """Receive into a hidden staging directory, snapshot (writable) to the target."""
        base = os.path.basename(target)
        leave_partial = defects.enabled("restore-leaves-partial")
        if leave_partial:
            # Receives straight into a directory at the target and never
            # cleans up: a failure leaves what btrfs receive got so far.
            staging = target
        else:
            staging = os.path.join(parent_dir, f".{base}.btrfs_to_s3-staging-{os.getpid()}")
        os.mkdir(staging, 0o700)
        handover = target if staging != target else \
            os.path.join(parent_dir, f".{base}.btrfs_to_s3-handover-{os.getpid()}")
        created_target = False
        try:
            total = 0
            for key, doc in chain:
                total += self._apply(key, doc, staging)
            final = os.path.join(staging, chain[-1][1]["snapshot"]["name"])
            self._check_received(final, chain[-1][1])
            created_target = True
            self._hand_over(final, handover)
            if handover != target:
                self._cleanup(staging)
                os.rename(handover, target)
            self._verify(chain, target)
        except BaseException:
            if not leave_partial:
                if created_target:
                    self._remove(target)
                self._cleanup(staging)
            raise
        if staging != target:
            self._cleanup(staging)
        return total

    def _receive_direct(self, chain, parent_dir, target):
        """The direct-receive quirk: receive into the target's directory, then
        make the last received subvolume writable and rename it to the target."""
        created = []  # what this run received (or is receiving), oldest first
        try:
            total = 0
            for key, doc in chain:
                path = os.path.join(parent_dir, doc["snapshot"]["name"])
                if os.path.lexists(path):
                    raise ToolError(wording.say(
                        f"cannot receive into {parent_dir}: {path} already exists",
                        f"cannot receive into {parent_dir}: the name {os.path.basename(path)} is taken"))
                created.append(path)
                total += self._apply(key, doc, parent_dir)
            final = created[-1]
            self._check_received(final, chain[-1][1])
            # Writable first: a read-only subvolume is renamed only within its directory.
            self.btrfs.set_readonly(final, False)
            os.rename(final, target)
            created[-1] = target
            for path in created[:-1]:
                self._remove(path)
            created = [target]
            self._verify(chain, target)
        except BaseException:
            for path in reversed(created):
                self._remove(path)
            raise
        return total

    # -- verify ----------------------------------------------------------

    def _verify(self, chain, target):
        """Compare the target with the source snapshot, when it is still here."""
        mode = self._verify_mode()
        doc = chain[-1][1]
        subvolume = self.opts.subvolume
        if mode == "none":
            logs.event(log, "restore_verify_complete", status="skipped", reason="verify_none",
                       mode=mode, subvolume=subvolume)
            return
        source = doc["snapshot"].get("path")
        seed = doc["snapshot"]["name"]
        skip = getattr(self.btrfs, "private_names", ())
        reason, detail = self._source_problem(source, doc), None
        if reason is None:
            try:
                result = treecheck.compare(
                    source, target, mode, self.cfg.restore.sample_max_files,
                    incremental=len(chain) > 1, metadata=not self.copy_tree, skip=skip, seed=seed)
            except treecheck.SourceUnavailable as exc:
                reason, detail = "source_unreadable", str(exc)
            else:
                for rel, rule in result.known_differences:
                    logs.event(log, "verify_known_difference", path=treecheck.show_path(rel), rule=rule)
                logs.event(log, "restore_verify_complete", status="ok", mode=mode, subvolume=subvolume,
                           source=source, entries=result.entries, files_compared=result.files_compared,
                           bytes_compared=result.bytes_compared,
                           known_differences=len(result.known_differences))
                return
        # Nothing to compare with: re-read what the restored tree can prove.
        entries, files, read = treecheck.check(target, mode, self.cfg.restore.sample_max_files,
                                               skip=skip, seed=seed)
        if defects.enabled("verify-ok-without-compare"):
            logs.event(log, "restore_verify_complete", status="ok", mode=mode, subvolume=subvolume,
                       source=source, entries=entries, files_compared=files, bytes_compared=read)
            return
        fields = {"detail": detail} if detail else {}
        logs.event(log, "restore_verify_complete", level=logging.WARNING, status="skipped",
                   reason=reason, mode=mode, subvolume=subvolume, source=source, entries=entries,
                   files_read=files, bytes_read=read, **fields)

    def _source_problem(self, source, doc):
        """None when `source` is the manifest's snapshot, readable; else why not."""
        if not isinstance(source, str) or not os.path.isabs(source):
            return "no_source_path"
        if not os.path.lexists(source):
            return "source_snapshot_missing"
        if os.path.islink(source) or not os.path.isdir(source):
            return "source_not_a_directory"
        expected = doc["snapshot"].get("uuid")
        if expected:
            try:
                found = self.btrfs.show(source).get("UUID")
            except ToolError:
                return "source_unreadable"
            if found != expected:
                return "source_snapshot_replaced"
        return None

    def _verify_mode(self):
        return self.opts.verify or self.cfg.restore.verify_mode

    def _current_manifest_key(self):
        key = naming.pointer_key(self.p, self.opts.subvolume)
        try:
            document = self.store.get_json(key)
        except Exception as exc:
            if is_not_found(exc):
                raise ToolError(wording.say(
                    f"no backup of {self.opts.subvolume}: {key} does not exist",
                    f"nothing to restore for {self.opts.subvolume}: no pointer at {key}")) from None
            raise
        manifest_key = document.get("manifest_key") if isinstance(document, dict) else None
        if not isinstance(manifest_key, str) or not manifest_key:
            raise ToolError(wording.say(f"{key} has no manifest_key", f"pointer {key} names no manifest"))
        return manifest_key

    def _load_manifest(self, key):
        try:
            document = self.store.get_json(key)
        except ValueError as exc:
            raise ToolError(wording.say(f"manifest {key} is not valid JSON: {exc}",
                                        f"cannot parse {key}: {exc}")) from None
        except Exception as exc:
            if is_not_found(exc):
                raise ToolError(wording.say(f"manifest {key} does not exist",
                                            f"{key} is gone from the bucket")) from None
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
            raise ToolError(wording.say(f"btrfs receive did not produce subvolume {path}: {exc}",
                                        f"no subvolume {path} after the receive: {exc}")) from None
        expected = doc["snapshot"].get("uuid")
        received = fields.get("Received UUID")
        if expected and received != expected:
            raise ToolError(wording.say(
                f"received subvolume {path} has received UUID {received}, "
                f"the manifest's snapshot has UUID {expected}",
                f"{path} came from {received}, not from the backed-up snapshot {expected}"))

    def _hand_over(self, final, target):
        """Make the result a writable subvolume at the target."""
        if self.copy_tree:
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
