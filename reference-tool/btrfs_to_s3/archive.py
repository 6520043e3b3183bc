"""Archive storage classes: request restores and wait for them, with a deadline.

Only GLACIER and DEEP_ARCHIVE objects need RestoreObject before GetObject.
GLACIER_IR (and every IA class) is readable at once: RestoreObject on it is
refused (403 InvalidObjectState), so it is never asked for.
"""

import re
import time

from . import defects, logs, wording
from .errors import ToolError, escaping
from .retry import error_code

log = logs.get("archive")
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
_ONGOING_RE = re.compile(r'ongoing-request\s*=\s*"(true|false)"')


class RestoreTimeout(ToolError):
    pass


def restore_state(head):
    """'ready', 'ongoing' or 'none' from a HeadObject response of an archived object."""
    match = _ONGOING_RE.search((head or {}).get("Restore") or "")
    if not match:
        return "none"
    return "ongoing" if match.group(1) == "true" else "ready"


def is_archive_class(storage_class):
    return storage_class in ARCHIVE_CLASSES


class ArchiveRestorer:
    """`thaw_every_class` is the restore-object-on-instant-class defect: every
    class but STANDARD is "archived", and RestoreObject's errors escape."""

    def __init__(self, store, tier, *, wait, timeout_seconds, monotonic=time.monotonic,
                 sleep=time.sleep, first_poll=1.0, max_poll=15.0, thaw_every_class=False):
        self.store = store
        self.tier = tier
        self.wait = wait
        self.timeout_seconds = timeout_seconds
        self.monotonic = monotonic
        self.sleep = sleep
        self.first_poll = first_poll
        self.max_poll = max_poll
        self.thaw_every_class = thaw_every_class

    def needs_thaw(self, storage_class):
        """Whether objects of this class need RestoreObject before GetObject."""
        if self.thaw_every_class:
            return storage_class not in (None, "STANDARD")
        return is_archive_class(storage_class)

    def request(self, key):
        """Start a restore of `key` if it needs one; True if it is not ready yet."""
        head = self.store.head(key)
        if head is None:
            raise ToolError(wording.say(f"chunk {key} does not exist", f"{key} is gone from the bucket"))
        if not self.needs_thaw(head.get("StorageClass")) or restore_state(head) == "ready":
            return False
        if defects.enabled("crash-on-restore-in-progress"):
            # Asks whatever the Restore header says, and never expected a 409.
            try:
                self.store.restore_object(key, self.tier)
            except Exception as exc:
                if error_code(exc) == "RestoreAlreadyInProgress":
                    raise escaping(exc)
                raise
        elif restore_state(head) == "none":
            try:
                self.store.restore_object(key, self.tier)
            except Exception as exc:
                if self.thaw_every_class:
                    raise escaping(exc)
                if error_code(exc) != "RestoreAlreadyInProgress":
                    raise
        else:
            return True  # ongoing: requested before (by this run or another)
        logs.event(log, "archive_restore_requested", key=key,
                   storage_class=head.get("StorageClass"), tier=self.tier)
        return True

    def ensure_available(self, keys):
        """Make every archived key readable, or raise (timeout, no-wait)."""
        pending = [key for key in keys if self.request(key)]
        if not pending:
            return
        if not self.wait:
            raise ToolError(wording.say(
                f"{len(pending)} archived chunk(s) are being restored and --no-wait-restore "
                f"was given; run the restore again once they are available",
                f"not waiting (--no-wait-restore) for {len(pending)} chunk(s) still thawing; "
                f"try again later"))
        deadline = self.monotonic() + self.timeout_seconds
        pause = self.first_poll
        logs.event(log, "archive_restore_waiting", chunks=len(pending),
                   timeout_seconds=self.timeout_seconds)
        while pending:
            pending = [key for key in pending if restore_state(self.store.head(key)) != "ready"]
            if not pending:
                break
            remaining = deadline - self.monotonic()
            if remaining <= 0:
                raise RestoreTimeout(wording.say(
                    f"timed out after {self.timeout_seconds}s waiting for the archive restore "
                    f"of {len(pending)} chunk(s), first {pending[0]}",
                    f"gave up after {self.timeout_seconds}s: {len(pending)} chunk(s) still thawing, "
                    f"first {pending[0]}"))
            self.sleep(min(pause, remaining))
            pause = min(self.max_poll, pause * 1.5)
        logs.event(log, "archive_restore_ready", chunks=len(keys))
