"""Named, deliberate defects for testing the harness (see DEFECTS.md).

`REFTOOL_DEFECT=name[,name]` switches defects on. Unset, the tool is
correct. Code paths ask `enabled(name)` at the one place where the defect
deviates; every name used must be in CATALOGUE.
"""

import os

from .switches import Switches

ENV_VAR = "REFTOOL_DEFECT"

CATALOGUE = {
    # promise 1: send/receive chain
    "incremental-without-parent": "incremental sent without -p but labelled incremental",
    "wrong-parent-pointer": "manifest's parent_manifest names the manifest itself",
    # promise 2: atomic publish
    "pointer-before-last-chunk": "current.json written once the stream is read, before the last chunk and the manifest are stored",
    "state-before-upload": "state file records the new snapshot and manifest before the upload",
    "last-chunk-missing": "manifest omits the last chunk",
    "pointer-stale-if-match": "current.json PUT conditional on the ETag the pointer had before the previous run's own publish; the 412 is ignored",
    # promise 3: encryption, storage class, object metadata
    "manifest-without-sse": "manifest uploaded without ServerSideEncryption",
    "multipart-without-sse": "multipart chunk uploads created without ServerSideEncryption",
    "wrong-storage-class": "chunks stored with the manifest's storage class",
    "manifest-wrong-content-type": "manifest and pointer uploaded without Content-Type application/json",
    # promise 4: integrity
    "wrong-sha256": "one SHA-256 hasher shared by all chunks (cumulative hashes)",
    "chunks-out-of-order": "chunk entries prepended to the manifest list (reverse stream order)",
    "total-bytes-off": "total_bytes computed as chunk_count * chunk_size",
    "restore-skips-hash": "restore feeds chunks to btrfs receive without checking SHA-256 or size",
    # promise 5: interruption and recovery
    "no-abort-multipart": "failed or interrupted multipart uploads are never aborted",
    "stale-lock-blocks": "a lock file left by a dead process blocks every later run",
    "no-timeout": "no connect/read timeout: a dead connection hangs forever",
    "no-retry": "no retries: the first 503/500/reset fails the backup",
    "crash-on-s3-error": "an S3 error that survives the retries ends the backup on an uncaught traceback",
    # promise 6: lock
    "no-lock": "the lock file is written but never checked",
    # promise 7: missing parent
    "no-fallback-to-full": "a missing parent snapshot or parent manifest does not trigger a full",
    "retention-deletes-parent": "retention keeps the newest of the old list and deletes the new snapshot",
    # promise 8: restore
    "restore-skips-archive-restore": "restore GETs archived chunks without RestoreObject",
    "restore-only-last-manifest": "restore applies only the last manifest of the chain",
    "restore-drops-metadata": "restore copies the tree with cp -r (owners, times, xattrs, hardlinks lost)",
    "restore-target-readonly": "restore hands over a read-only snapshot (-r) as the target",
    "restore-leaves-partial": "restore receives into the target and leaves everything behind on failure",
    "crash-on-restore-in-progress": "RestoreObject asked again while a restore is ongoing; its 409 is uncaught",
    "restore-object-on-instant-class": "RestoreObject for every non-STANDARD class (GLACIER_IR too); its 403 is uncaught",
    "verify-ok-without-compare": "restore --verify logs status=ok when the source snapshot is gone",
    "verify-fails-nested-subvolume": "restore --verify expects a nested subvolume's stub in the restore",
    # promise 9: logs and exit codes
    "exit-zero-on-failure": "exit 0 after a failed backup or restore",
    "success-without-credentials": "missing credentials logged as a warning, exit 0",
    "same-second-overwrite": "TS taken from the clock alone; a colliding snapshot is replaced",
    "dry-run-side-effects": "--dry-run still creates the snapshot",
    "subvolume-filter-ignored": "--subvolume is ignored: every configured subvolume is backed up",
    "log-event-renamed": "backup_uploaded logged as upload_done",
}

_switches = Switches(ENV_VAR, "defect", CATALOGUE)
parse = _switches.parse
active = _switches.active
enabled = _switches.enabled
activated = _switches.activated


def load_from_env(environ=None):
    return _switches.load_from_env(os.environ if environ is None else environ)
