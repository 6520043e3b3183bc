"""The command line through main(): flags, exit codes, usage and config errors."""

import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import unittest

from btrfs_to_s3 import cli, defects
from btrfs_to_s3.lockfile import Lock
from tests.fakes import FakeBtrfs, config_dict, to_toml

TOOL_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class CliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.config = os.path.join(self.tmp.name, "config.toml")
        self.write_config(config_dict(self.tmp.name))
        for name in ("data", "home"):
            FakeBtrfs.make_subvolume(os.path.join(self.tmp.name, "fs", name), b"x")
        self.handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}

    def tearDown(self):
        for signum, handler in self.handlers.items():
            signal.signal(signum, handler)
        defects.load_from_env({})
        self.tmp.cleanup()

    def write_config(self, data):
        with open(self.config, "w") as handle:
            handle.write(to_toml(data))

    def run_main(self, *argv, env=None):
        stderr = io.StringIO()
        old = os.environ.get(defects.ENV_VAR)
        if env is not None:
            os.environ[defects.ENV_VAR] = env
        try:
            with contextlib.redirect_stderr(stderr):
                code = cli.main(list(argv))
        finally:
            if old is None:
                os.environ.pop(defects.ENV_VAR, None)
            else:
                os.environ[defects.ENV_VAR] = old
        return code, stderr.getvalue()

    def test_dry_run_exits_zero_and_plans(self):
        code, err = self.run_main("backup", "--subvolume", "data", "--once", "--dry-run", "--config", self.config)
        self.assertEqual(code, 0, err)
        self.assertIn("event=backup_planned subvolume=data kind=full", err)
        self.assertNotIn("home", err)
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "fs", "snapshots")))

    def test_log_level_flag(self):
        code, err = self.run_main("backup", "--dry-run", "--log-level", "error", "--config", self.config)
        self.assertEqual(code, 0)
        self.assertEqual(err, "")

    def test_usage_errors_exit_2(self):
        cases = [
            (),
            ("backup",),
            ("backup", "--config", "relative.toml"),
            ("backup", "--bogus", "--config", self.config),
            ("--config", self.config, "backup"),
            ("restore", "--subvolume", "data", "--config", self.config),
            ("restore", "--subvolume", "data", "--target", "t", "--verify", "all", "--config", self.config),
            ("restore", "--subvolume", "data", "--target", "t", "--wait-restore", "--no-wait-restore",
             "--config", self.config),
            ("restore", "--subvolume", "data", "--target", "t", "--restore-timeout", "soon", "--config", self.config),
            ("backup", "--subvolume", "nope", "--config", self.config),
        ]
        for argv in cases:
            with self.subTest(argv=argv):
                code, err = self.run_main(*argv)
                self.assertEqual(code, 2, err)

    def test_config_errors_exit_2_and_name_the_key(self):
        data = config_dict(self.tmp.name)
        del data["s3"]["sse"]
        self.write_config(data)
        code, err = self.run_main("backup", "--dry-run", "--config", self.config)
        self.assertEqual(code, 2)
        self.assertIn("[s3] sse: missing", err)
        code, err = self.run_main("backup", "--config", os.path.join(self.tmp.name, "none.toml"))
        self.assertEqual(code, 2)

    def test_unknown_defect_exits_2(self):
        code, err = self.run_main("backup", "--dry-run", "--config", self.config, env="no-lock,nonsense")
        self.assertEqual(code, 2)
        self.assertIn("nonsense", err)

    def test_known_defect_is_announced(self):
        code, err = self.run_main("backup", "--dry-run", "--config", self.config, env="no-lock")
        self.assertEqual(code, 0)
        self.assertIn("event=defects_enabled names=no-lock", err)

    def test_lock_contention_exits_1(self):
        with Lock(os.path.join(self.tmp.name, "state", "lock")):
            code, err = self.run_main("backup", "--once", "--no-s3", "--config", self.config)
        self.assertEqual(code, 1)
        self.assertRegex(err, r"ERROR btrfs_to_s3.backup event=backup_lock_failed error=lock .* is held by pid \d+")

    def test_exit_zero_on_failure_defect(self):
        with Lock(os.path.join(self.tmp.name, "state", "lock")):
            code, _ = self.run_main("backup", "--once", "--no-s3", "--config", self.config,
                                    env="exit-zero-on-failure")
        self.assertEqual(code, 0)

    def test_module_entry_point_and_sigterm(self):
        env = dict(os.environ, PYTHONPATH=TOOL_DIR)
        result = subprocess.run([sys.executable, "-m", "btrfs_to_s3", "backup", "--dry-run", "--config", self.config],
                                env=env, capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        # A SIGTERM is turned into cleanup, then death by the same signal.
        code = ("import os, signal, sys\n"
                "from btrfs_to_s3 import cli\n"
                "cli._run = lambda args: os.kill(os.getpid(), signal.SIGTERM)\n"
                "sys.exit(cli.main(['backup', '--dry-run', '--config', %r]))\n") % self.config
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        self.assertEqual(result.returncode, -signal.SIGTERM, result.stderr)
        self.assertIn("event=terminated signal=15", result.stderr)


class CrashTest(unittest.TestCase):
    """A defect that crashes ends the process on a traceback (exit 1), past every handler."""

    DRIVER = """
import sys
sys.path.insert(0, {tool!r})
from btrfs_to_s3 import btrfs, cli, s3client
from btrfs_to_s3.retry import Retrier
from tests.fakes import FakeBtrfs, FakeClientError, FakeS3
s3 = FakeS3(bucket="bkt")
for _ in range(8):
    s3.fail_next("PutObject", FakeClientError("InternalError", 500), key_contains="/manifest-")
s3client.make_client = lambda region: s3
s3client.make_retrier = lambda: Retrier(attempts=2, sleep=lambda s: None)
btrfs.Btrfs = FakeBtrfs
sys.exit(cli.main(["backup", "--subvolume", "data", "--once", "--config", {config!r}]))
"""

    def run_backup(self, defect):
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "config.toml")
            with open(config, "w") as handle:
                handle.write(to_toml(config_dict(tmp)))
            for name in ("data", "home"):
                FakeBtrfs.make_subvolume(os.path.join(tmp, "fs", name), b"x")
            env = dict(os.environ, PYTHONPATH=TOOL_DIR, **{defects.ENV_VAR: defect})
            return subprocess.run([sys.executable, "-c", self.DRIVER.format(tool=TOOL_DIR, config=config)],
                                  env=env, capture_output=True, text=True)

    def test_s3_error_is_a_clean_failure(self):
        result = self.run_backup("")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertIn("event=backup_failed subvolume=data error=InternalError", result.stderr.splitlines()[-1])

    def test_defect_crash_on_s3_error(self):
        result = self.run_backup("crash-on-s3-error")
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertNotIn("event=backup_failed", result.stderr)
        tail = result.stderr[result.stderr.rindex("Traceback (most recent call last):"):].splitlines()
        self.assertTrue(tail[-1].startswith("tests.fakes.FakeClientError: InternalError (500)"), tail[-1])
        self.assertFalse([line for line in tail if " event=" in line])


if __name__ == "__main__":
    unittest.main()
