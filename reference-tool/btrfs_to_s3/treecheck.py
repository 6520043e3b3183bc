"""Restore --verify: compare the restored tree with its source snapshot.

When the snapshot a manifest names (`snapshot.path`) is still on this
machine, `compare` walks both trees and holds the restore to it: per entry
type, mode bits, owner, nlink and hardlink groups (not directories), size,
mtime in ns, device numbers, symlink target and xattrs; and the SHA-256 of
file contents (every file for `full`, at most `sample_max_files` for
`sample`). Not compared, because send/receive does not carry them or the
receiving filesystem assigns them: inode numbers, ctime, atime, directory
size and nlink, holes and extent layout, chattr flags, `security.selinux`.

Documented send/receive behaviour is not a mismatch:
- a nested subvolume is not sent: in the snapshot it is an empty stub on
  another device (inode 2, or 256 for a live subvolume); the restore has
  nothing there, or an empty plain directory;
- known kernel-side losses, reported as known differences: S_ISUID/S_ISGID
  cleared when an incremental sent only a chown
  (`setuid-lost-on-chown-only`), and, in full and incremental streams, the
  root's mtime when the tree holds a chain of more than 64 nested
  directories (`root-mtime-after-deep-chain`).

Without a source, `check` re-reads the restored tree itself (every file or
a sample, to its end, size against lstat): what the tree alone can prove.
"""

import dataclasses
import errno
import hashlib
import os
import random
import stat

from . import defects, quirks, wording
from .errors import ToolError

BLOCK = 1024 * 1024
IGNORED_XATTRS = frozenset({"security.selinux"})
DEEP_CHAIN_DEPTH = 64
_SETID = stat.S_ISUID | stat.S_ISGID


class TreeCheckError(ToolError):
    """The restored tree cannot be read, or differs from its source."""


class VerifyMismatch(TreeCheckError):
    def __init__(self, path, detail):
        shown = show_path(path)
        super().__init__(wording.say(
            f"verify mismatch: {shown}: {detail}",
            f"restored tree differs from its snapshot at {shown}: {detail}",
        ))
        self.path = path


class SourceUnavailable(Exception):
    """The source snapshot cannot be read: nothing to compare with (no failure)."""


@dataclasses.dataclass(frozen=True)
class Comparison:
    entries: int
    files_compared: int
    bytes_compared: int
    known_differences: tuple = ()  # (path, rule)


def show_path(rel):
    """A relative path for messages: printable ASCII kept, other bytes as \\xNN."""
    rel = os.fsencode(rel)
    out = []
    for byte in rel:
        if 0x20 <= byte <= 0x7E and byte != 0x5C:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


# -- walking -------------------------------------------------------------------

def stub_kind(st, root_dev):
    """None, or what a directory on another device is: a nested subvolume
    (inode 256), its empty stub in a snapshot (inode 2), or a mount point."""
    if not stat.S_ISDIR(st.st_mode) or st.st_dev == root_dev:
        return None
    return {256: "subvolume", 2: "empty-subvolume-stub"}.get(st.st_ino, "mount")


def scan(root, *, stubs=True, skip=()):
    """(entries, stubs) of the tree at `root`, never following symlinks.

    `entries` maps a relative path (bytes, b"." for the root) to its lstat;
    with `stubs`, a directory on another device is not descended into and
    goes to the second dict (path -> kind) instead. Names in `skip` are
    left out at the root (bookkeeping of the btrfs layer, see Btrfs).
    """
    root = os.fsencode(root)
    skip = {os.fsencode(name) for name in skip}
    root_st = os.lstat(root)
    entries = {b".": root_st}
    found = {}
    stack = [b""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as listing:
            names = sorted(item.name for item in listing)
        for name in names:
            if not rel and name in skip:
                continue
            child = os.path.join(rel, name) if rel else name
            st = os.lstat(os.path.join(root, child))
            kind = stub_kind(st, root_st.st_dev) if stubs else None
            if kind:
                found[child] = kind
                continue
            entries[child] = st
            if stat.S_ISDIR(st.st_mode):
                stack.append(child)
    return entries, found


def _unwalkable(exc):
    return TreeCheckError(wording.say(f"cannot walk restored tree: {exc}",
                                      f"listing the restored tree failed: {exc}"))


def walk(root):
    """Every entry below root as a sorted list of (relative path, lstat)."""
    try:
        entries, _ = scan(root, stubs=False)
    except OSError as exc:
        raise _unwalkable(exc) from None
    return [(os.fsdecode(rel), st) for rel, st in sorted(entries.items()) if rel != b"."]


# -- choosing a sample ------------------------------------------------------------

def sample(items, limit):
    """At most `limit` items spread evenly over the list (deterministic)."""
    if limit >= len(items):
        return list(items)
    if limit <= 0:
        return []
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def random_sample(files, limit, seed):
    """The verify-sampling quirk: the largest file plus a seeded random sample."""
    if limit >= len(files):
        return list(files)
    if limit <= 0:
        return []
    largest = max(range(len(files)), key=lambda i: (files[i][1].st_size, -i))
    rest = [i for i in range(len(files)) if i != largest]
    chosen = [largest] + random.Random(seed).sample(rest, limit - 1)
    return [files[i] for i in sorted(chosen)]


def choose(files, mode, limit, seed):
    """The files whose contents a `mode` verify reads, in path order."""
    if mode == "full":
        return list(files)
    if quirks.on("verify-sampling", "sample"):
        return random_sample(files, limit, seed)
    return sample(files, limit)


# -- reading ---------------------------------------------------------------------

def _open(path):
    flags = os.O_RDONLY | os.O_NOFOLLOW
    try:
        return os.open(path, flags | getattr(os, "O_NOATIME", 0))
    except PermissionError:  # O_NOATIME needs ownership or CAP_FOWNER
        return os.open(path, flags)


def file_digest(path):
    """(bytes read, SHA-256 hex) of a regular file, without moving its atime."""
    hasher = hashlib.sha256()
    size = 0
    fd = _open(path)
    try:
        while True:
            data = os.read(fd, BLOCK)
            if not data:
                break
            hasher.update(data)
            size += len(data)
    finally:
        os.close(fd)
    return size, hasher.hexdigest()


def xattrs(path):
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    out = {}
    for name in names:
        if name in IGNORED_XATTRS:
            continue
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno != errno.ENODATA:  # removed between list and get
                raise
    return out


def _link_groups(entries):
    """path -> group name (its smallest path) for non-directories with nlink > 1."""
    groups = {}
    for rel, st in entries.items():
        if not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1:
            groups.setdefault((st.st_dev, st.st_ino), []).append(rel)
    return {rel: min(paths) for paths in groups.values() for rel in paths}


_TYPES = {stat.S_IFREG: "file", stat.S_IFDIR: "directory", stat.S_IFLNK: "symlink",
          stat.S_IFCHR: "char device", stat.S_IFBLK: "block device", stat.S_IFIFO: "fifo",
          stat.S_IFSOCK: "socket"}


def _type(st):
    return _TYPES.get(stat.S_IFMT(st.st_mode), "unknown")


# -- comparing -------------------------------------------------------------------

class _Compare:
    def __init__(self, source, target, *, incremental, metadata, skip):
        self.source = os.fsencode(source)
        self.target = os.fsencode(target)
        self.incremental = incremental
        self.metadata = metadata
        self.known = []
        aware = not defects.enabled("verify-fails-nested-subvolume")
        self.src, self.src_stubs = self._source(scan, source, stubs=aware, skip=skip)
        try:
            self.dst, self.dst_stubs = scan(target, skip=skip)
        except OSError as exc:
            raise _unwalkable(exc) from None
        self.depth = max((rel.count(b"/") + 1 for rel in self.src), default=0)

    @staticmethod
    def _source(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except OSError as exc:
            raise SourceUnavailable(f"cannot read the source snapshot: {exc}") from None

    @staticmethod
    def _target(fn, *args):
        try:
            return fn(*args)
        except OSError as exc:
            raise TreeCheckError(wording.say(f"restored tree is unreadable: {exc}",
                                             f"reading the restored tree failed: {exc}")) from None

    def paths(self):
        return sorted(set(self.src) | set(self.dst) | set(self.src_stubs) | set(self.dst_stubs))

    def run(self, chosen):
        src_links = _link_groups(self.src)
        dst_links = _link_groups(self.dst)
        stub_places = set(self.src_stubs)
        chosen = {rel for rel, _ in chosen}
        total = 0
        for rel in self.paths():
            if rel in self.src_stubs:
                self._stub(rel)
                continue
            if any(rel.startswith(place + b"/") for place in stub_places):
                raise VerifyMismatch(rel, "the restore has entries inside a nested subvolume's place")
            if rel in self.dst_stubs:
                raise VerifyMismatch(rel, f"the restore has a {self.dst_stubs[rel]} where the source does not")
            s, t = self.src.get(rel), self.dst.get(rel)
            if t is None:
                raise VerifyMismatch(rel, f"{_type(s)} missing from the restore")
            if s is None:
                raise VerifyMismatch(rel, f"{_type(t)} in the restore is not in the source snapshot")
            self._entry(rel, s, t, src_links.get(rel), dst_links.get(rel))
            if rel in chosen:
                self._content(rel, s)
                total += s.st_size
        return total

    def _stub(self, rel):
        t = self.dst.get(rel)
        if t is None:
            return
        below = [p for p in self.dst if p.startswith(rel + b"/")]
        if not stat.S_ISDIR(t.st_mode) or below:
            raise VerifyMismatch(rel, f"the source has a nested subvolume ({self.src_stubs[rel]}) here, "
                                      f"the restore a non-empty {_type(t)}")

    def _differs(self, rel, field, a, b):
        raise VerifyMismatch(rel, f"{field} differs (source {a}, restore {b})")

    def _entry(self, rel, s, t, s_link, t_link):
        if stat.S_IFMT(s.st_mode) != stat.S_IFMT(t.st_mode):
            self._differs(rel, "type", _type(s), _type(t))
        is_dir = stat.S_ISDIR(s.st_mode)
        if not is_dir and s.st_size != t.st_size:
            self._differs(rel, "size", s.st_size, t.st_size)
        if stat.S_ISLNK(s.st_mode):
            a = self._source(os.readlink, os.path.join(self.source, rel))
            b = self._target(os.readlink, os.path.join(self.target, rel))
            if a != b:
                self._differs(rel, "symlink target", show_path(a), show_path(b))
        if not self.metadata:
            return
        s_mode, t_mode = stat.S_IMODE(s.st_mode), stat.S_IMODE(t.st_mode)
        if s_mode != t_mode:
            if self.incremental and s_mode & stat.S_ISUID and t_mode == s_mode & ~_SETID:
                self.known.append((rel, "setuid-lost-on-chown-only"))
            else:
                self._differs(rel, "mode", f"{s_mode:04o}", f"{t_mode:04o}")
        if (s.st_uid, s.st_gid) != (t.st_uid, t.st_gid):
            self._differs(rel, "owner", f"{s.st_uid}:{s.st_gid}", f"{t.st_uid}:{t.st_gid}")
        if not is_dir and s.st_nlink != t.st_nlink:
            self._differs(rel, "nlink", s.st_nlink, t.st_nlink)
        if s.st_mtime_ns != t.st_mtime_ns:
            # Full streams of a tree holding the chain lose it too.
            if rel == b"." and self.depth > DEEP_CHAIN_DEPTH:
                self.known.append((rel, "root-mtime-after-deep-chain"))
            else:
                self._differs(rel, "mtime", s.st_mtime_ns, t.st_mtime_ns)
        if (stat.S_ISCHR(s.st_mode) or stat.S_ISBLK(s.st_mode)) and s.st_rdev != t.st_rdev:
            self._differs(rel, "device number", f"{os.major(s.st_rdev)}:{os.minor(s.st_rdev)}",
                          f"{os.major(t.st_rdev)}:{os.minor(t.st_rdev)}")
        if s_link != t_link:
            show = lambda link: show_path(link) if link else "(not linked)"  # noqa: E731
            self._differs(rel, "hardlink group", show(s_link), show(t_link))
        a = self._source(xattrs, os.path.join(self.source, rel))
        b = self._target(xattrs, os.path.join(self.target, rel))
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                shown = lambda v: "(absent)" if v is None else f"{len(v)} bytes"  # noqa: E731
                self._differs(rel, f"xattr {name}", shown(a.get(name)), shown(b.get(name)))

    def _content(self, rel, st):
        a_size, a = self._source(file_digest, os.path.join(self.source, rel))
        b_size, b = self._target(file_digest, os.path.join(self.target, rel))
        if a_size != st.st_size:
            raise SourceUnavailable(f"{show_path(rel)} changed in the source snapshot while read")
        if (a_size, a) != (b_size, b):
            shown = lambda size, digest: wording.say(f"{size} bytes sha256 {digest}",  # noqa: E731
                                                     f"{size} bytes, hash {digest}")
            self._differs(rel, "content", shown(a_size, a), shown(b_size, b))


def compare(source, target, mode, sample_max_files, *, incremental=False, metadata=True,
            skip=(), seed=""):
    """Compare the restored tree `target` with its source snapshot `source`.

    Returns a Comparison; raises VerifyMismatch at the first differing path
    (in path order), TreeCheckError when the restore cannot be read, and
    SourceUnavailable when the source cannot. `incremental` allows the known
    losses of incremental streams; `metadata=False` compares types, sizes,
    symlink targets and contents only.
    """
    if mode not in ("full", "sample"):
        raise ValueError(f"no comparison in verify mode {mode!r}")
    run = _Compare(source, target, incremental=incremental, metadata=metadata, skip=skip)
    files = [(rel, st) for rel, st in sorted(run.src.items()) if stat.S_ISREG(st.st_mode)]
    chosen = choose(files, mode, sample_max_files, seed)
    total = run.run(chosen)
    return Comparison(len(run.src), len(chosen), total, tuple(run.known))


def check(root, mode, sample_max_files, *, skip=(), seed=""):
    """Without a source: re-read the restored tree. (entries, files_read, bytes_read)."""
    if mode == "none":
        return 0, 0, 0
    try:
        entries, _ = scan(root, stubs=False, skip=skip)
    except OSError as exc:
        raise _unwalkable(exc) from None
    files = [(rel, st) for rel, st in sorted(entries.items()) if stat.S_ISREG(st.st_mode)]
    chosen = choose(files, mode, sample_max_files, seed)
    total = 0
    for rel, st in chosen:
        try:
            size, _ = file_digest(os.path.join(os.fsencode(root), rel))
        except OSError as exc:
            raise TreeCheckError(wording.say(f"restored file {show_path(rel)} is unreadable: {exc}",
                                             f"reading {show_path(rel)} of the restore failed: {exc}")) from None
        if size != st.st_size:
            raise TreeCheckError(wording.say(
                f"restored file {show_path(rel)}: read {size} bytes, lstat says {st.st_size}",
                f"{show_path(rel)} of the restore is {st.st_size} bytes long but {size} could be read"))
        total += st.st_size
    return len(entries), len(chosen), total
