"""A backup/restore world for end-to-end tests: fake S3, fake btrfs, real dirs."""

import datetime
import os
import random
import tempfile

from btrfs_to_s3 import defects, quirks, timestamps
from btrfs_to_s3.backup import Backup, BackupOptions
from btrfs_to_s3.restore import Restore, RestoreOptions
from btrfs_to_s3.retry import Retrier
from btrfs_to_s3.store import Store
from tests.fakes import MIB, FakeBtrfs, FakeS3, LogCapture, make_config


def payload(size, seed):
    """Deterministic incompressible bytes."""
    return random.Random(f"seed-{seed}").randbytes(size)


class Clock:
    def __init__(self, start="20250110T030000Z"):
        self.now = timestamps.parse_ts(start)

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += datetime.timedelta(**delta)


class World:
    def __init__(self, **config_overrides):
        self._tmp = tempfile.TemporaryDirectory()
        self.root = self._tmp.name
        self.cfg = make_config(self.root, **config_overrides)
        self.s3 = FakeS3()
        self.btrfs = FakeBtrfs()
        self.clock = Clock()
        self.store_made = 0
        self.make_store_error = None
        for path in self.cfg.subvolume_paths:
            FakeBtrfs.make_subvolume(path, payload(1000, path))
        os.makedirs(self.cfg.restore.target_base_dir, exist_ok=True)

    def close(self):
        self._tmp.cleanup()

    def write(self, subvolume, data):
        path = self.cfg.subvolume_path(subvolume)
        with open(os.path.join(path, "content.bin"), "wb") as handle:
            handle.write(data)

    def make_store(self):
        self.store_made += 1
        if self.make_store_error is not None:
            raise self.make_store_error
        return Store(self.s3, self.cfg.s3.bucket, Retrier(attempts=4, sleep=lambda s: None))

    def backup(self, *subvolumes, once=True, dry_run=False, no_s3=False, defect=(), quirk=()):
        opts = BackupOptions(tuple(subvolumes), once, dry_run, no_s3)
        with defects.activated(*defect), quirks.activated(*quirk), LogCapture() as logs:
            code = Backup(self.cfg, opts, btrfs=self.btrfs, make_store=self.make_store,
                          clock=self.clock).run()
        return code, logs

    def restore(self, subvolume="data", target="restored", defect=(), quirk=(), **kwargs):
        opts = RestoreOptions(subvolume, target, **kwargs)
        with defects.activated(*defect), quirks.activated(*quirk), LogCapture() as logs:
            code = Restore(self.cfg, opts, btrfs=self.btrfs, make_store=self.make_store,
                           sleep=lambda s: None).run()
        return code, logs

    def snapshot_path(self, name):
        return os.path.join(self.cfg.snapshots.base_dir, name)

    def snapshots(self):
        base = self.cfg.snapshots.base_dir
        return sorted(os.listdir(base)) if os.path.isdir(base) else []

    def keys(self, part=""):
        return sorted(k for k in self.s3.objects if part in k)


__all__ = ["World", "payload", "MIB"]
