import datetime
import unittest

from btrfs_to_s3 import planning
from btrfs_to_s3.config import ScheduleConfig

UTC = datetime.timezone.utc
DAILY = ScheduleConfig(full_every_days=7, incremental_every_days=1, run_at=(2, 0))


def t(text):
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def entry(snapshot_ts="20250110T020005Z", full_at="2025-01-08T02:00:00Z", kind="inc"):
    return {"last_snapshot": f"/snap/data__{snapshot_ts}__{kind}",
            "last_manifest": f"p/subvol/data/incremental/manifest-{snapshot_ts}.json",
            "last_full_at": full_at}


def exists(path):
    return True


class IntervalTest(unittest.TestCase):
    def test_daily_counts_calendar_days_and_run_at(self):
        last = t("2025-01-10T02:00:05")
        self.assertFalse(planning.interval_elapsed(t("2025-01-10T23:00:00"), last, 1, (2, 0)))
        self.assertFalse(planning.interval_elapsed(t("2025-01-11T01:59:00"), last, 1, (2, 0)))
        # a few seconds earlier than yesterday's run is still due
        self.assertTrue(planning.interval_elapsed(t("2025-01-11T02:00:01"), last, 1, (2, 0)))
        self.assertTrue(planning.interval_elapsed(t("2025-01-12T00:30:00"), last, 1, (2, 0)))

    def test_zero_and_fractions(self):
        last = t("2025-01-10T02:00:00")
        self.assertTrue(planning.interval_elapsed(last, last, 0, (2, 0)))
        self.assertFalse(planning.interval_elapsed(t("2025-01-10T13:00:00"), last, 0.5, (2, 0)))
        self.assertTrue(planning.interval_elapsed(t("2025-01-10T14:00:00"), last, 0.5, (2, 0)))


class PlanTest(unittest.TestCase):
    def plan(self, now, state_entry, force=False, parent_exists=exists, schedule=DAILY):
        return planning.plan_backup("data", t(now), schedule, state_entry, force=force, parent_exists=parent_exists)

    def test_first_backup_is_due_full(self):
        plan = self.plan("2025-01-10T03:00:00", None)
        self.assertTrue(plan.due)
        self.assertEqual(plan.kind, "full")
        self.assertIsNone(plan.parent_snapshot)
        self.assertIsNone(plan.parent_manifest)

    def test_recent_backup_is_not_due_unless_forced(self):
        plan = self.plan("2025-01-10T05:00:00", entry())
        self.assertFalse(plan.due)
        forced = self.plan("2025-01-10T05:00:00", entry(), force=True)
        self.assertTrue(forced.due)
        self.assertEqual(forced.reason, "forced by --once")
        self.assertEqual(forced.kind, "incremental")

    def test_due_incremental_has_parent(self):
        plan = self.plan("2025-01-11T02:30:00", entry())
        self.assertTrue(plan.due)
        self.assertEqual(plan.kind, "incremental")
        self.assertEqual(plan.parent_snapshot, "/snap/data__20250110T020005Z__inc")
        self.assertTrue(plan.parent_manifest.endswith("manifest-20250110T020005Z.json"))

    def test_full_when_full_interval_elapsed(self):
        plan = self.plan("2025-01-15T02:30:00", entry())
        self.assertEqual(plan.kind, "full")
        self.assertEqual(plan.reason, "full_every_days elapsed")

    def test_full_when_parent_snapshot_missing(self):
        plan = self.plan("2025-01-11T02:30:00", entry(), parent_exists=lambda path: False)
        self.assertEqual(plan.kind, "full")
        self.assertEqual(plan.reason, "parent snapshot missing")
        self.assertIsNone(plan.parent_snapshot)

    def test_no_parent_check_keeps_incremental(self):
        plan = self.plan("2025-01-11T02:30:00", entry(), parent_exists=None)
        self.assertEqual(plan.kind, "incremental")

    def test_full_when_state_incomplete(self):
        broken = entry()
        broken["last_full_at"] = None
        self.assertEqual(self.plan("2025-01-11T02:30:00", broken).kind, "full")
        broken = entry()
        broken["last_manifest"] = None
        self.assertEqual(self.plan("2025-01-11T02:30:00", broken).kind, "full")

    def test_full_every_zero_means_always_full(self):
        schedule = ScheduleConfig(full_every_days=0, incremental_every_days=0, run_at=(0, 0))
        plan = self.plan("2025-01-10T05:00:00", entry(), schedule=schedule)
        self.assertTrue(plan.due)
        self.assertEqual(plan.kind, "full")


if __name__ == "__main__":
    unittest.main()
