import datetime
import unittest

from btrfs_to_s3 import naming, timestamps

UTC = datetime.timezone.utc


def at(text):
    return timestamps.parse_ts(text)


class TimestampTest(unittest.TestCase):
    def test_round_trip(self):
        moment = datetime.datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
        self.assertEqual(timestamps.format_ts(moment), "20250304T050607Z")
        self.assertEqual(at("20250304T050607Z"), moment.replace(microsecond=0))
        self.assertTrue(timestamps.is_ts("20250304T050607Z"))
        self.assertFalse(timestamps.is_ts("2025-03-04"))
        self.assertEqual(timestamps.iso(moment), "2025-03-04T05:06:07Z")
        self.assertEqual(timestamps.parse_iso("2025-03-04T05:06:07Z"), moment.replace(microsecond=0))

    def test_free_second_is_now(self):
        now = at("20250101T000010Z")
        self.assertEqual(timestamps.next_free_ts(now, {"20250101T000009Z"}), "20250101T000010Z")

    def test_same_second_moves_on(self):
        now = at("20250101T000010Z")
        self.assertEqual(timestamps.next_free_ts(now, {"20250101T000010Z"}), "20250101T000011Z")
        taken = {"20250101T000010Z", "20250101T000011Z", "20250101T000012Z"}
        self.assertEqual(timestamps.next_free_ts(now, taken), "20250101T000013Z")

    def test_clock_stepped_back_stays_monotonic(self):
        now = at("20250101T000000Z")
        self.assertEqual(timestamps.next_free_ts(now, {"20250102T000000Z", "junk"}), "20250102T000001Z")

    def test_remote_check(self):
        now = at("20250101T000010Z")
        remote = {"20250101T000010Z", "20250101T000011Z"}
        self.assertEqual(timestamps.next_free_ts(now, set(), remote.__contains__), "20250101T000012Z")


class NamingTest(unittest.TestCase):
    def test_prefix(self):
        self.assertEqual(naming.normalize_prefix(""), "")
        self.assertEqual(naming.normalize_prefix("/"), "")
        self.assertEqual(naming.normalize_prefix("a/b"), "a/b/")
        self.assertEqual(naming.normalize_prefix("a/b//"), "a/b/")

    def test_keys(self):
        p = "pfx/"
        self.assertEqual(naming.chunk_key(p, "data", "full", "20250101T000000Z", 10),
                         "pfx/subvol/data/full/chunk-20250101T000000Z-10.bin")
        self.assertEqual(naming.manifest_key(p, "data", "incremental", "20250101T000000Z"),
                         "pfx/subvol/data/incremental/manifest-20250101T000000Z.json")
        self.assertEqual(naming.pointer_key("", "data"), "subvol/data/current.json")

    def test_parse_manifest_key(self):
        self.assertEqual(naming.parse_manifest_key("pfx/subvol/data/incremental/manifest-20250101T000000Z.json"),
                         ("data", "incremental", "20250101T000000Z"))
        self.assertIsNone(naming.parse_manifest_key("pfx/subvol/data/current.json"))

    def test_snapshot_names(self):
        self.assertEqual(naming.snapshot_name("data", "20250101T000000Z", "incremental"),
                         "data__20250101T000000Z__inc")
        self.assertEqual(naming.parse_snapshot_name("/s/my__vol__20250101T000000Z__full"),
                         ("my__vol", "20250101T000000Z", "full"))
        self.assertEqual(naming.parse_snapshot_name("data__20250101T000000Z__inc")[2], "incremental")
        self.assertIsNone(naming.parse_snapshot_name("data__2025__full"))
        self.assertIsNone(naming.parse_snapshot_name("data__20250101T000000Z__diff"))


if __name__ == "__main__":
    unittest.main()
