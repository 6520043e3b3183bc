import os
import re
import unittest

from btrfs_to_s3 import defects
from btrfs_to_s3.errors import UsageError

TOOL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.join(TOOL_DIR, "btrfs_to_s3")


class DefectsTest(unittest.TestCase):
    def test_parse(self):
        self.assertEqual(defects.parse(""), frozenset())
        self.assertEqual(defects.parse(None), frozenset())
        self.assertEqual(defects.parse(" no-lock , wrong-sha256,,"), {"no-lock", "wrong-sha256"})

    def test_unknown_name_is_a_usage_error(self):
        with self.assertRaisesRegex(UsageError, "unknown defect name.*bogus"):
            defects.parse("no-lock,bogus")

    def test_default_is_correct(self):
        defects.load_from_env({})
        self.assertFalse(any(defects.enabled(name) for name in defects.CATALOGUE))

    def test_enabled_and_activated(self):
        defects.load_from_env({defects.ENV_VAR: "no-lock"})
        try:
            self.assertTrue(defects.enabled("no-lock"))
            with defects.activated("no-retry"):
                self.assertTrue(defects.enabled("no-retry"))
                self.assertFalse(defects.enabled("no-lock"))
            self.assertTrue(defects.enabled("no-lock"))
        finally:
            defects.load_from_env({})
        with self.assertRaises(KeyError):
            defects.enabled("not-a-defect")

    def test_catalogue_is_large_and_documented(self):
        self.assertGreaterEqual(len(defects.CATALOGUE), 15)
        with open(os.path.join(TOOL_DIR, "DEFECTS.md")) as handle:
            documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", handle.read(), re.MULTILINE))
        self.assertEqual(documented, set(defects.CATALOGUE))

    def test_every_defect_has_a_code_path(self):
        source = ""
        for name in os.listdir(PACKAGE_DIR):
            if name.endswith(".py") and name != "defects.py":
                with open(os.path.join(PACKAGE_DIR, name)) as handle:
                    source += handle.read()
        used = set(re.findall(r'defects\.enabled\("([a-z0-9-]+)"\)', source))
        self.assertEqual(used, set(defects.CATALOGUE))


if __name__ == "__main__":
    unittest.main()
