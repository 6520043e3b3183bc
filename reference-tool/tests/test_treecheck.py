"""restore --verify's comparison of a restored tree with its source snapshot, on plain directories."""

import errno
import os
import shutil
import stat
import tempfile
import unittest
from unittest import mock

from btrfs_to_s3 import defects, quirks, treecheck
from btrfs_to_s3.treecheck import SourceUnavailable, TreeCheckError, VerifyMismatch


def xattrs_supported(path):
    try:
        os.setxattr(path, "user.probe", b"1")
        os.removexattr(path, "user.probe")
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
            return False
        raise
    return True


def scan_with_stub(stub_name, source_root):
    """treecheck.scan, but directories called `stub_name` in the source are
    nested-subvolume stubs (a real one needs a btrfs with another st_dev)."""
    real_scan = treecheck.scan

    def scan(root, *, stubs=True, skip=()):
        entries, found = real_scan(root, stubs=stubs, skip=skip)
        if stubs and os.fsencode(root) == os.fsencode(source_root):
            for rel in [rel for rel in entries if os.path.basename(rel) == stub_name.encode()]:
                found[rel] = "empty-subvolume-stub"
                del entries[rel]
        return entries, found
    return scan


class TreeTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.source = os.path.join(self.tmp.name, "source")
        self.target = os.path.join(self.tmp.name, "restore")
        os.mkdir(self.source)
        self.make(self.source)

    def tearDown(self):
        self.tmp.cleanup()

    def make(self, root):
        os.makedirs(os.path.join(root, "dir", "sub"))
        for i in range(6):
            with open(os.path.join(root, "dir", f"file-{i}"), "wb") as handle:
                handle.write(bytes([i]) * (1000 * (i + 1)))
        with open(os.path.join(root, "big"), "wb") as handle:
            handle.write(b"b" * 50_000)
        os.symlink("dir/file-1", os.path.join(root, "link"))
        os.link(os.path.join(root, "big"), os.path.join(root, "dir", "sub", "big-again"))
        os.mkfifo(os.path.join(root, "fifo"))
        os.chmod(os.path.join(root, "dir", "file-2"), 0o4755)
        self.xattrs = xattrs_supported(os.path.join(root, "big"))
        if self.xattrs:
            os.setxattr(os.path.join(root, "dir", "file-0"), "user.note", b"value")

    def restore_copy(self):
        """A faithful copy (types, modes, hardlinks, xattrs, times): what a correct receive gives."""
        src_root, dst_root = os.fsencode(self.source), os.fsencode(self.target)
        inodes = {}
        for directory, dirnames, filenames in os.walk(src_root):
            rel_dir = os.path.relpath(directory, src_root)
            os.makedirs(os.path.join(dst_root, rel_dir), exist_ok=True)
            for name in dirnames + filenames:
                src = os.path.join(directory, name)
                dst = os.path.join(dst_root, rel_dir, name)
                st = os.lstat(src)
                if stat.S_ISDIR(st.st_mode):
                    continue
                if st.st_nlink > 1 and st.st_ino in inodes:
                    os.link(inodes[st.st_ino], dst)
                elif stat.S_ISLNK(st.st_mode):
                    os.symlink(os.readlink(src), dst)
                elif stat.S_ISFIFO(st.st_mode):
                    os.mkfifo(dst, stat.S_IMODE(st.st_mode))
                else:
                    shutil.copy2(src, dst)
                inodes.setdefault(st.st_ino, dst)
        for directory, dirnames, filenames in os.walk(src_root, topdown=False):
            for name in dirnames + filenames + [b""]:
                src = os.path.join(directory, name) if name else directory
                dst = os.path.join(dst_root, os.path.relpath(src, src_root))
                st = os.lstat(src)
                if not stat.S_ISLNK(st.st_mode):
                    os.chmod(dst, stat.S_IMODE(st.st_mode))
                os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

    def reset_dir_times(self):
        """Directory mtimes as in the source again (after a test changed entries)."""
        for directory, _, _ in os.walk(self.source):
            dst = os.path.join(self.target, os.path.relpath(directory, self.source))
            if os.path.isdir(dst):
                st = os.lstat(directory)
                os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))

    def compare(self, mode="full", limit=100, **kwargs):
        return treecheck.compare(self.source, self.target, mode, limit, **kwargs)

    def assert_mismatch(self, path, detail_part, **kwargs):
        with self.assertRaises(VerifyMismatch) as caught:
            self.compare(**kwargs)
        self.assertIn(f"verify mismatch: {path}: ", str(caught.exception))
        self.assertIn(detail_part, str(caught.exception))


class CompareTest(TreeTestCase):
    def test_a_faithful_restore_matches(self):
        self.restore_copy()
        result = self.compare()
        self.assertEqual(result.entries, 13)  # root, dir, dir/sub, 6 files, big, link, fifo, big-again
        self.assertEqual(result.files_compared, 8)
        self.assertEqual(result.bytes_compared, sum(1000 * (i + 1) for i in range(6)) + 2 * 50_000)
        self.assertEqual(result.known_differences, ())

    def test_content_difference_of_the_same_size(self):
        self.restore_copy()
        path = os.path.join(self.target, "dir", "file-3")
        st = os.lstat(path)
        with open(path, "r+b") as handle:
            handle.write(b"X")
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        self.assert_mismatch("dir/file-3", "content differs")

    def test_metadata_differences(self):
        cases = [
            ("mode", lambda t: os.chmod(os.path.join(t, "dir", "file-4"), 0o600), "dir/file-4", "mode differs"),
            ("mtime", lambda t: os.utime(os.path.join(t, "big"), ns=(1, 1)), "big", "mtime differs"),
            ("root mtime", lambda t: os.utime(t, ns=(1, 1)), ".", "mtime differs"),
            ("symlink", lambda t: (os.unlink(os.path.join(t, "link")),
                                   os.symlink("dir/file-2", os.path.join(t, "link"))), "link",
             "symlink target differs (source dir/file-1, restore dir/file-2)"),
            ("missing", lambda t: os.unlink(os.path.join(t, "fifo")), "fifo", "fifo missing from the restore"),
            ("extra", lambda t: open(os.path.join(t, "zz-extra"), "w").close(), "zz-extra",
             "not in the source snapshot"),
            ("hardlink", lambda t: (os.unlink(os.path.join(t, "dir", "sub", "big-again")),
                                    shutil.copy2(os.path.join(t, "big"), os.path.join(t, "dir", "sub", "big-again"))),
             "big", "nlink differs"),
        ]
        for name, change, path, detail in cases:
            with self.subTest(name):
                shutil.rmtree(self.target, ignore_errors=True)
                self.restore_copy()
                change(self.target)
                if name != "root mtime":
                    self.reset_dir_times()
                self.assert_mismatch(path, detail)

    def test_xattrs_are_compared(self):
        if not self.xattrs:
            self.skipTest("no user xattrs here")
        self.restore_copy()
        os.setxattr(os.path.join(self.target, "dir", "file-0"), "user.note", b"other")
        self.assert_mismatch("dir/file-0", "xattr user.note differs")

    def test_owner_is_compared(self):
        if os.geteuid() != 0:
            self.skipTest("chown needs root")
        self.restore_copy()
        os.chown(os.path.join(self.target, "dir", "file-5"), 1234, 5678)
        self.assert_mismatch("dir/file-5", "owner differs (source 0:0, restore 1234:5678)")

    def test_setuid_lost_on_chown_is_known_only_for_incrementals(self):
        self.restore_copy()
        path = os.path.join(self.target, "dir", "file-2")
        st = os.lstat(path)
        os.chmod(path, 0o755)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        self.assert_mismatch("dir/file-2", "mode differs (source 4755, restore 0755)")
        result = self.compare(incremental=True)
        self.assertEqual(result.known_differences, ((b"dir/file-2", "setuid-lost-on-chown-only"),))

    def test_metadata_off_compares_contents_only(self):
        self.restore_copy()
        os.chmod(os.path.join(self.target, "dir", "file-4"), 0o600)
        os.utime(self.target, ns=(1, 1))
        self.compare(metadata=False)
        with open(os.path.join(self.target, "big"), "ab") as handle:
            handle.write(b"+")
        with self.assertRaises(VerifyMismatch):
            self.compare(metadata=False)

    def test_sample_reads_at_most_the_limit(self):
        self.restore_copy()
        result = self.compare(mode="sample", limit=3)
        self.assertEqual(result.files_compared, 3)
        self.assertEqual(result.entries, 13)
        # metadata of every entry is still compared
        os.utime(os.path.join(self.target, "dir", "file-5"), ns=(1, 1))
        with self.assertRaises(VerifyMismatch):
            self.compare(mode="sample", limit=1)

    def test_skipped_names_at_the_root(self):
        self.restore_copy()
        open(os.path.join(self.target, ".marker"), "w").close()
        self.reset_dir_times()
        with self.assertRaises(VerifyMismatch):
            self.compare()
        self.compare(skip=(".marker",))

    def test_unreadable_source_is_not_a_mismatch(self):
        self.restore_copy()
        shutil.rmtree(self.source)
        with self.assertRaises(SourceUnavailable):
            self.compare()

    def test_unreadable_restore_is_an_error(self):
        self.restore_copy()
        shutil.rmtree(self.target)
        with self.assertRaises(TreeCheckError):
            self.compare()

    def test_hostile_names_are_escaped_in_messages(self):
        name = b"new\nline-\xff"
        with open(os.path.join(os.fsencode(self.source), name), "wb") as handle:
            handle.write(b"x")
        self.restore_copy()
        os.unlink(os.path.join(os.fsencode(self.target), name))
        self.reset_dir_times()
        self.assert_mismatch("new\\x0aline-\\xff", "missing from the restore")


class NestedSubvolumeTest(TreeTestCase):
    """A nested subvolume is an empty stub in the snapshot and is not sent."""

    def setUp(self):
        super().setUp()
        os.mkdir(os.path.join(self.source, "nested"))
        self.patch = mock.patch.object(treecheck, "scan", scan_with_stub("nested", self.source))
        self.patch.start()

    def tearDown(self):
        self.patch.stop()
        super().tearDown()

    def restore_without_stub(self):
        self.restore_copy()
        os.rmdir(os.path.join(self.target, "nested"))
        self.reset_dir_times()

    def test_absent_in_the_restore_is_equal(self):
        self.restore_without_stub()
        self.assertEqual(self.compare().entries, 13)

    def test_an_empty_directory_in_its_place_is_equal(self):
        self.restore_copy()
        self.compare()
        open(os.path.join(self.target, "nested", "inside"), "w").close()
        self.reset_dir_times()
        with self.assertRaises(VerifyMismatch):
            self.compare()

    def test_defect_verify_fails_nested_subvolume(self):
        self.restore_without_stub()
        with defects.activated("verify-fails-nested-subvolume"):
            with self.assertRaises(VerifyMismatch) as caught:
                self.compare()
        self.assertIn("verify mismatch: nested: directory missing from the restore", str(caught.exception))


class StubKindTest(unittest.TestCase):
    def test_other_device_directories_are_stubs(self):
        st = os.lstat("/")

        def fake(dev, ino, mode=stat.S_IFDIR | 0o755):
            return os.stat_result((mode, ino, dev, 1, 0, 0, 0, 0, 0, 0))
        self.assertIsNone(treecheck.stub_kind(fake(st.st_dev, 2), st.st_dev))
        self.assertEqual(treecheck.stub_kind(fake(st.st_dev + 1, 2), st.st_dev), "empty-subvolume-stub")
        self.assertEqual(treecheck.stub_kind(fake(st.st_dev + 1, 256), st.st_dev), "subvolume")
        self.assertEqual(treecheck.stub_kind(fake(st.st_dev + 1, 77), st.st_dev), "mount")
        self.assertIsNone(treecheck.stub_kind(fake(st.st_dev + 1, 2, stat.S_IFREG), st.st_dev))


class SampleTest(unittest.TestCase):
    def files(self, sizes):
        return [(f"f{i}".encode(), os.stat_result((stat.S_IFREG, 0, 0, 1, 0, 0, size, 0, 0, 0)))
                for i, size in enumerate(sizes)]

    def test_even_spread_by_default(self):
        files = self.files([1] * 10)
        self.assertEqual([rel for rel, _ in treecheck.choose(files, "sample", 5, "seed")],
                         [b"f0", b"f2", b"f4", b"f6", b"f8"])
        self.assertEqual(len(treecheck.choose(files, "full", 5, "seed")), 10)

    def test_quirk_verify_sampling(self):
        files = self.files([1, 1, 1, 1, 99, 1, 1, 1, 1, 1])
        with quirks.activated("verify-sampling"):
            first = treecheck.choose(files, "sample", 3, "seed")
            again = treecheck.choose(files, "sample", 3, "seed")
            other = [treecheck.choose(files, "sample", 3, f"seed-{i}") for i in range(5)]
        self.assertEqual(first, again)
        self.assertEqual(len(first), 3)
        self.assertIn(b"f4", [rel for rel, _ in first])
        self.assertTrue(all(b"f4" in [rel for rel, _ in o] for o in other))
        self.assertGreater(len({tuple(rel for rel, _ in o) for o in other}), 1)


if __name__ == "__main__":
    unittest.main()
