"""Named quirks: behaviours the contract allows and real tools have (see QUIRKS.md).

`REFTOOL_QUIRK=name[,name]` switches quirks on (`all`: every quirk of the
catalogue; they are mutually compatible). Unset, the tool behaves as it
always did. Unlike a defect, a quirk never breaks the contract: it is there
so the harness can prove it judges outcomes, not the reference tool's
habits (its wording, levels, upload order, extra fields...).

Every quirk proves it ran: the first time one of its code paths runs in a
process, `path(name, tag)` logs `event=quirk_path quirk=<name> where=<tag>`
at INFO, once per (quirk, tag). `on(name, tag)` is the usual form: "is the
quirk on? then this path runs now".
"""

import contextlib
import logging
import os
import threading

from .switches import Switches

ENV_VAR = "REFTOOL_QUIRK"
ALL = "all"

CATALOGUE = {
    "error-wording": "error messages worded differently (no 'integrity', 'sha256', 'credential')",
    "direct-receive": "restore receives next to the target, renames the result and makes it writable",
    "one-part-per-chunk": "a chunk over 5 MiB is a multipart upload of exactly one part",
    "concurrent-chunks": "chunks are uploaded concurrently (s3.concurrency workers, at least 2)",
    "extra-fields": "extra fields in events, manifests, current.json and the state file",
    "log-levels": "contract events logged at WARNING/CRITICAL under the logger bts3.core",
    "verify-sampling": "--verify sample picks a seeded random sample plus the largest file",
    "retry-backoff": "full-jitter exponential backoff, 10 attempts, botocore retries off",
    "graceful-sigterm": "SIGTERM cleans up, then exits with status 143 (no re-raised signal)",
}

# The tags each quirk logs, as QUIRKS.md's proof column lists them. The
# error-wording tags avoid the words the quirk keeps out of the log
# ("integrity", "credential"), or the tag line would say them.
TAGS = {
    "error-wording": ("hash", "keys", "lock"),
    "direct-receive": ("receive",),
    "one-part-per-chunk": ("multipart",),
    "concurrent-chunks": ("upload",),
    "extra-fields": ("event", "manifest", "pointer"),
    "log-levels": ("levels",),
    "verify-sampling": ("sample",),
    "retry-backoff": ("retry",),
    "graceful-sigterm": ("sigterm",),
}

_switches = Switches(ENV_VAR, "quirk", CATALOGUE, all_name=ALL)
parse = _switches.parse
active = _switches.active
enabled = _switches.enabled
_logged = set()
_logged_lock = threading.Lock()


def load_from_env(environ=None):
    return _switches.load_from_env(os.environ if environ is None else environ)


def path(name, tag):
    """Log that quirk `name`'s code path `tag` runs (once per process and tag)."""
    if tag not in TAGS[name]:
        raise KeyError(f"quirk {name!r} has no tag {tag!r}")
    with _logged_lock:
        if (name, tag) in _logged:
            return
        _logged.add((name, tag))
    from . import logs  # logs asks quirks about events: import late
    logs.event(logs.get("quirks"), "quirk_path", quirk=name, where=tag)


def on(name, tag):
    """True when quirk `name` is on; then its path `tag` is logged as taken."""
    if not enabled(name):
        return False
    path(name, tag)
    return True


@contextlib.contextmanager
def activated(*names):
    """Switch quirks on for a block (tests); the once-per-process log restarts."""
    with _logged_lock:
        saved = set(_logged)
        _logged.clear()
    try:
        with _switches.activated(*names):
            yield
    finally:
        with _logged_lock:
            _logged.clear()
            _logged.update(saved)


def announce(logger):
    if active():
        from . import logs
        logs.event(logger, "quirks_enabled", level=logging.INFO, names=",".join(sorted(active())))
