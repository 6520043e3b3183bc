#!/usr/bin/env python3
"""vmharness guest fixture: seed, mutate and digest a Btrfs test tree.

One self-contained program (Python >= 3.11, standard library only) that the
harness copies into the guest and runs as root, one process per step:

    fixture.py seed   --root DIR --seed N [--items a,b] [--scale small]
                      [--many-files N] [--big-file BYTES] [--json-report PATH]
    fixture.py mutate --root DIR --round N --seed S [--items a,b]
                      [--phase all|prepare|main] [--json-report PATH]
    fixture.py digest PATH [--ignore-xattr NAME]... [--output FILE]
    fixture.py corrupt --root DIR --case NAME   (negative controls)
    fixture.py list   (catalogue item names, one per line)

Determinism: content, sizes and timestamps come from a seeded generator
(splitmix64 for numbers, SHAKE-256 for bytes), never from the clock, and the
umask is fixed. Timestamps are set last, bottom-up; chattr +i/+a after them.

seed/mutate exit status: 0 every item created and checked; 3 at least one
item was refused by the kernel/tools or failed its check (listed in the JSON
summary on stdout, in --json-report and on stderr); 2 usage error.

Inode reuse needs a remount in the middle of a round: run
`mutate --phase prepare` (deletes the round's victims, which are the newest
inodes), unmount and mount, then `mutate --phase main`. `--phase all` runs
both without the remount (names are recycled, inode numbers are not).

Digest format, version 1
------------------------
Text, ASCII only, one record per line, fields separated by TAB. Every byte
of a path, symlink target or xattr name outside printable ASCII 0x20..0x7e,
and the backslash itself, is written as `\\xNN` (two lowercase hex digits),
so no field contains a TAB or newline. In xattr names `=` is escaped too.

    #vmharness-digest<TAB>v=1<TAB>block=4096<TAB>hash=sha256<TAB>ignore-xattr=NAME,NAME
    E<TAB>PATH<TAB>key=value<TAB>key=value...      one per entry
    S<TAB>PATH<TAB>kind=subvolume|empty-subvolume-stub|mount
    H<TAB>GROUP<TAB>nlink=N<TAB>members=M          one per hardlink group
    #end<TAB>entries=N<TAB>stubs=N<TAB>groups=N

PATH is relative to the digest root, which is `.`; the root line comes first,
then every other entry sorted by raw path bytes. A field is `key=value`; split
at the first `=`. Keys of an E line, in this order, present only where they
apply:

    type    f file, d dir, l symlink, c char dev, b block dev, p fifo, s socket
    mode    permission bits incl. suid/sgid/sticky, 4 octal digits
    owner   uid:gid
    nlink   non-directories only
    size    files and symlinks
    mtime   integer nanoseconds since the epoch (every entry, incl. the root)
    atime   integer nanoseconds since the epoch
    rdev    devices: major:minor
    target  symlinks: the escaped target
    hash    files: sha256 hex of: size as u64 LE, then for every 4096-byte
            block that is not all zero its index as u64 LE and its bytes
            (the last block may be short); data found with SEEK_DATA/SEEK_HOLE
    holes   files: hole ranges inside [0,size) as `start+len` joined by `,`,
            `-` when there is none (a file's tail past the last data is a hole)
    xattr:NAME  one per xattr, sorted by raw name bytes, value in hex
            (empty value: nothing after `=`); POSIX ACLs, capabilities and
            btrfs.compression appear here
    link    non-dirs in a hardlink group: the group name (its smallest path)

Not in the digest on purpose: inode numbers and generations, ctime, birth
time, directory size and nlink, st_blocks and extent layout, inode flags.
The walk uses lstat, never follows symlinks, opens with O_NOATIME, and does
not descend into a directory on another st_dev: nested subvolumes and their
stubs in snapshots (inode 2) are S lines, not E lines.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import json
import os
import socket
import stat
import struct
import sys
import time
import traceback

FORMAT_VERSION = 1
BLOCK = 4096
ZERO_BLOCK = bytes(BLOCK)

# ---------------------------------------------------------------- escaping


def escape(raw: bytes, extra: bytes = b"") -> str:
    """Printable ASCII stays, everything else and backslash become \\xNN."""
    out = []
    for b in raw:
        if 0x20 <= b <= 0x7E and b != 0x5C and b not in extra:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def unescape(text: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if text[i + 1] != "x":
                raise ValueError("bad escape at %d in %r" % (i, text))
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            out.append(ord(c))
            i += 1
    return bytes(out)


# ---------------------------------------------------------------- determinism


class Rng:
    """splitmix64 for numbers, SHAKE-256 for bytes: stable on every Python."""

    MASK = (1 << 64) - 1

    def __init__(self, *key) -> None:
        self.key = hashlib.sha256(repr(key).encode()).digest()
        self.state = int.from_bytes(self.key[:8], "little")
        self.counter = 0

    def u64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        return self.u64() % n

    def bytes(self, n: int) -> bytes:
        self.counter += 1
        return hashlib.shake_256(self.key + self.counter.to_bytes(8, "little")).digest(n)

    def text(self, n: int) -> bytes:
        """Compressible but not constant bytes."""
        words = [b"btrfs", b"send", b"receive", b"extent", b"subvolume", b"snapshot",
                 b"reflink", b"hole", b"inode", b"xattr", b"chunk", b"s3", b"\n"]
        out = bytearray()
        while len(out) < n:
            out += words[self.below(len(words))] + b" "
        return bytes(out[:n])


BASE_TIME_NS = 1_500_000_000 * 10**9


def times_for(seed: int, salt: str, path: bytes) -> tuple[int, int]:
    """(atime_ns, mtime_ns) for a path; atime differs from mtime."""
    h = hashlib.sha256(b"times\0%d\0%s\0" % (seed, salt.encode()) + path).digest()
    m = BASE_TIME_NS + int.from_bytes(h[0:6], "little") % (200_000_000 * 10**9)
    a = m + 1 + int.from_bytes(h[6:12], "little") % (30_000_000 * 10**9)
    return a, m


# ---------------------------------------------------------------- kernel interfaces

FICLONE = 0x40049409
FICLONERANGE = 0x4020940D
FIDEDUPERANGE = 0xC0189436
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_IOC_FIEMAP = 0xC020660B
BTRFS_IOC_SUBVOL_CREATE = 0x5000940E
FS_IMMUTABLE_FL = 0x10
FS_APPEND_FL = 0x20
FS_NOCOW_FL = 0x00800000
FIEMAP_FLAG_SYNC = 1
FIEMAP_EXTENT_LAST = 0x1
FIEMAP_EXTENT_ENCODED = 0x8
FIEMAP_EXTENT_UNWRITTEN = 0x800
FIEMAP_EXTENT_SHARED = 0x2000
FALLOC_FL_KEEP_SIZE = 0x1
FALLOC_FL_PUNCH_HOLE = 0x2
FALLOC_FL_ZERO_RANGE = 0x10
RENAME_EXCHANGE = 2
AT_FDCWD = -100
O_NOATIME = getattr(os, "O_NOATIME", 0)

_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        _libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                    ctypes.c_char_p, ctypes.c_uint]
    return _libc


def _raise_errno(what: str, path) -> None:
    e = ctypes.get_errno()
    raise OSError(e, "%s: %s" % (what, os.strerror(e)), path)


def fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    if libc().fallocate(fd, mode, offset, length) != 0:
        _raise_errno("fallocate mode %#x" % mode, None)


def rename_exchange(a: bytes, b: bytes) -> None:
    if libc().renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        _raise_errno("renameat2(RENAME_EXCHANGE)", a)


def clone_file(src: bytes, dst: bytes) -> None:
    with open(src, "rb") as s, open(dst, "wb") as d:
        fcntl.ioctl(d.fileno(), FICLONE, s.fileno())


def clone_range(src: bytes, src_off: int, length: int, dst: bytes, dst_off: int) -> None:
    sfd = os.open(src, os.O_RDONLY)
    try:
        dfd = os.open(dst, os.O_WRONLY) if dst != src else os.open(dst, os.O_RDWR)
        try:
            arg = struct.pack("=qQQQ", sfd, src_off, length, dst_off)
            fcntl.ioctl(dfd, FICLONERANGE, arg)
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def dedupe_range(src: bytes, src_off: int, length: int, dst: bytes, dst_off: int) -> tuple[int, int]:
    """Returns (status, bytes_deduped) of the single destination."""
    sfd = os.open(src, os.O_RDONLY)
    dfd = os.open(dst, os.O_RDWR)
    try:
        buf = bytearray(struct.pack("=QQHHI", src_off, length, 1, 0, 0)
                        + struct.pack("=qQQiI", dfd, dst_off, 0, 0, 0))
        fcntl.ioctl(sfd, FIDEDUPERANGE, buf, True)
        _, _, _, status, _ = struct.unpack_from("=qQQiI", buf, 24)
        deduped = struct.unpack_from("=Q", buf, 24 + 16)[0]
        return status, deduped
    finally:
        os.close(dfd)
        os.close(sfd)


def get_flags(path: bytes) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        buf = bytearray(8)
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf, True)
        return struct.unpack_from("=i", buf)[0]
    finally:
        os.close(fd)


def add_flags(path: bytes, flags: int) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        buf = bytearray(8)
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf, True)
        cur = struct.unpack_from("=i", buf)[0]
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("=iI", cur | flags, 0))
    finally:
        os.close(fd)


def fiemap(path: bytes, max_extents: int = 512) -> list[tuple[int, int, int, int]]:
    """(logical, physical, length, flags) for each extent, after a sync."""
    fd = os.open(path, os.O_RDONLY)
    try:
        out = []
        start = 0
        while True:
            buf = bytearray(struct.pack("=QQIIII", start, (1 << 64) - 1 - start,
                                        FIEMAP_FLAG_SYNC, 0, max_extents, 0))
            buf += bytes(56 * max_extents)
            fcntl.ioctl(fd, FS_IOC_FIEMAP, buf, True)
            mapped = struct.unpack_from("=I", buf, 20)[0]
            last = False
            for i in range(mapped):
                lg, ph, ln, _, _, fl = struct.unpack_from("=QQQQQI", buf, 32 + 56 * i)
                out.append((lg, ph, ln, fl))
                last = bool(fl & FIEMAP_EXTENT_LAST)
            if mapped == 0 or last:
                return out
            start = out[-1][0] + out[-1][2]
    finally:
        os.close(fd)


def shared_physical(a: bytes, b: bytes) -> bool:
    """Some shared extent of a overlaps some shared extent of b on disk."""
    ea = [(ph, ph + ln) for _, ph, ln, fl in fiemap(a) if fl & FIEMAP_EXTENT_SHARED]
    eb = [(ph, ph + ln) for _, ph, ln, fl in fiemap(b) if fl & FIEMAP_EXTENT_SHARED]
    return any(s1 < e2 and s2 < e1 for s1, e1 in ea for s2, e2 in eb)


def create_subvolume(parent: bytes, name: bytes) -> None:
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        arg = bytearray(struct.pack("=q", 0) + name + bytes(4088 - len(name)))
        fcntl.ioctl(fd, BTRFS_IOC_SUBVOL_CREATE, arg, True)
    finally:
        os.close(fd)


def data_ranges(fd: int, size: int) -> list[tuple[int, int]]:
    """[start, end) ranges that SEEK_DATA/SEEK_HOLE report as data."""
    ranges = []
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break
            raise
        if start >= size:
            break
        end = min(os.lseek(fd, start, os.SEEK_HOLE), size)
        ranges.append((start, end))
        pos = end
    return ranges


def hole_ranges(data: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    holes = []
    pos = 0
    for start, end in data:
        if start > pos:
            holes.append((pos, start))
        pos = max(pos, end)
    if pos < size:
        holes.append((pos, size))
    return holes


def content_digest(fd: int, size: int) -> tuple[str, list[tuple[int, int]]]:
    """Hole-indifferent sha256 and the hole ranges of an open file."""
    h = hashlib.sha256(struct.pack("<Q", size))
    data = data_ranges(fd, size)
    next_block = 0  # first block index not hashed yet
    chunk = 256 * BLOCK
    for start, end in data:
        first = max(start // BLOCK, next_block)
        last = (end + BLOCK - 1) // BLOCK  # exclusive
        idx = first
        while idx < last:
            n = min(chunk // BLOCK, last - idx)
            buf = os.pread(fd, n * BLOCK, idx * BLOCK)
            view = memoryview(buf)
            for k in range(0, len(buf), BLOCK):
                block = view[k : k + BLOCK]
                if block != ZERO_BLOCK[: len(block)]:
                    h.update(struct.pack("<Q", idx + k // BLOCK))
                    h.update(block)
            idx += n
        next_block = max(next_block, last)
    return h.hexdigest(), hole_ranges(data, size)


def format_holes(holes: list[tuple[int, int]]) -> str:
    return ",".join("%d+%d" % (s, e - s) for s, e in holes) or "-"


# ---------------------------------------------------------------- digest

TYPE_CODES = (
    (stat.S_ISREG, "f"), (stat.S_ISDIR, "d"), (stat.S_ISLNK, "l"), (stat.S_ISCHR, "c"),
    (stat.S_ISBLK, "b"), (stat.S_ISFIFO, "p"), (stat.S_ISSOCK, "s"),
)


def type_code(mode: int) -> str:
    for test, code in TYPE_CODES:
        if test(mode):
            return code
    return "?"


def open_noatime(path: bytes, flags: int) -> int:
    try:
        return os.open(path, flags | O_NOATIME | os.O_NOFOLLOW)
    except PermissionError:
        return os.open(path, flags | os.O_NOFOLLOW)


def list_dir(path: bytes) -> list[bytes]:
    fd = open_noatime(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return sorted(os.fsencode(n) for n in os.listdir(fd))
    finally:
        os.close(fd)


def read_xattrs(path: bytes, ignore: set[bytes]) -> list[tuple[bytes, bytes]]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return []
        raise
    out = []
    for name in names:
        raw = os.fsencode(name)
        if raw in ignore:
            continue
        out.append((raw, os.getxattr(path, name, follow_symlinks=False)))
    return sorted(out)


def walk(root: bytes):
    """Yields (relpath, st) pre-order, sorted, and stubs as (relpath, st, kind)."""
    root_st = os.lstat(root)
    entries = [(b".", root_st)]
    stubs = []
    stack = [b""]
    while stack:
        rel = stack.pop()
        full = os.path.join(root, rel) if rel else root
        children = []
        for name in list_dir(full):
            crel = os.path.join(rel, name) if rel else name
            st = os.lstat(os.path.join(root, crel))
            if stat.S_ISDIR(st.st_mode) and st.st_dev != root_st.st_dev:
                kind = {256: "subvolume", 2: "empty-subvolume-stub"}.get(st.st_ino, "mount")
                stubs.append((crel, st, kind))
                continue
            entries.append((crel, st))
            if stat.S_ISDIR(st.st_mode):
                children.append(crel)
        stack.extend(reversed(children))
    return entries, stubs


def digest_lines(root: bytes, ignore_xattrs: list[bytes]):
    ignore = set(ignore_xattrs)
    entries, stubs = walk(root)
    root_entry, rest = entries[0], sorted(entries[1:], key=lambda e: e[0])
    entries = [root_entry] + rest
    groups: dict[tuple[int, int], list[bytes]] = {}
    for rel, st in entries:
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            groups.setdefault((st.st_dev, st.st_ino), []).append(rel)
    group_name = {key: min(paths) for key, paths in groups.items()}
    yield "#vmharness-digest\tv=%d\tblock=%d\thash=sha256\tignore-xattr=%s" % (
        FORMAT_VERSION, BLOCK, ",".join(escape(n, b",=") for n in sorted(ignore)))
    for rel, st in entries:
        full = os.path.join(root, rel) if rel != b"." else root
        mode = st.st_mode
        code = type_code(mode)
        fields = ["type=" + code, "mode=%04o" % stat.S_IMODE(mode),
                  "owner=%d:%d" % (st.st_uid, st.st_gid)]
        if code != "d":
            fields.append("nlink=%d" % st.st_nlink)
        if code in ("f", "l"):
            fields.append("size=%d" % st.st_size)
        fields.append("mtime=%d" % st.st_mtime_ns)
        fields.append("atime=%d" % st.st_atime_ns)
        if code in ("c", "b"):
            fields.append("rdev=%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        if code == "l":
            fields.append("target=" + escape(os.readlink(full)))
        if code == "f":
            fd = open_noatime(full, os.O_RDONLY)
            try:
                digest, holes = content_digest(fd, st.st_size)
            finally:
                os.close(fd)
            fields.append("hash=" + digest)
            fields.append("holes=" + format_holes(holes))
        for name, value in read_xattrs(full, ignore):
            fields.append("xattr:%s=%s" % (escape(name, b"="), value.hex()))
        key = (st.st_dev, st.st_ino)
        if key in group_name:
            fields.append("link=" + escape(group_name[key]))
        yield "E\t%s\t%s" % (escape(rel), "\t".join(fields))
    for rel, _st, kind in sorted(stubs, key=lambda s: s[0]):
        yield "S\t%s\tkind=%s" % (escape(rel), kind)
    for key, name in sorted(group_name.items(), key=lambda kv: kv[1]):
        yield "H\t%s\tnlink=%d\tmembers=%d" % (
            escape(name), os.lstat(os.path.join(root, name)).st_nlink, len(groups[key]))
    yield "#end\tentries=%d\tstubs=%d\tgroups=%d" % (len(entries), len(stubs), len(group_name))


def cmd_digest(args) -> int:
    root = os.fsencode(args.path)
    ignore = [os.fsencode(n) for n in args.ignore_xattr]
    t0 = time.monotonic()
    out = open(args.output, "w", encoding="ascii") if args.output else sys.stdout
    count = 0
    try:
        for line in digest_lines(root, ignore):
            out.write(line + "\n")
            count += line.startswith("E\t")
    finally:
        if args.output:
            out.close()
        else:
            out.flush()
    secs = time.monotonic() - t0
    print("digest: %d entries in %.3f s (%.0f entries/s)" % (count, secs, count / max(secs, 1e-9)),
          file=sys.stderr)
    return 0


# ---------------------------------------------------------------- item framework


class UsageError(Exception):
    """Bad command line; exit status 2."""


class Context:
    def __init__(self, root: bytes, seed: int, scale: dict, salt: str) -> None:
        self.root = root
        self.seed = seed
        self.scale = scale
        self.salt = salt
        self.checks: list[dict] = []
        self.fixed_times: dict[bytes, tuple[int, int]] = {}
        self.keep_times: set[bytes] = set()
        self.flags_last: list[tuple[bytes, int]] = []
        self.notes: list[str] = []

    def rng(self, name: str, *more) -> Rng:
        return Rng("vmharness-fixture", self.seed, self.salt, name, *more)

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        self.checks.append({"check": what, "ok": bool(ok), "detail": detail})
        return ok

    def path(self, *parts) -> bytes:
        return os.path.join(self.root, *[p if isinstance(p, bytes) else p.encode() for p in parts])


def write_file(path: bytes, data: bytes = b"", mode: int | None = None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)
    if mode is not None:
        os.chmod(path, mode)


def pwrite_all(path: bytes, data: bytes, offset: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def mkdirs(*paths: bytes) -> None:
    for p in paths:
        os.makedirs(p, exist_ok=True)


def seek(path: bytes, offset: int, whence: int) -> int | None:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.lseek(fd, offset, whence)
    except OSError as e:
        if e.errno == errno.ENXIO:
            return None
        raise
    finally:
        os.close(fd)


def mount_options(path: bytes) -> str:
    """Options of the mount holding path (longest mount point prefix)."""
    best, opts = b"", ""
    real = os.path.realpath(path)
    with open("/proc/self/mounts", "rb") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 4:
                continue
            mnt = parts[1].replace(b"\\040", b" ")
            if (real == mnt or real.startswith(mnt.rstrip(b"/") + b"/")) and len(mnt) > len(best):
                best, opts = mnt, parts[3].decode(errors="replace")
    return opts


def acl_xattr(entries: list[tuple[int, int, int]]) -> bytes:
    """POSIX ACL xattr (version 2): (tag, perm, id) sorted by tag then id."""
    body = b"".join(struct.pack("<HHI", t, p, i) for t, p, i in sorted(entries))
    return struct.pack("<I", 2) + body


ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER = 1, 2, 4, 8, 0x10, 0x20
NO_ID = 0xFFFFFFFF


def acl(user_obj, group_obj, other, mask=None, users=(), groups=()) -> bytes:
    e = [(ACL_USER_OBJ, user_obj, NO_ID), (ACL_GROUP_OBJ, group_obj, NO_ID), (ACL_OTHER, other, NO_ID)]
    e += [(ACL_USER, p, i) for i, p in users] + [(ACL_GROUP, p, i) for i, p in groups]
    if mask is not None:
        e.append((ACL_MASK, mask, NO_ID))
    return acl_xattr(e)


def capability_v2(permitted: int, inheritable: int = 0, effective: bool = True) -> bytes:
    magic = 0x02000000 | (1 if effective else 0)
    return struct.pack("<IIIII", magic, permitted & 0xFFFFFFFF, inheritable & 0xFFFFFFFF,
                       permitted >> 32, inheritable >> 32)


def xattr_equals(ctx: Context, path: bytes, name: str, value: bytes) -> bool:
    try:
        got = os.getxattr(path, name, follow_symlinks=False)
    except OSError as e:
        return ctx.check(False, "xattr %s on %s" % (name, escape(path)), str(e))
    return ctx.check(got == value, "xattr %s on %s" % (name, escape(path)),
                     "" if got == value else "got %s want %s" % (got.hex(), value.hex()))


SCALES = {
    "tiny": {"many_files": 200, "big_file": 1 << 20, "hardlinks": 100, "mass": 50, "unit": 64 << 10},
    "small": {"many_files": 2000, "big_file": 8 << 20, "hardlinks": 300, "mass": 500, "unit": 256 << 10},
    "medium": {"many_files": 10000, "big_file": 64 << 20, "hardlinks": 1000, "mass": 3000, "unit": 1 << 20},
}

# ---------------------------------------------------------------- seed items
# Each item owns the directory named after it, gets its own generator and
# verifies what it made. Items raise OSError when the kernel refuses.


def seed_empty(c: Context, d: bytes) -> None:
    write_file(d + b"/empty")
    c.check(os.lstat(d + b"/empty").st_size == 0, "empty file has size 0")


def seed_inline(c: Context, d: bytes) -> None:
    r = c.rng("inline")
    for n in (1, 100, 2047, 2048):
        write_file(d + b"/inline-%d" % n, r.bytes(n))
    write_file(d + b"/inline-text", r.text(1500))
    c.check(os.lstat(d + b"/inline-2048").st_size == 2048, "inline sizes")


def seed_sizes(c: Context, d: bytes) -> None:
    r = c.rng("sizes")
    for n in (1, 4095, 4096, 4097, 10000, 65537):
        write_file(d + b"/size-%d" % n, r.bytes(n))
        c.check(os.lstat(d + b"/size-%d" % n).st_size == n, "size %d" % n)


def seed_big_random(c: Context, d: bytes) -> None:
    n = c.scale["big_file"]
    write_file(d + b"/random.bin", c.rng("big").bytes(n))
    c.check(os.lstat(d + b"/random.bin").st_size == n, "big file size %d" % n)


def seed_compressible(c: Context, d: bytes) -> None:
    p = d + b"/text.txt"
    write_file(p, c.rng("comp").text(4 * c.scale["unit"]))
    opts = mount_options(d)
    encoded = any(fl & FIEMAP_EXTENT_ENCODED for *_, fl in fiemap(p))
    c.check(encoded, "compressible file has compressed extents",
            "mount options: " + opts)


def seed_sparse_all_hole(c: Context, d: bytes) -> None:
    p = d + b"/all-hole"
    write_file(p)
    os.truncate(p, 4 << 20)
    c.check(seek(p, 0, os.SEEK_DATA) is None, "all-hole file has no data")


def seed_sparse_mixed(c: Context, d: bytes) -> None:
    r = c.rng("sparse")
    p = d + b"/data-hole-data"
    write_file(p, r.bytes(65536))
    pwrite_all(p, r.bytes(65536), 1 << 20)
    c.check(seek(p, 0, os.SEEK_HOLE) == 65536, "data-hole-data: hole at 64K")
    p = d + b"/leading-hole"
    write_file(p)
    pwrite_all(p, r.bytes(10000), 1 << 20)
    c.check(seek(p, 0, os.SEEK_DATA) == 1 << 20, "leading hole up to 1M")
    p = d + b"/trailing-hole"
    write_file(p, r.bytes(65536))
    os.truncate(p, 2 << 20)
    c.check(seek(p, 0, os.SEEK_HOLE) == 65536, "trailing hole from 64K")


def seed_symlinks(c: Context, d: bytes) -> None:
    write_file(d + b"/target", b"target\n")
    os.mkdir(d + b"/subdir")
    long_target = b"/".join(b"seg%03d" % i for i in range(200))[:1000]
    links = {
        b"relative": b"target", b"absolute": b"/etc/hostname", b"dangling": b"does/not/exist",
        b"loop-a": b"loop-b", b"loop-b": b"loop-a", b"self": b"self", b"to-dir": b"subdir",
        b"up": b"../symlinks/target", b"long-1000": long_target, b"hostile": b"new\nline\xff\\",
    }
    for name, target in links.items():
        os.symlink(target, d + b"/" + name)
        c.check(os.readlink(d + b"/" + name) == target, "symlink " + escape(name))
    c.check(len(long_target) == 1000, "1000-byte symlink target")


def seed_hardlinks(c: Context, d: bytes) -> None:
    mkdirs(d + b"/one", d + b"/two", d + b"/many/sub")
    write_file(d + b"/one/file", b"linked\n")
    os.link(d + b"/one/file", d + b"/one/same-dir")
    os.link(d + b"/one/file", d + b"/two/across")
    write_file(d + b"/many/target", c.rng("hl").bytes(3000))
    n = c.scale["hardlinks"]
    for i in range(n):
        sub = b"many/" if i % 2 == 0 else b"many/sub/"
        os.link(d + b"/many/target", d + b"/" + sub + b"l-%04d" % i)
    c.check(os.lstat(d + b"/one/file").st_nlink == 3, "3 links across dirs")
    c.check(os.lstat(d + b"/many/target").st_nlink == n + 1, "%d links on one inode" % (n + 1))


def seed_fifo(c: Context, d: bytes) -> None:
    os.mkfifo(d + b"/fifo", 0o640)
    c.check(stat.S_ISFIFO(os.lstat(d + b"/fifo").st_mode), "fifo exists")


def seed_devices(c: Context, d: bytes) -> None:
    devs = [(b"char-1-3", stat.S_IFCHR, 1, 3), (b"block-8-0", stat.S_IFBLK, 8, 0),
            (b"char-large", stat.S_IFCHR, 4095, 1048575), (b"block-large", stat.S_IFBLK, 4094, 1000000)]
    for name, kind, ma, mi in devs:
        os.mknod(d + b"/" + name, kind | 0o600, os.makedev(ma, mi))
        st = os.lstat(d + b"/" + name)
        c.check(os.major(st.st_rdev) == ma and os.minor(st.st_rdev) == mi,
                "device %s is %d:%d" % (name.decode(), ma, mi))


def seed_socket(c: Context, d: bytes) -> None:
    old = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.chdir(d)  # sun_path is limited to 108 bytes
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(b"socket")
        finally:
            s.close()
    finally:
        os.fchdir(old)
        os.close(old)
    c.check(stat.S_ISSOCK(os.lstat(d + b"/socket").st_mode), "unix socket exists")


def seed_modes(c: Context, d: bytes) -> None:
    files = {b"mode-0000": 0o000, b"mode-4755": 0o4755, b"mode-2755": 0o2755,
             b"mode-6750": 0o6750, b"mode-0600": 0o600, b"mode-0777": 0o777}
    for name, mode in files.items():
        write_file(d + b"/" + name, b"#!/bin/sh\nexit 0\n", mode)
    dirs = {b"dir-0700": 0o700, b"dir-1777": 0o1777, b"dir-2775": 0o2775, b"dir-0555": 0o555}
    for name, mode in dirs.items():
        os.mkdir(d + b"/" + name)
        os.chmod(d + b"/" + name, mode)
    os.chown(d + b"/dir-2775", 0, 5678)
    os.chmod(d + b"/dir-2775", 0o2775)
    write_file(d + b"/dir-2775/inherits-gid", b"x")
    os.mkdir(d + b"/dir-2775/subdir-inherits-sgid")
    write_file(d + b"/dir-0700/inside", b"private")
    write_file(d + b"/dir-1777/inside", b"shared")
    for name, mode in {**files, **dirs}.items():
        got = stat.S_IMODE(os.lstat(d + b"/" + name).st_mode)
        c.check(got == mode, "mode %04o on %s" % (mode, name.decode()), "got %04o" % got)
    st = os.lstat(d + b"/dir-2775/subdir-inherits-sgid")
    c.check(st.st_gid == 5678 and st.st_mode & stat.S_ISGID, "setgid dir propagates gid and sgid")


def seed_owners(c: Context, d: bytes) -> None:
    big_u, big_g = 2**31 + 5, 2**32 - 2
    write_file(d + b"/u1234-g5678", b"a")
    os.chown(d + b"/u1234-g5678", 1234, 5678)
    write_file(d + b"/above-2-31", b"b")
    os.chown(d + b"/above-2-31", big_u, big_g)
    os.mkdir(d + b"/dir-1234")
    os.chown(d + b"/dir-1234", 1234, 5678)
    os.symlink(b"u1234-g5678", d + b"/link-owned")
    os.chown(d + b"/link-owned", 4_000_000_000, 4_000_000_001, follow_symlinks=False)
    for name, ug in ((b"u1234-g5678", (1234, 5678)), (b"above-2-31", (big_u, big_g)),
                     (b"dir-1234", (1234, 5678)), (b"link-owned", (4_000_000_000, 4_000_000_001))):
        st = os.lstat(d + b"/" + name)
        c.check((st.st_uid, st.st_gid) == ug, "owner %d:%d on %s" % (ug + (name.decode(),)))


def seed_timestamps(c: Context, d: bytes) -> None:
    write_file(d + b"/file-ns", b"t")
    write_file(d + b"/far-future", b"t")
    write_file(d + b"/ns-zero", b"t")
    write_file(d + b"/atime-before-mtime", b"t")
    os.mkdir(d + b"/dir-ns")
    os.symlink(b"file-ns", d + b"/link-ns")
    fixed = {
        b"file-ns": (1_700_000_000_987_654_321, 1_700_000_000_123_456_789),
        b"far-future": (4_102_444_800_000_000_001, 4_102_444_800_999_999_999),
        b"ns-zero": (1_600_000_001_000_000_000, 1_600_000_000_000_000_000),
        b"atime-before-mtime": (1_500_000_000_000_000_007, 1_650_000_000_000_000_003),
        b"dir-ns": (1_690_000_000_111_111_111, 1_680_000_000_222_222_222),
        b"link-ns": (1_660_000_000_333_333_333, 1_670_000_000_444_444_444),
    }
    for name, t in fixed.items():
        c.fixed_times[d + b"/" + name] = t


def seed_xattrs_user(c: Context, d: bytes) -> None:
    r = c.rng("xattr")
    write_file(d + b"/empty-value", b"x")
    os.setxattr(d + b"/empty-value", "user.empty", b"")
    write_file(d + b"/binary-value", b"x")
    os.setxattr(d + b"/binary-value", "user.binary", bytes(range(256)))
    big = r.bytes(12000)
    write_file(d + b"/large-value", b"x")
    os.setxattr(d + b"/large-value", "user.large", big)
    write_file(d + b"/fifty-names", b"x")
    for i in range(50):
        os.setxattr(d + b"/fifty-names", "user.name-%02d" % i, r.bytes(1 + r.below(64)))
    os.mkdir(d + b"/dir")
    os.setxattr(d + b"/dir", "user.on-dir", b"dir value")
    xattr_equals(c, d + b"/empty-value", "user.empty", b"")
    xattr_equals(c, d + b"/binary-value", "user.binary", bytes(range(256)))
    xattr_equals(c, d + b"/large-value", "user.large", big)
    names = [n for n in os.listxattr(d + b"/fifty-names") if n.startswith("user.name-")]
    c.check(len(names) == 50, "50 xattr names", "got %d" % len(names))


def seed_xattrs_trusted(c: Context, d: bytes) -> None:
    write_file(d + b"/target", b"x")
    os.symlink(b"target", d + b"/symlink")
    os.setxattr(d + b"/symlink", "trusted.on-symlink", b"sym\x00value", follow_symlinks=False)
    os.mkfifo(d + b"/fifo", 0o600)
    os.setxattr(d + b"/fifo", "trusted.on-fifo", b"fifo value", follow_symlinks=False)
    xattr_equals(c, d + b"/symlink", "trusted.on-symlink", b"sym\x00value")
    xattr_equals(c, d + b"/fifo", "trusted.on-fifo", b"fifo value")


CAP_NET_BIND_SERVICE, CAP_NET_RAW = 10, 13


def seed_capability(c: Context, d: bytes) -> None:
    p = d + b"/cap-net-raw"
    write_file(p, b"#!/bin/sh\nexit 0\n", 0o755)
    os.chown(p, 0, 0)
    value = capability_v2((1 << CAP_NET_RAW) | (1 << CAP_NET_BIND_SERVICE))
    os.setxattr(p, "security.capability", value)
    xattr_equals(c, p, "security.capability", value)


def seed_acls(c: Context, d: bytes) -> None:
    p = d + b"/file-acl"
    write_file(p, b"acl")
    access = acl(6, 4, 0, mask=6, users=[(1234, 4)], groups=[(5678, 6)])
    os.setxattr(p, "system.posix_acl_access", access)
    os.mkdir(d + b"/dir-acl")
    dacc = acl(7, 5, 0, mask=7, users=[(1234, 7)])
    ddef = acl(7, 5, 5, mask=5, groups=[(5678, 5)])
    os.setxattr(d + b"/dir-acl", "system.posix_acl_access", dacc)
    os.setxattr(d + b"/dir-acl", "system.posix_acl_default", ddef)
    write_file(d + b"/dir-acl/inherits", b"inherits default ACL")
    xattr_equals(c, p, "system.posix_acl_access", access)
    xattr_equals(c, d + b"/dir-acl", "system.posix_acl_access", dacc)
    xattr_equals(c, d + b"/dir-acl", "system.posix_acl_default", ddef)
    try:
        os.getxattr(d + b"/dir-acl/inherits", "system.posix_acl_access")
        c.check(True, "default ACL inherited")
    except OSError as e:
        c.check(False, "default ACL inherited", str(e))


def seed_compression_property(c: Context, d: bytes) -> None:
    r = c.rng("prop")
    os.mkdir(d + b"/zdir")
    os.setxattr(d + b"/zdir", "btrfs.compression", b"zstd")
    write_file(d + b"/zdir/text", r.text(2 * c.scale["unit"]))
    write_file(d + b"/zfile")
    os.setxattr(d + b"/zfile", "btrfs.compression", b"zstd")
    pwrite_all(d + b"/zfile", r.text(2 * c.scale["unit"]), 0)
    xattr_equals(c, d + b"/zdir", "btrfs.compression", b"zstd")
    xattr_equals(c, d + b"/zfile", "btrfs.compression", b"zstd")
    xattr_equals(c, d + b"/zdir/text", "btrfs.compression", b"zstd")
    for f in (b"/zdir/text", b"/zfile"):
        c.check(any(fl & FIEMAP_EXTENT_ENCODED for *_, fl in fiemap(d + f)),
                "compressed extents in %s" % f.decode())


HOSTILE_NAMES = [
    b"with space", b" leading-space", b"trailing-space ", b"tab\there", b"new\nline",
    b"back\\slash", b"-leading-dash", b"--", b"-", b"'single'", b'"double"', b"`tick`",
    b"$dollar", b"*star?", b"equals=sign", b"#hash", b"percent%2F", b"\x01ctrl\x7f",
    "ünïcödé".encode(), "emoji-🦀-🚀".encode(), b"invalid-\xff\xfe-utf8", b"\xc3(",
    b"n" * 255, ("é" * 127).encode() + b"x",
]


def seed_hostile_names(c: Context, d: bytes) -> None:
    r = c.rng("names")
    for name in HOSTILE_NAMES:
        write_file(d + b"/" + name, r.bytes(1 + r.below(100)))
    sub = d + b"/dir with\nnewline\xff"
    os.mkdir(sub)
    write_file(sub + b"/tab\tinside", b"x")
    os.symlink(b"../new\nline", sub + b"/link\\back")
    got = set(os.listdir(d))
    c.check(all(n in got for n in HOSTILE_NAMES), "all hostile names present")
    c.check(len(HOSTILE_NAMES[-1]) == 255 and len(HOSTILE_NAMES[-2]) == 255, "255-byte names")


def seed_deep_tree(c: Context, d: bytes) -> None:
    path = d
    rel_len = 0
    level = 0
    while rel_len < 2200:
        name = (b"level-%02d-" % level).ljust(48, b"x")
        path += b"/" + name
        rel_len += len(name) + 1
        level += 1
    os.makedirs(path)
    write_file(path + b"/bottom", b"deep")
    c.check(os.path.exists(path + b"/bottom"), "deep path of %d bytes, %d levels" % (rel_len, level))


def seed_many_files(c: Context, d: bytes) -> None:
    r = c.rng("many")
    n = c.scale["many_files"]
    for i in range(n):
        write_file(d + b"/f-%05d" % i, r.bytes(r.below(300)))
    c.check(len(os.listdir(d)) == n, "%d small files" % n)


def seed_reflink_whole(c: Context, d: bytes) -> None:
    write_file(d + b"/src", c.rng("rw").bytes(4 * c.scale["unit"]))
    clone_file(d + b"/src", d + b"/clone")
    c.check(shared_physical(d + b"/src", d + b"/clone"), "whole-file reflink shares extents")


def seed_reflink_compressed(c: Context, d: bytes) -> None:
    write_file(d + b"/src", c.rng("rc").text(4 * c.scale["unit"]))
    encoded = any(fl & FIEMAP_EXTENT_ENCODED for *_, fl in fiemap(d + b"/src"))
    c.check(encoded, "source extents compressed", "mount options: " + mount_options(d))
    clone_file(d + b"/src", d + b"/clone")
    c.check(shared_physical(d + b"/src", d + b"/clone"), "reflink of compressed file shares extents")


def seed_clone_within_file(c: Context, d: bytes) -> None:
    u = c.scale["unit"]
    p = d + b"/self-clone"
    write_file(p, c.rng("cw").bytes(4 * u))
    clone_range(p, 0, u, p, 2 * u)
    ext = fiemap(p)
    phys = {ph for lg, ph, ln, fl in ext if lg == 0}
    c.check(any(lg == 2 * u and ph in phys for lg, ph, ln, fl in ext), "clone within one file")


def seed_clone_partial(c: Context, d: bytes) -> None:
    u = c.scale["unit"]
    r = c.rng("cp")
    write_file(d + b"/src", r.bytes(4 * u))
    write_file(d + b"/dst", r.bytes(4 * u))
    clone_range(d + b"/src", u, u, d + b"/dst", BLOCK * 3)
    write_file(d + b"/src-odd", r.bytes(u + 1234))
    clone_range(d + b"/src-odd", u, 0, d + b"/dst", 4 * u)  # 0 = to EOF, unaligned tail
    c.check(shared_physical(d + b"/src", d + b"/dst"), "partial clone shares extents")
    c.check(os.lstat(d + b"/dst").st_size == 4 * u + 1234, "unaligned EOF clone extends dst")


def seed_dedupe(c: Context, d: bytes) -> None:
    data = c.rng("dd").bytes(2 * c.scale["unit"])
    write_file(d + b"/a", data)
    write_file(d + b"/b", data)
    os.sync()
    status, done = dedupe_range(d + b"/a", 0, len(data), d + b"/b", 0)
    c.check(status == 0 and done == len(data), "dedupe range", "status %d deduped %d" % (status, done))
    c.check(shared_physical(d + b"/a", d + b"/b"), "deduped files share extents")


def seed_fallocate(c: Context, d: bytes) -> None:
    u = c.scale["unit"]
    p = d + b"/inside"
    write_file(p, c.rng("fa").bytes(u))
    os.truncate(p, 4 * u)
    fd = os.open(p, os.O_RDWR)
    try:
        fallocate(fd, 0, 2 * u, u)
    finally:
        os.close(fd)
    p2 = d + b"/past-eof"
    write_file(p2, c.rng("fa2").bytes(u))
    fd = os.open(p2, os.O_RDWR)
    try:
        fallocate(fd, FALLOC_FL_KEEP_SIZE, u, 2 * u)
    finally:
        os.close(fd)
    c.check(any(fl & FIEMAP_EXTENT_UNWRITTEN for *_, fl in fiemap(p)), "prealloc extent inside size")
    c.check(os.lstat(p2).st_size == u, "KEEP_SIZE keeps size")
    c.check(any(fl & FIEMAP_EXTENT_UNWRITTEN for *_, fl in fiemap(p2)), "prealloc extent past EOF")


def seed_zero_range(c: Context, d: bytes) -> None:
    u = c.scale["unit"]
    p = d + b"/zeroed"
    write_file(p, c.rng("zr").bytes(4 * u))
    fd = os.open(p, os.O_RDWR)
    try:
        fallocate(fd, FALLOC_FL_ZERO_RANGE, u + 100, u + 5000)
    finally:
        os.close(fd)
    with open(p, "rb") as f:
        f.seek(u + 100)
        c.check(f.read(u + 5000) == bytes(u + 5000), "zero range reads zeros")


def seed_real_zeros(c: Context, d: bytes) -> None:
    p = d + b"/zeros"
    write_file(p, bytes(2 * c.scale["unit"]))
    c.check(seek(p, 0, os.SEEK_DATA) == 0, "written zeros are data, not a hole")


def seed_punch_hole(c: Context, d: bytes) -> None:
    u = c.scale["unit"]
    p = d + b"/punched"
    write_file(p, c.rng("ph").bytes(4 * u))
    fd = os.open(p, os.O_RDWR)
    try:
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, u, u)
    finally:
        os.close(fd)
    c.check(seek(p, 0, os.SEEK_HOLE) == u, "hole punched at %d" % u)


def seed_nodatacow(c: Context, d: bytes) -> None:
    p = d + b"/nocow"
    write_file(p)
    add_flags(p, FS_NOCOW_FL)
    pwrite_all(p, c.rng("nc").bytes(2 * c.scale["unit"]), 0)
    c.check(bool(get_flags(p) & FS_NOCOW_FL), "chattr +C set")


def seed_nested_subvolume(c: Context, d: bytes) -> None:
    create_subvolume(d, b"nested")
    write_file(d + b"/nested/inside", b"not sent")
    c.check(os.lstat(d + b"/nested").st_ino == 256, "nested subvolume root is inode 256")


def seed_immutable_append(c: Context, d: bytes) -> None:
    write_file(d + b"/immutable", b"cannot change")
    write_file(d + b"/append-only", b"log line\n")
    c.flags_last.append((d + b"/immutable", FS_IMMUTABLE_FL))
    c.flags_last.append((d + b"/append-only", FS_APPEND_FL))


def seed_mutation_base(c: Context, d: bytes) -> None:
    """The tree `mutate` works on (see the mutation catalogue)."""
    r = c.rng("mutbase")
    u = c.scale["unit"]
    m = lambda *p: d + b"/" + b"/".join(p)  # noqa: E731
    mkdirs(m(b"rename", b"dir-r0", b"inner"), m(b"exchange", b"da"), m(b"exchange", b"db", b"z"),
           m(b"exchange", b"dx"), m(b"invert", b"a", b"b", b"c", b"d"), m(b"move", b"x", b"sub"),
           m(b"move", b"y", b"z"), m(b"recreate", b"same-dir"), m(b"typechange"),
           m(b"parentname", b"p"), m(b"hardlinks", b"sub"), m(b"orphan", b"a", b"sub"),
           m(b"trunc"), m(b"append"), m(b"overwrite"), m(b"punch"), m(b"chmod", b"dir"),
           m(b"chown"), m(b"touch", b"dir"), m(b"xattr", b"dir"), m(b"acl", b"dir"),
           m(b"reflink"), m(b"mass"), m(b"reuse"))
    write_file(m(b"rename", b"file-r0"), r.bytes(5000))
    write_file(m(b"rename", b"dir-r0", b"inner", b"f"), r.bytes(100))
    write_file(m(b"exchange", b"fa"), b"file a\n")
    write_file(m(b"exchange", b"fb"), r.bytes(7000))
    write_file(m(b"exchange", b"da", b"only-in-a"), b"a")
    write_file(m(b"exchange", b"db", b"only-in-b"), b"b")
    write_file(m(b"exchange", b"fx"), b"file that swaps with a dir")
    write_file(m(b"exchange", b"dx", b"inside"), b"dx")
    for i, name in enumerate((b"a", b"a/b", b"a/b/c", b"a/b/c/d")):
        write_file(m(b"invert", name, b"f-%d" % i), b"level %d" % i)
    write_file(m(b"move", b"x", b"file"), r.bytes(3000))
    write_file(m(b"move", b"x", b"sub", b"file"), r.bytes(300))
    write_file(m(b"recreate", b"same"), r.bytes(9000))
    write_file(m(b"recreate", b"same-dir", b"f"), b"r")
    write_file(m(b"typechange", b"node"), b"a file for now")
    write_file(m(b"parentname", b"p", b"child"), b"child")
    write_file(m(b"hardlinks", b"orig"), r.bytes(2000))
    for name in (b"l1", b"l2", b"sub/l3", b"sub/l4"):
        os.link(m(b"hardlinks", b"orig"), m(b"hardlinks", name))
    write_file(m(b"orphan", b"a", b"f1"), b"1")
    write_file(m(b"orphan", b"a", b"sub", b"f2"), b"2")
    write_file(m(b"trunc", b"odd"), r.bytes(4 * u))
    write_file(m(b"trunc", b"grow"), r.bytes(u // 4))
    write_file(m(b"trunc", b"zero"), r.bytes(u // 4))
    write_file(m(b"append", b"log"), r.text(10000))
    write_file(m(b"overwrite", b"data"), r.bytes(4 * u))
    write_file(m(b"punch", b"data"), r.bytes(8 * u))
    write_file(m(b"chmod", b"file"), b"m", 0o644)
    write_file(m(b"chown", b"file"), b"o")
    write_file(m(b"chown", b"setuid"), b"#!/bin/sh\n", 0o4755)
    write_file(m(b"touch", b"file"), b"t")
    write_file(m(b"xattr", b"file"), b"x")
    os.setxattr(m(b"xattr", b"file"), "user.changed", b"v0")
    for i in range(4):
        os.setxattr(m(b"xattr", b"file"), "user.removed-%d" % i, b"r")
    write_file(m(b"acl", b"file"), b"a")
    os.setxattr(m(b"acl", b"file"), "system.posix_acl_access", acl(6, 4, 4, mask=4, users=[(1234, 4)]))
    os.setxattr(m(b"acl", b"dir"), "system.posix_acl_default", acl(7, 5, 5, mask=5, users=[(1234, 5)]))
    write_file(m(b"reflink", b"data"), r.bytes(4 * u))
    write_file(m(b"reflink", b"target"), r.bytes(4 * u))
    for i in range(c.scale["mass"]):
        write_file(m(b"mass", b"f-%04d" % i), r.bytes(r.below(200)))
    c.check(os.lstat(m(b"hardlinks", b"orig")).st_nlink == 5, "mutation base hardlinks")
    c.check(stat.S_IMODE(os.lstat(m(b"chown", b"setuid")).st_mode) == 0o4755, "setuid base file")


def create_reuse_victims(c: Context, d: bytes, tag: bytes) -> list[int]:
    """The newest inodes of the subvolume, deleted by the next `mutate --phase prepare`."""
    write_file(d + b"/victim-%s-file" % tag, c.rng("victim", tag).bytes(777))
    os.mkdir(d + b"/victim-%s-dir" % tag)
    return [os.lstat(d + b"/victim-%s-%s" % (tag, k)).st_ino for k in (b"file", b"dir")]


SEED_ITEMS = [
    ("empty", seed_empty), ("inline", seed_inline), ("sizes", seed_sizes),
    ("big-random", seed_big_random), ("compressible", seed_compressible),
    ("sparse-all-hole", seed_sparse_all_hole), ("sparse-mixed", seed_sparse_mixed),
    ("symlinks", seed_symlinks), ("hardlinks", seed_hardlinks), ("fifo", seed_fifo),
    ("devices", seed_devices), ("socket", seed_socket), ("modes", seed_modes),
    ("owners", seed_owners), ("timestamps", seed_timestamps), ("xattrs-user", seed_xattrs_user),
    ("xattrs-trusted", seed_xattrs_trusted), ("capability", seed_capability), ("acls", seed_acls),
    ("compression-property", seed_compression_property), ("hostile-names", seed_hostile_names),
    ("deep-tree", seed_deep_tree), ("many-files", seed_many_files),
    ("reflink-whole", seed_reflink_whole), ("reflink-compressed", seed_reflink_compressed),
    ("clone-within-file", seed_clone_within_file), ("clone-partial", seed_clone_partial),
    ("dedupe", seed_dedupe), ("fallocate", seed_fallocate), ("zero-range", seed_zero_range),
    ("real-zeros", seed_real_zeros), ("punch-hole", seed_punch_hole), ("nodatacow", seed_nodatacow),
    ("nested-subvolume", seed_nested_subvolume), ("immutable-append", seed_immutable_append),
    ("mutation-base", seed_mutation_base),
]
SEED_NAMES = [n for n, _ in SEED_ITEMS]
MUTATION_DIR = b"mutation-base"

# ---------------------------------------------------------------- timestamps


def set_times_bottom_up(root: bytes, choose) -> int:
    """Post-order walk of root's own filesystem; choose(rel, st) -> (atime, mtime) or None."""
    root_dev = os.lstat(root).st_dev
    count = 0

    def visit(rel: bytes, st) -> None:
        nonlocal count
        full = os.path.join(root, rel) if rel else root
        if stat.S_ISDIR(st.st_mode):
            for name in list_dir(full):
                crel = os.path.join(rel, name) if rel else name
                cst = os.lstat(os.path.join(root, crel))
                if stat.S_ISDIR(cst.st_mode) and cst.st_dev != root_dev:
                    continue
                visit(crel, cst)
        t = choose(rel or b".", st)
        if t is not None:
            os.utime(full, ns=t, follow_symlinks=False)
            count += 1

    visit(b"", os.lstat(root))
    return count


# ---------------------------------------------------------------- mutations
# Each mutation works on the mutation-base tree as the previous round left it
# and is valid for every round N >= 1.


class MutationContext(Context):
    def __init__(self, root: bytes, seed: int, rnd: int, scale: dict) -> None:
        super().__init__(root, seed, scale, "round-%d" % rnd)
        self.round = rnd
        self.base = os.path.join(root, MUTATION_DIR)

    def m(self, *parts: bytes) -> bytes:
        return os.path.join(self.base, *parts)


def rmtree(path: bytes) -> None:
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        for name in os.listdir(path):
            rmtree(os.path.join(path, os.fsencode(name)))
        os.rmdir(path)
    else:
        os.unlink(path)


def only(path: bytes, prefix: bytes, want_dir: bool) -> bytes:
    names = [n for n in list_dir(path) if n.startswith(prefix)
             and stat.S_ISDIR(os.lstat(os.path.join(path, n)).st_mode) == want_dir]
    if len(names) != 1:
        raise RuntimeError("expected one %s%s* in %s, found %r" % (
            "dir " if want_dir else "file ", prefix.decode(), escape(path), names))
    return names[0]


def mut_rename_file(c: MutationContext) -> None:
    old = only(c.m(b"rename"), b"file-r", False)
    os.rename(c.m(b"rename", old), c.m(b"rename", b"file-r%d" % c.round))


def mut_rename_dir(c: MutationContext) -> None:
    old = only(c.m(b"rename"), b"dir-r", True)
    os.rename(c.m(b"rename", old), c.m(b"rename", b"dir-r%d" % c.round))


def mut_exchange_files(c: MutationContext) -> None:
    rename_exchange(c.m(b"exchange", b"fa"), c.m(b"exchange", b"fb"))
    c.check(os.lstat(c.m(b"exchange", b"fb")).st_size > 0, "files exchanged")


def mut_exchange_dirs(c: MutationContext) -> None:
    rename_exchange(c.m(b"exchange", b"da"), c.m(b"exchange", b"db"))
    rename_exchange(c.m(b"exchange", b"fx"), c.m(b"exchange", b"dx"))


def mut_invert_ancestry(c: MutationContext) -> None:
    top = c.m(b"invert")
    chain = []
    cur = top
    while True:
        dirs = [n for n in list_dir(cur) if stat.S_ISDIR(os.lstat(os.path.join(cur, n)).st_mode)]
        if not dirs:
            break
        chain.append(dirs[0])
        cur = os.path.join(cur, dirs[0])
    new: list[bytes] = []
    while chain:
        src = os.path.join(top, *chain)
        dst = os.path.join(top, *new, chain[-1])
        os.rename(src, dst)
        new.append(chain.pop())
    c.check(len(new) == 4, "ancestry inverted", "/".join(n.decode() for n in new))


def mut_move_into_sibling(c: MutationContext) -> None:
    if os.path.lexists(c.m(b"move", b"x")):
        os.rename(c.m(b"move", b"x"), c.m(b"move", b"y", b"z", b"x"))
    else:
        os.rename(c.m(b"move", b"y", b"z", b"x"), c.m(b"move", b"x"))


def mut_delete_recreate(c: MutationContext) -> None:
    r = c.rng("recreate")
    os.unlink(c.m(b"recreate", b"same"))
    write_file(c.m(b"recreate", b"same"), r.bytes(9000 + c.round))
    rmtree(c.m(b"recreate", b"same-dir"))
    os.mkdir(c.m(b"recreate", b"same-dir"))
    write_file(c.m(b"recreate", b"same-dir", b"f"), b"round %d" % c.round)


def mut_type_change(c: MutationContext) -> None:
    p = c.m(b"typechange", b"node")
    if stat.S_ISDIR(os.lstat(p).st_mode):
        rmtree(p)
        write_file(p, b"a file again in round %d" % c.round)
    else:
        os.unlink(p)
        os.mkdir(p)
        write_file(p + b"/inside", b"a dir in round %d" % c.round)


def mut_parent_name(c: MutationContext) -> None:
    top = c.m(b"parentname")
    parent = only(top, b"", True)
    child = only(os.path.join(top, parent), b"", False)
    newdir = b"d-r%d" % c.round
    os.rename(os.path.join(top, parent), os.path.join(top, newdir))
    os.rename(os.path.join(top, newdir, child), os.path.join(top, parent))
    write_file(os.path.join(top, newdir, b"child-r%d" % c.round), b"next child")
    c.check(stat.S_ISREG(os.lstat(os.path.join(top, parent)).st_mode), "file took parent's name")


def mut_hardlinks(c: MutationContext) -> None:
    top = c.m(b"hardlinks")
    os.link(os.path.join(top, b"orig"), os.path.join(top, b"add-r%d" % c.round))
    os.link(os.path.join(top, b"orig"), os.path.join(top, b"sub", b"add-r%d" % c.round))
    new = b"add-r%d" % c.round
    removable = [n for n in list_dir(top) if n not in (b"orig", b"sub", new)]
    os.unlink(os.path.join(top, removable[0]))
    sub = [n for n in list_dir(os.path.join(top, b"sub")) if n != new]
    os.rename(os.path.join(top, b"sub", sub[0]), os.path.join(top, b"ren-r%d" % c.round))
    names = len([n for n in list_dir(top) if n != b"sub"]) + len(list_dir(os.path.join(top, b"sub")))
    c.check(os.lstat(os.path.join(top, b"orig")).st_nlink == names, "link count matches the names")


def mut_orphan_dir(c: MutationContext) -> None:
    top = c.m(b"orphan")
    old = os.path.join(top, b"a-old-r%d" % c.round)
    os.rename(os.path.join(top, b"a"), old)
    os.mkdir(os.path.join(top, b"a"))
    for name in list_dir(old):
        os.rename(os.path.join(old, name), os.path.join(top, b"a", name))
    os.rmdir(old)


def mut_truncate(c: MutationContext) -> None:
    odd = c.m(b"trunc", b"odd")
    os.truncate(odd, (os.lstat(odd).st_size * 2 // 3) | 1)
    grow = c.m(b"trunc", b"grow")
    os.truncate(grow, os.lstat(grow).st_size + (1 << 20) + 3)
    zero = c.m(b"trunc", b"zero")
    if os.lstat(zero).st_size:
        os.truncate(zero, 0)
    else:
        pwrite_all(zero, c.rng("trunc").bytes(c.scale["unit"] // 4), 0)


def mut_append(c: MutationContext) -> None:
    with open(c.m(b"append", b"log"), "ab") as f:
        f.write(c.rng("append").text(777 + c.round))


def mut_overwrite_middle(c: MutationContext) -> None:
    p = c.m(b"overwrite", b"data")
    pwrite_all(p, c.rng("overwrite").bytes(5001), (os.lstat(p).st_size // 2) | 1)


def mut_punch_hole(c: MutationContext) -> None:
    p = c.m(b"punch", b"data")
    u = c.scale["unit"]
    size = os.lstat(p).st_size
    off = (c.round * u) % max(size - u, u)
    fd = os.open(p, os.O_RDWR)
    try:
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, u // 2 + BLOCK)
    finally:
        os.close(fd)


def mut_chmod_only(c: MutationContext) -> None:
    os.chmod(c.m(b"chmod", b"file"), 0o600 if c.round % 2 else 0o644)
    os.chmod(c.m(b"chmod", b"dir"), 0o750 if c.round % 2 else 0o755)


def mut_chown_only(c: MutationContext) -> None:
    ug = (1234, 5678) if c.round % 2 else (0, 0)
    os.chown(c.m(b"chown", b"file"), *ug)


def mut_chown_setuid(c: MutationContext) -> None:
    p = c.m(b"chown", b"setuid")
    ug = (1234, 5678) if c.round % 2 else (0, 0)
    os.chown(p, *ug)  # clears S_ISUID; restore it so only the owner differs
    os.chmod(p, 0o4755)
    c.check(stat.S_IMODE(os.lstat(p).st_mode) == 0o4755, "setuid kept after chown")


def mut_touch_only(c: MutationContext) -> None:
    for p in (c.m(b"touch", b"file"), c.m(b"touch", b"dir")):
        t = times_for(c.seed, "touch-%d" % c.round, p[len(c.root):])
        os.utime(p, ns=t, follow_symlinks=False)
        c.keep_times.add(p)


def mut_xattrs(c: MutationContext) -> None:
    p = c.m(b"xattr", b"file")
    os.setxattr(p, "user.added-r%d" % c.round, b"added")
    os.setxattr(p, "user.changed", b"v%d" % c.round)
    removable = sorted(n for n in os.listxattr(p) if n.startswith("user.removed-"))
    if removable:
        os.removexattr(p, removable[0])
    os.setxattr(c.m(b"xattr", b"dir"), "user.dir-r%d" % c.round, c.rng("xattr").bytes(40))


def mut_acl_change(c: MutationContext) -> None:
    perm = 4 + 2 * (c.round % 2)
    os.setxattr(c.m(b"acl", b"file"), "system.posix_acl_access",
                acl(6, 4, 0, mask=6, users=[(1234, perm), (1000 + c.round, 4)]))
    os.setxattr(c.m(b"acl", b"dir"), "system.posix_acl_default",
                acl(7, 5, 0, mask=7, groups=[(5678, perm | 1)]))


def mut_new_reflinks(c: MutationContext) -> None:
    u = c.scale["unit"]
    src = c.m(b"reflink", b"data")
    clone_file(src, c.m(b"reflink", b"clone-r%d" % c.round))
    clone_range(src, u, u, c.m(b"reflink", b"target"), 2 * u)
    c.check(shared_physical(src, c.m(b"reflink", b"clone-r%d" % c.round)), "new reflink shares extents")
    other = os.path.join(c.root, b"reflink-whole", b"src")
    if os.path.exists(other):
        clone_file(other, c.m(b"reflink", b"from-seed-r%d" % c.round))


def mut_mass_delete(c: MutationContext) -> None:
    top = c.m(b"mass")
    names = list_dir(top)
    if names:
        for n in names:
            os.unlink(os.path.join(top, n))
    else:
        r = c.rng("mass")
        for i in range(c.scale["mass"]):
            write_file(os.path.join(top, b"f-%04d" % i), r.bytes(r.below(200)))


def mut_deep_chain(c: MutationContext) -> None:
    """A new chain of 70 nested directories directly under the subvolume root."""
    path = os.path.join(c.root, b"chain-r%d" % c.round, *([b"d"] * 69))
    os.makedirs(path)
    write_file(path + b"/leaf", b"depth 70")


MUTATIONS = [
    ("rename-file", mut_rename_file), ("rename-dir", mut_rename_dir),
    ("exchange-files", mut_exchange_files), ("exchange-dirs", mut_exchange_dirs),
    ("invert-ancestry", mut_invert_ancestry), ("move-into-sibling", mut_move_into_sibling),
    ("delete-recreate", mut_delete_recreate), ("type-change", mut_type_change),
    ("parent-name", mut_parent_name), ("hardlinks", mut_hardlinks), ("orphan-dir", mut_orphan_dir),
    ("truncate", mut_truncate), ("append", mut_append), ("overwrite-middle", mut_overwrite_middle),
    ("punch-hole", mut_punch_hole), ("chmod-only", mut_chmod_only), ("chown-only", mut_chown_only),
    ("chown-setuid", mut_chown_setuid), ("touch-only", mut_touch_only), ("xattrs", mut_xattrs),
    ("acl-change", mut_acl_change), ("new-reflinks", mut_new_reflinks),
    ("mass-delete", mut_mass_delete), ("deep-chain", mut_deep_chain),
]
# inode-reuse is special: it spans the prepare and main phases.
MUTATION_NAMES = [n for n, _ in MUTATIONS] + ["inode-reuse"]
STANDALONE_MUTATIONS = {"deep-chain"}

# ---------------------------------------------------------------- drivers


def run_item(ctx: Context, name: str, fn, *args) -> dict:
    first = len(ctx.checks)
    t0 = time.monotonic()
    rec = {"name": name, "status": "ok", "detail": ""}
    try:
        fn(ctx, *args)
    except OSError as e:
        rec["status"] = "refused"
        rec["detail"] = "%s: %s%s" % (errno.errorcode.get(e.errno, e.errno), e.strerror,
                                      "" if e.filename is None else " (%s)" % escape(os.fsencode(e.filename)))
    except Exception as e:  # a bug or a broken precondition; keep going, report it
        rec["status"] = "error"
        rec["detail"] = "%s: %s | %s" % (type(e).__name__, e,
                                         traceback.format_exc(limit=3).replace("\n", " | "))
    rec["checks"] = ctx.checks[first:]
    failed = [ch for ch in rec["checks"] if not ch["ok"]]
    if rec["status"] == "ok" and failed:
        rec["status"] = "check-failed"
        rec["detail"] = "; ".join("%s %s" % (ch["check"], ch["detail"]) for ch in failed)
    rec["seconds"] = round(time.monotonic() - t0, 4)
    return rec


def select(names_arg: str | None, known: list[str], what: str) -> list[str]:
    if not names_arg:
        return list(known)
    wanted = [n.strip() for n in names_arg.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise UsageError("unknown %s item(s): %s (known: %s)" % (what, ", ".join(unknown), ", ".join(known)))
    return [n for n in known if n in wanted]


def scale_of(args) -> dict:
    scale = dict(SCALES[args.scale])
    if getattr(args, "many_files", None) is not None:
        scale["many_files"] = args.many_files
    if getattr(args, "big_file", None) is not None:
        scale["big_file"] = args.big_file
    return scale


def tree_stats(root: bytes) -> tuple[int, int]:
    entries, _ = walk(root)
    return len(entries), sum(st.st_size for _, st in entries if stat.S_ISREG(st.st_mode))


def finish(report: dict, records: list[dict], args) -> int:
    problems = [r for r in records if r["status"] != "ok"]
    report["items"] = records
    report["problems"] = [{"name": r["name"], "status": r["status"], "detail": r["detail"]} for r in problems]
    for p in problems:
        print("fixture %s: item %s %s: %s" % (report["command"], p["name"], p["status"], p["detail"]),
              file=sys.stderr)
    text = json.dumps(report, indent=1, sort_keys=True)
    if args.json_report:
        with open(args.json_report, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    summary = {k: v for k, v in report.items() if k != "items"}
    print(json.dumps(summary, sort_keys=True))
    return 3 if problems else 0


def cmd_seed(args) -> int:
    os.umask(0o022)
    root = os.fsencode(os.path.abspath(args.root))
    names = select(args.items, SEED_NAMES, "seed")
    ctx = Context(root, args.seed, scale_of(args), "seed")
    t0 = time.monotonic()
    records = []
    fns = dict(SEED_ITEMS)
    for name in names:
        d = os.path.join(root, name.encode())
        try:
            os.mkdir(d)
        except OSError as e:
            records.append({"name": name, "status": "error", "detail": "mkdir: %s" % e,
                            "checks": [], "seconds": 0})
            continue
        records.append(run_item(ctx, name, fns[name], d))
    victims: list[int] = []
    if "mutation-base" in names:
        victims = create_reuse_victims(ctx, os.path.join(root, MUTATION_DIR, b"reuse"), b"seed")
    t_items = time.monotonic() - t0

    def choose(rel: bytes, st):
        full = os.path.join(root, rel) if rel != b"." else root
        return ctx.fixed_times.get(full) or times_for(args.seed, "seed", rel)

    set_times_bottom_up(root, choose)
    for path, flag in ctx.flags_last:
        add_flags(path, flag)
        ok = bool(get_flags(path) & flag)
        rec = next(r for r in records if r["name"] == "immutable-append")
        rec["checks"].append({"check": "flag %#x on %s" % (flag, escape(path)), "ok": ok, "detail": ""})
        if not ok and rec["status"] == "ok":
            rec["status"], rec["detail"] = "check-failed", "flag %#x not set" % flag
    entries, size = tree_stats(root)
    report = {"command": "seed", "format": FORMAT_VERSION, "seed": args.seed, "scale": args.scale,
              "scale_knobs": ctx.scale, "root": args.root, "entries": entries, "file_bytes": size,
              "reuse_victim_inodes": victims, "seconds": round(time.monotonic() - t0, 3),
              "items_seconds": round(t_items, 3), "mount_options": mount_options(root)}
    return finish(report, records, args)


def cmd_mutate(args) -> int:
    os.umask(0o022)
    if args.round < 1:
        raise UsageError("--round must be >= 1")
    root = os.fsencode(os.path.abspath(args.root))
    names = select(args.items, MUTATION_NAMES, "mutate")
    ctx = MutationContext(root, args.seed, args.round, scale_of(args))
    have_base = os.path.isdir(ctx.base)
    t0 = time.monotonic()
    records = []
    reuse = os.path.join(ctx.base, b"reuse")
    report = {"command": "mutate", "format": FORMAT_VERSION, "seed": args.seed, "round": args.round,
              "phase": args.phase, "root": args.root}

    def reuse_prepare(c: MutationContext) -> None:
        gone = []
        for n in list_dir(reuse):
            if n.startswith(b"victim-"):
                gone.append(os.lstat(os.path.join(reuse, n)).st_ino)
                rmtree(os.path.join(reuse, n))
        report["reuse_freed_inodes"] = gone
        c.check(bool(gone), "reuse victims deleted")

    if args.phase in ("all", "prepare") and "inode-reuse" in names:
        if have_base:
            records.append(run_item(ctx, "inode-reuse(prepare)", reuse_prepare))
        else:
            records.append({"name": "inode-reuse", "status": "refused", "checks": [], "seconds": 0,
                            "detail": "mutation-base was not seeded"})
    if args.phase == "prepare":
        report["seconds"] = round(time.monotonic() - t0, 3)
        return finish(report, records, args)

    before = {}
    for rel, st in walk(root)[0]:
        before[st.st_ino] = (st.st_atime_ns, st.st_mtime_ns)

    if "inode-reuse" in names and have_base:
        def reuse_main(c: MutationContext) -> None:
            new = []
            write_file(os.path.join(reuse, b"new-r%d-file" % c.round), c.rng("reuse").bytes(555))
            os.mkdir(os.path.join(reuse, b"new-r%d-dir" % c.round))
            for k in (b"file", b"dir"):
                new.append(os.lstat(os.path.join(reuse, b"new-r%d-%s" % (c.round, k))).st_ino)
            report["reuse_new_inodes"] = new
        records.append(run_item(ctx, "inode-reuse(main)", reuse_main))
    fns = dict(MUTATIONS)
    for name in names:
        if name == "inode-reuse":
            continue
        if not have_base and name not in STANDALONE_MUTATIONS:
            records.append({"name": name, "status": "refused", "checks": [], "seconds": 0,
                            "detail": "mutation-base was not seeded"})
            continue
        records.append(run_item(ctx, name, fns[name]))
    if "inode-reuse" in names and have_base:
        report["reuse_victim_inodes"] = create_reuse_victims(ctx, reuse, b"r%d" % args.round)

    def choose(rel: bytes, st):
        full = os.path.join(root, rel) if rel != b"." else root
        if full in ctx.keep_times:
            return None
        if before.get(st.st_ino) == (st.st_atime_ns, st.st_mtime_ns):
            return None
        return times_for(args.seed, "round-%d" % args.round, rel)

    report["retimed"] = set_times_bottom_up(root, choose)
    entries, size = tree_stats(root)
    report.update({"entries": entries, "file_bytes": size, "seconds": round(time.monotonic() - t0, 3)})
    return finish(report, records, args)


# ---------------------------------------------------------------- negative controls
# Each damages one property of a seeded tree (a writable copy of a restore)
# and puts back the timestamps it disturbed, so the comparison must flag
# exactly the named fields.


class Preserve:
    """Restores atime/mtime of the given paths (lstat'ed now) on exit."""

    def __init__(self, *paths: bytes) -> None:
        self.saved = [(p, os.lstat(p)) for p in paths]

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        for p, st in self.saved:
            if os.path.lexists(p):
                os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def corrupt_flip_bit(root: bytes) -> bytes:
    p = os.path.join(root, b"big-random/random.bin")
    with Preserve(p):
        fd = os.open(p, os.O_RDWR)
        try:
            off = os.fstat(fd).st_size // 2 + 12345
            b = os.pread(fd, 1, off)
            os.pwrite(fd, bytes([b[0] ^ 0x10]), off)
        finally:
            os.close(fd)
    return p


def corrupt_mode_bit(root: bytes) -> bytes:
    p = os.path.join(root, b"modes/mode-0600")
    os.chmod(p, stat.S_IMODE(os.lstat(p).st_mode) ^ 0o004)
    return p


def corrupt_drop_xattr(root: bytes) -> bytes:
    p = os.path.join(root, b"xattrs-user/binary-value")
    os.removexattr(p, "user.binary")
    return p


def corrupt_split_hardlink(root: bytes) -> bytes:
    d = os.path.join(root, b"hardlinks/one")
    p = os.path.join(d, b"same-dir")
    with Preserve(d, p):
        st = os.lstat(p)
        tmp = os.path.join(d, b".split-tmp")
        fd = open_noatime(p, os.O_RDONLY)  # the old inode keeps its atime
        try:
            data = os.pread(fd, st.st_size, 0)
        finally:
            os.close(fd)
        write_file(tmp, data)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        os.chown(tmp, st.st_uid, st.st_gid)
        os.rename(tmp, p)
    return p


def corrupt_fill_hole(root: bytes) -> bytes:
    p = os.path.join(root, b"sparse-mixed/data-hole-data")
    with Preserve(p):
        pwrite_all(p, b"\0", 512 * 1024)
    return p


def corrupt_symlink_target(root: bytes) -> bytes:
    d = os.path.join(root, b"symlinks")
    p = os.path.join(d, b"relative")
    with Preserve(d):
        st = os.lstat(p)
        target = os.readlink(p)
        os.unlink(p)
        os.symlink(target[:-1] + bytes([target[-1] ^ 0x20]), p)  # same length, one letter's case
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    return p


def corrupt_mtime_1ns(root: bytes) -> bytes:
    p = os.path.join(root, b"sizes/size-4096")
    st = os.lstat(p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1), follow_symlinks=False)
    return p


CORRUPTIONS = {
    "flip-bit": (corrupt_flip_bit, ["hash"]),
    "mode-bit": (corrupt_mode_bit, ["mode"]),
    "drop-xattr": (corrupt_drop_xattr, ["xattr:user.binary"]),
    "split-hardlink": (corrupt_split_hardlink, ["nlink", "link"]),
    "fill-hole": (corrupt_fill_hole, ["holes"]),
    "symlink-target": (corrupt_symlink_target, ["target"]),
    "mtime-1ns": (corrupt_mtime_1ns, ["mtime"]),
}


def cmd_corrupt(args) -> int:
    root = os.fsencode(os.path.abspath(args.root))
    if args.case not in CORRUPTIONS:
        raise UsageError("unknown case %s (known: %s)" % (args.case, ", ".join(CORRUPTIONS)))
    fn, fields = CORRUPTIONS[args.case]
    path = fn(root)
    print(json.dumps({"command": "corrupt", "case": args.case, "path": escape(path[len(root) + 1:]),
                      "expect_fields": fields}, sort_keys=True))
    return 0


def cmd_list(args) -> int:
    for n in SEED_NAMES:
        print("seed\t" + n)
    for n in MUTATION_NAMES:
        print("mutate\t" + n)
    for n in CORRUPTIONS:
        print("corrupt\t" + n)
    return 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="fixture.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("seed", help="build the catalogue under --root")
    s.add_argument("--root", required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--items", help="comma-separated item names (default: all)")
    s.add_argument("--scale", choices=sorted(SCALES), default="small")
    s.add_argument("--many-files", type=int)
    s.add_argument("--big-file", type=int)
    s.add_argument("--json-report")
    s.set_defaults(fn=cmd_seed)
    m = sub.add_parser("mutate", help="apply the mutations of one round")
    m.add_argument("--root", required=True)
    m.add_argument("--round", type=int, required=True)
    m.add_argument("--seed", type=int, required=True)
    m.add_argument("--items", help="comma-separated mutation names (default: all)")
    m.add_argument("--scale", choices=sorted(SCALES), default="small")
    m.add_argument("--phase", choices=("all", "prepare", "main"), default="all")
    m.add_argument("--json-report")
    m.set_defaults(fn=cmd_mutate)
    d = sub.add_parser("digest", help="print the tree digest of PATH")
    d.add_argument("path")
    d.add_argument("--ignore-xattr", action="append", default=[])
    d.add_argument("--output")
    d.set_defaults(fn=cmd_digest)
    k = sub.add_parser("corrupt", help="negative control: damage one property of a seeded tree")
    k.add_argument("--root", required=True)
    k.add_argument("--case", required=True, help=", ".join(CORRUPTIONS))
    k.set_defaults(fn=cmd_corrupt)
    ls = sub.add_parser("list", help="print catalogue item names")
    ls.set_defaults(fn=cmd_list)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except UsageError as e:
        print("fixture %s: %s" % (args.command, e), file=sys.stderr)
        return 2
    except OSError as e:
        print("fixture %s: %s" % (args.command, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
