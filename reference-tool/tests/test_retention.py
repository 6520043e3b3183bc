import unittest

from btrfs_to_s3 import retention

NAMES = [
    "data__20250101T000000Z__full",
    "data__20250102T000000Z__inc",
    "data__20250103T000000Z__inc",
    "data__20250104T000000Z__inc",
    "home__20250105T000000Z__full",
    "lost+found",
    "data__bad__full",
]


class RetentionTest(unittest.TestCase):
    def test_keep_newest(self):
        keep = retention.choose_keep(NAMES, "data", 2)
        self.assertEqual(keep, {"data__20250104T000000Z__inc", "data__20250103T000000Z__inc"})
        self.assertEqual(retention.choose_deletions(NAMES, "data", keep),
                         ["data__20250101T000000Z__full", "data__20250102T000000Z__inc"])

    def test_parent_is_protected(self):
        keep = retention.choose_keep(NAMES, "data", 1, protect={"data__20250102T000000Z__inc"})
        self.assertEqual(retention.choose_deletions(NAMES, "data", keep),
                         ["data__20250101T000000Z__full", "data__20250103T000000Z__inc"])

    def test_other_subvolumes_and_strangers_untouched(self):
        keep = retention.choose_keep(NAMES, "home", 1)
        self.assertEqual(retention.choose_deletions(NAMES, "home", keep), [])
        deletions = retention.choose_deletions(NAMES, "data", retention.choose_keep(NAMES, "data", 1))
        self.assertNotIn("lost+found", deletions)
        self.assertNotIn("data__bad__full", deletions)
        self.assertNotIn("home__20250105T000000Z__full", deletions)

    def test_retain_larger_than_count(self):
        keep = retention.choose_keep(NAMES, "data", 10)
        self.assertEqual(retention.choose_deletions(NAMES, "data", keep), [])


if __name__ == "__main__":
    unittest.main()
