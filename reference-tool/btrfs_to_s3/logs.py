"""Log records of the contract: `<date> <time,ms> <LEVEL> <logger> event=<name> k=v ...`."""

import logging
import os
import sys
import time
import uuid

from . import quirks

ROOT = "btrfs_to_s3"
# The log-levels quirk's logger family (configured like ROOT).
QUIRK_ROOT = "bts3"
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The contract's events (and its failure events), which the log-levels
# quirk moves to other levels and another logger.
CONTRACT_SUCCESSES = frozenset({
    "snapshot_created", "backup_metrics", "backup_uploaded", "restore_metrics",
    "restore_complete", "restore_verify_complete",
})
CONTRACT_FAILURES = frozenset({"backup_lock_failed", "backup_failed", "restore_failed"})
# One id per process: the extra-fields quirk's `run=` field.
RUN_ID = uuid.uuid4().hex


class _UtcFormatter(logging.Formatter):
    converter = time.gmtime


def setup(level="INFO", stream=None):
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_UtcFormatter(FORMAT))
    for name in (QUIRK_ROOT, ROOT):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level.upper())
        logger.propagate = False
    return logger


def get(name):
    return logging.getLogger(f"{ROOT}.{name}")


def _escape(text):
    # One record is one line and a value never contains a space, so a
    # reader can split on spaces; `error` alone may (it ends the line).
    out = []
    for ch in text:
        if ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _value(value):
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _escape(str(value))


def _one_line(text):
    return " ".join(str(text).split()) or "-"


def format_event(name, fields):
    parts = [f"event={name}"]
    for key, value in fields.items():
        if key != "error":
            parts.append(f"{key}={_value(value)}")
    if "error" in fields:
        parts.append(f"error={_one_line(fields['error'])}")
    return " ".join(parts)


def event(logger, name, level=logging.INFO, **fields):
    if name in CONTRACT_SUCCESSES | CONTRACT_FAILURES and quirks.on("log-levels", "levels"):
        # Still the contract's line format, at levels and under a logger
        # name of another tool's choosing.
        level = logging.CRITICAL if name in CONTRACT_FAILURES else logging.WARNING
        logger = logging.getLogger(f"{QUIRK_ROOT}.core")
    if quirks.on("extra-fields", "event"):
        shaped = {} if "run" in fields else {"run": RUN_ID}
        shaped.update(fields)
        shaped.setdefault("pid", os.getpid())
        fields = shaped
    logger.log(level, format_event(name, fields))


def throughput(total_bytes, seconds):
    """Bytes per second in MB/s (powers of 1000), as the contract shows."""
    rate = total_bytes / seconds / 1e6 if seconds > 0 else 0.0
    return f"{rate:.2f}MB/s"


def metrics_fields(subvolume, total_bytes, seconds):
    return {
        "subvolume": subvolume,
        "total_bytes": total_bytes,
        "elapsed_seconds": f"{seconds:.3f}",
        "throughput": throughput(total_bytes, seconds),
    }
