"""Archive storage classes: request restores and wait for them, with a deadline."""

import re
import time

from . import logs
from .errors import ToolError
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


def needs_restore(head):
    return (head or {}).get("StorageClass") in ARCHIVE_CLASSES and restore_state(head) != "ready"


class ArchiveRestorer:
    def __init__(self, store, tier, *, wait, timeout_seconds, monotonic=time.monotonic,
                 sleep=time.sleep, first_poll=1.0, max_poll=15.0):
        self.store = store
        self.tier = tier
        self.wait = wait
        self.timeout_seconds = timeout_seconds
        self.monotonic = monotonic
        self.sleep = sleep
        self.first_poll = first_poll
        self.max_poll = max_poll

    def request(self, key):
        """Start a restore of `key` if it needs one; True if it is not ready yet."""
        head = self.store.head(key)
        if head is None:
            raise ToolError(f"chunk {key} does not exist")
        if not needs_restore(head):
            return False
        if restore_state(head) == "none":
            try:
                self.store.restore_object(key, self.tier)
            except Exception as exc:
                if error_code(exc) != "RestoreAlreadyInProgress":
                    raise
            logs.event(log, "archive_restore_requested", key=key,
                       storage_class=head.get("StorageClass"), tier=self.tier)
        return True

    def ensure_available(self, keys):
        """Make every archived key readable, or raise (timeout, no-wait)."""
        pending = [key for key in keys if self.request(key)]
        if not pending:
            return
        if not self.wait:
            raise ToolError(
                f"{len(pending)} archived chunk(s) are being restored and --no-wait-restore "
                f"was given; run the restore again once they are available"
            )
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
                raise RestoreTimeout(
                    f"timed out after {self.timeout_seconds}s waiting for the archive restore "
                    f"of {len(pending)} chunk(s), first {pending[0]}"
                )
            self.sleep(min(pause, remaining))
            pause = min(self.max_poll, pause * 1.5)
        logs.event(log, "archive_restore_ready", chunks=len(keys))
