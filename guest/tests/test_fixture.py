"""Unit tests for the pure parts of guest/fixture.py.

Run from the repository root: python3 -m unittest discover -s guest/tests
They need no root and no Btrfs: any filesystem under the temp dir works.
"""

import contextlib
import hashlib
import io
import os
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import fixture  # noqa: E402

# Items that work unprivileged on any local filesystem.
PORTABLE_ITEMS = "empty,inline,sizes,sparse-all-hole,sparse-mixed,symlinks,hardlinks,hostile-names,deep-tree,many-files,timestamps,real-zeros"


def reference_hash(data: bytes) -> str:
    """The digest's content hash, straight from its definition."""
    h = hashlib.sha256(struct.pack("<Q", len(data)))
    for i in range(0, len(data), 4096):
        block = data[i : i + 4096]
        if block.count(0) != len(block):
            h.update(struct.pack("<Q", i // 4096))
            h.update(block)
    return h.hexdigest()


def digest_text(root: str) -> str:
    return "".join(line + "\n" for line in fixture.digest_lines(os.fsencode(root), []))


class EscapeTest(unittest.TestCase):
    def test_printable_ascii_stays(self):
        self.assertEqual(fixture.escape(b"plain name-1.txt ~"), "plain name-1.txt ~")

    def test_everything_else_is_hex(self):
        self.assertEqual(fixture.escape(b"a\tb\nc\\d\x7f\xff"), "a\\x09b\\x0ac\\x5cd\\x7f\\xff")
        self.assertEqual(fixture.escape("é".encode()), "\\xc3\\xa9")

    def test_extra_bytes_for_xattr_names(self):
        self.assertEqual(fixture.escape(b"user.a=b", b"="), "user.a\\x3db")

    def test_round_trip_all_bytes(self):
        raw = bytes(range(256))
        text = fixture.escape(raw)
        self.assertTrue(all(0x20 <= ord(c) <= 0x7E for c in text))
        self.assertNotIn("\t", text)
        self.assertEqual(fixture.unescape(text), raw)


class ContentHashTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def hash_of(self, path):
        fd = os.open(path, os.O_RDONLY)
        try:
            return fixture.content_digest(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)

    def test_sparse_and_dense_files_hash_alike(self):
        payload = os.urandom(5000)
        size = 3 * 1024 * 1024 + 17
        sparse = self.path("sparse")
        with open(sparse, "wb") as f:
            f.truncate(size)
            f.seek(1024 * 1024)
            f.write(payload)
        dense = self.path("dense")
        data = bytearray(size)
        data[1024 * 1024 : 1024 * 1024 + len(payload)] = payload
        with open(dense, "wb") as f:
            f.write(data)
        h_sparse, holes_sparse = self.hash_of(sparse)
        h_dense, holes_dense = self.hash_of(dense)
        self.assertEqual(h_sparse, h_dense)
        self.assertEqual(h_sparse, reference_hash(bytes(data)))
        self.assertEqual(holes_dense, [])
        if holes_sparse:  # the filesystem under the temp dir keeps holes
            self.assertEqual(holes_sparse[0][0], 0)
            self.assertEqual(holes_sparse[-1][1], size)

    def test_size_and_tail_block_matter(self):
        a, b = self.path("a"), self.path("b")
        with open(a, "wb") as f:
            f.write(b"x" * 4097)
        with open(b, "wb") as f:
            f.write(b"x" * 4097 + b"\0")
        self.assertNotEqual(self.hash_of(a)[0], self.hash_of(b)[0])
        self.assertEqual(self.hash_of(a)[0], reference_hash(b"x" * 4097))

    def test_empty_file(self):
        p = self.path("empty")
        open(p, "wb").close()
        self.assertEqual(self.hash_of(p), (reference_hash(b""), []))

    def test_hole_ranges_and_format(self):
        self.assertEqual(fixture.hole_ranges([(4096, 8192)], 16384), [(0, 4096), (8192, 16384)])
        self.assertEqual(fixture.hole_ranges([], 10), [(0, 10)])
        self.assertEqual(fixture.hole_ranges([(0, 10)], 10), [])
        self.assertEqual(fixture.format_holes([(0, 4096), (8192, 8292)]), "0+4096,8192+100")
        self.assertEqual(fixture.format_holes([]), "-")


class LineFormatTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        root = self.dir.name.encode()
        os.mkdir(root + b"/d")
        with open(root + b"/d/tab\there\xff", "wb") as f:
            f.write(b"hello")
        os.link(root + b"/d/tab\there\xff", root + b"/hard")
        os.symlink(b"d/x\ny", root + b"/link")
        os.utime(root + b"/link", ns=(5, 6), follow_symlinks=False)
        self.root = root

    def test_records(self):
        lines = digest_text(self.dir.name).splitlines()
        self.assertTrue(lines[0].startswith("#vmharness-digest\tv=1\t"))
        self.assertTrue(lines[1].startswith("E\t.\ttype=d\t"))
        self.assertEqual(lines[-1], "#end\tentries=5\tstubs=0\tgroups=1")
        paths = [l.split("\t")[1] for l in lines if l.startswith("E\t")]
        raw = [fixture.unescape(p) for p in paths[1:]]
        self.assertEqual(raw, sorted(raw))
        self.assertIn("d/tab\\x09here\\xff", paths)
        for line in lines:
            self.assertTrue(all(0x20 <= ord(c) <= 0x7E or c == "\t" for c in line), line)

    def test_entry_fields(self):
        entries = {}
        for line in digest_text(self.dir.name).splitlines():
            if line.startswith("E\t"):
                _, path, *fields = line.split("\t")
                entries[path] = dict(f.split("=", 1) for f in fields)
        link = entries["link"]
        self.assertEqual(link["type"], "l")
        self.assertEqual(link["target"], "d/x\\x0ay")
        self.assertEqual((link["mtime"], link["atime"]), ("6", "5"))
        f = entries["d/tab\\x09here\\xff"]
        self.assertEqual((f["type"], f["size"], f["nlink"]), ("f", "5", "2"))
        self.assertEqual(f["link"], "d/tab\\x09here\\xff")
        self.assertEqual(entries["hard"]["link"], f["link"])
        self.assertEqual(f["hash"], reference_hash(b"hello"))
        self.assertNotIn("nlink", entries["d"])
        self.assertNotIn("size", entries["d"])
        self.assertIn("H\td/tab\\x09here\\xff\tnlink=2\tmembers=2", digest_text(self.dir.name))

    def test_key_order_is_fixed(self):
        for line in digest_text(self.dir.name).splitlines():
            if line.startswith("E\t"):
                keys = [f.split("=", 1)[0] for f in line.split("\t")[2:]]
                order = ["type", "mode", "owner", "nlink", "size", "mtime", "atime", "rdev",
                         "target", "hash", "holes"]
                known = [k for k in keys if k in order]
                self.assertEqual(known, sorted(known, key=order.index))


class DeterminismTest(unittest.TestCase):
    def test_rng_is_pinned(self):
        r = fixture.Rng("golden", 1)
        self.assertEqual([r.u64() for _ in range(3)],
                         [5077920033986963472, 2521255272508297568, 8662320481690292431])
        self.assertEqual(r.bytes(16).hex(), "d9fc4da95371534137d8268da31ae533")
        self.assertEqual(r.below(1000), 882)

    def test_times_are_pinned_and_atime_differs(self):
        self.assertEqual(fixture.times_for(42, "seed", b"a/b"), (1500526467666538042, 1500251433707409887))
        for i in range(200):
            a, m = fixture.times_for(i, "seed", b"p%d" % i)
            self.assertNotEqual(a, m)

    def test_catalogue_names_are_stable(self):
        self.assertEqual(len(fixture.SEED_NAMES), len(set(fixture.SEED_NAMES)))
        for name in ("empty", "big-random", "hostile-names", "reflink-compressed", "nested-subvolume",
                     "immutable-append", "mutation-base", "capability", "acls"):
            self.assertIn(name, fixture.SEED_NAMES)
        for name in ("exchange-dirs", "invert-ancestry", "chown-setuid", "deep-chain", "inode-reuse"):
            self.assertIn(name, fixture.MUTATION_NAMES)

    def seed(self, root):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = fixture.main(["seed", "--root", root, "--seed", "7", "--scale", "tiny",
                               "--items", PORTABLE_ITEMS])
        return rc, out.getvalue()

    def test_same_seed_same_digest(self):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            rc_a, out_a = self.seed(a)
            rc_b, _ = self.seed(b)
            self.assertEqual((rc_a, rc_b), (0, 0), out_a)
            self.assertEqual(digest_text(a), digest_text(b))

    def test_unknown_item_is_a_usage_error(self):
        with contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(fixture.main(["seed", "--root", "/nonexistent", "--seed", "1", "--items", "nope"]), 2)


if __name__ == "__main__":
    unittest.main()
