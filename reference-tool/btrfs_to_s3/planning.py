"""Decide whether a subvolume's backup is due, and whether it is a full."""

import dataclasses
import datetime

from . import naming
from .timestamps import parse_iso, parse_ts


@dataclasses.dataclass(frozen=True)
class Plan:
    subvolume: str
    due: bool
    kind: str
    reason: str
    parent_snapshot: str = None
    parent_manifest: str = None

    def as_full(self, reason):
        return dataclasses.replace(
            self, kind=naming.FULL, reason=reason, parent_snapshot=None, parent_manifest=None
        )


def interval_elapsed(now, then, days, run_at):
    """True once `days` have passed since `then`, honouring the daily `run_at`.

    Whole-day intervals count calendar days, so a daily job started a few
    seconds earlier than yesterday's still runs; on the due day it waits for
    run_at, and once overdue it runs at any hour. Intervals shorter than a
    day compare plain durations.
    """
    if days <= 0:
        return True
    if days < 1:
        return now - then >= datetime.timedelta(days=days)
    elapsed_days = (now.date() - then.date()).days
    if elapsed_days > days:
        return True
    if elapsed_days < days:
        return False
    hour, minute = run_at
    return (now.hour, now.minute) >= (hour, minute)


def _snapshot_time(snapshot_path):
    parsed = naming.parse_snapshot_name(snapshot_path or "")
    return parse_ts(parsed[1]) if parsed else None


def plan_backup(subvolume, now, schedule, entry, force=False, parent_exists=None):
    """Plan one subvolume's backup from its state entry and the schedule.

    `entry` is the subvolume's state (`last_full_at`, `last_manifest`,
    `last_snapshot`) or None; `parent_exists(path)` says whether the parent
    snapshot is still on disk (a missing one means a full).
    """
    entry = entry or {}
    last_snapshot = entry.get("last_snapshot")
    last_manifest = entry.get("last_manifest")
    last_time = _snapshot_time(last_snapshot)

    if last_time is None:
        due, reason = True, "no previous backup"
    elif interval_elapsed(now, last_time, schedule.incremental_every_days, schedule.run_at):
        due, reason = True, "schedule"
    else:
        due, reason = False, "last backup is recent"
    if force and not due:
        due, reason = True, "forced by --once"

    plan = Plan(subvolume, due, naming.INCREMENTAL, reason, last_snapshot, last_manifest)
    if not last_snapshot or not last_manifest:
        return plan.as_full("no previous backup")
    last_full_at = entry.get("last_full_at")
    try:
        last_full = parse_iso(last_full_at) if last_full_at else None
    except ValueError:
        last_full = None
    if last_full is None:
        return plan.as_full("no record of a full backup")
    # A full falls due by elapsed days alone; run_at already gated the run.
    if interval_elapsed(now, last_full, schedule.full_every_days, (0, 0)):
        return plan.as_full("full_every_days elapsed")
    if parent_exists is not None and not parent_exists(last_snapshot):
        return plan.as_full("parent snapshot missing")
    return plan
