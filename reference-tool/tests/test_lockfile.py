import os
import subprocess
import sys
import tempfile
import unittest

from btrfs_to_s3 import defects
from btrfs_to_s3.errors import LockHeld
from btrfs_to_s3.lockfile import Lock
from tests.fakes import LogCapture


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


class LockTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "run", "lock")

    def tearDown(self):
        self.tmp.cleanup()

    def read(self):
        with open(self.path) as handle:
            return handle.read().strip()

    def test_holds_pid_and_releases(self):
        with Lock(self.path):
            self.assertEqual(self.read(), str(os.getpid()))
        self.assertFalse(os.path.exists(self.path))

    def test_second_holder_is_refused(self):
        with Lock(self.path):
            with self.assertRaisesRegex(LockHeld, f"held by pid {os.getpid()}"):
                Lock(self.path).acquire()
        with Lock(self.path):
            pass

    def test_refused_across_processes(self):
        with Lock(self.path):
            code = ("import sys; sys.path.insert(0, %r)\n"
                    "from btrfs_to_s3.lockfile import Lock\n"
                    "from btrfs_to_s3.errors import LockHeld\n"
                    "try:\n    Lock(%r).acquire()\nexcept LockHeld:\n    sys.exit(3)\n") % (
                os.path.dirname(os.path.dirname(os.path.abspath(__file__))), self.path)
            self.assertEqual(subprocess.run([sys.executable, "-c", code]).returncode, 3)

    def test_stale_lock_of_dead_process_is_recovered(self):
        os.makedirs(os.path.dirname(self.path))
        stale = dead_pid()
        with open(self.path, "w") as handle:
            handle.write(f"{stale}\n")
        with LogCapture() as logs:
            with Lock(self.path):
                self.assertEqual(self.read(), str(os.getpid()))
        self.assertEqual(len(logs.events("lock_recovered")), 1)
        self.assertIn(f"stale_pid={stale}", logs.text)

    def test_defect_stale_lock_blocks(self):
        os.makedirs(os.path.dirname(self.path))
        with open(self.path, "w") as handle:
            handle.write(f"{dead_pid()}\n")
        with defects.activated("stale-lock-blocks"):
            with self.assertRaises(LockHeld):
                Lock(self.path).acquire()

    def test_defect_no_lock(self):
        with defects.activated("no-lock"):
            with Lock(self.path):
                with Lock(self.path):
                    self.assertEqual(self.read(), str(os.getpid()))


if __name__ == "__main__":
    unittest.main()
