"""Unit tests for guest/spool_usage.py (Linux: it reads /proc)."""

import json
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import spool_usage  # noqa: E402


class UsageTest(unittest.TestCase):
    def test_counts_named_and_open_unlinked_files_once(self):
        with tempfile.TemporaryDirectory() as root:
            os.mkdir(os.path.join(root, "sub"))
            with open(os.path.join(root, "sub", "named"), "wb") as f:
                f.write(b"x" * 1000)
            self.assertEqual(spool_usage.usage(root), (1000, 1))
            # A spool file the way tempfile makes it: no name, still open.
            with tempfile.TemporaryFile(dir=root) as spool:
                spool.write(b"y" * 5000)
                spool.flush()
                self.assertEqual(spool_usage.usage(root), (6000, 2))
                # Open twice: still one inode.
                with open(os.path.join(root, "sub", "named"), "rb"):
                    self.assertEqual(spool_usage.usage(root), (6000, 2))
            self.assertEqual(spool_usage.usage(root), (1000, 1))

    def test_files_elsewhere_do_not_count(self):
        with tempfile.TemporaryDirectory() as root, tempfile.TemporaryDirectory() as other:
            with tempfile.TemporaryFile(dir=other) as f:
                f.write(b"z" * 100)
                f.flush()
                self.assertEqual(spool_usage.usage(root), (0, 0))

    def test_missing_directory_is_empty(self):
        with tempfile.TemporaryDirectory() as root:
            self.assertEqual(spool_usage.usage(os.path.join(root, "absent")), (0, 0))

    def test_main_stops_on_sigterm_with_the_peak_written(self):
        with tempfile.TemporaryDirectory() as root:
            out = os.path.join(root, "usage.json")
            pid = os.fork()
            if pid == 0:  # the sampler
                os._exit(spool_usage.main(["--dir", os.path.join(root, "spool"), "--out", out,
                                           "--interval", "0.01"]))
            for _ in range(500):
                if os.path.exists(out):
                    break
                time.sleep(0.01)
            os.kill(pid, 15)
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
            with open(out) as f:
                doc = json.load(f)
            self.assertGreaterEqual(doc["samples"], 1)
            self.assertEqual(doc["peak_bytes"], 0)


if __name__ == "__main__":
    unittest.main()
