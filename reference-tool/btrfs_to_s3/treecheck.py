"""Restore --verify: re-read the restored tree (full: every file; sample: some)."""

import os
import stat

from .errors import ToolError

BLOCK = 1024 * 1024


class TreeCheckError(ToolError):
    pass


def walk(root):
    """Every entry below root as a sorted list of (relative path, lstat)."""
    entries = []
    for directory, dirnames, filenames in os.walk(root, onerror=_raise):
        dirnames.sort()
        for name in dirnames + sorted(filenames):
            path = os.path.join(directory, name)
            entries.append((os.path.relpath(path, root), os.lstat(path)))
    entries.sort(key=lambda item: os.fsencode(item[0]))
    return entries


def _raise(error):
    raise TreeCheckError(f"cannot walk restored tree: {error}")


def sample(items, limit):
    """At most `limit` items spread evenly over the list (deterministic)."""
    if limit >= len(items):
        return list(items)
    if limit <= 0:
        return []
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def _read_all(path, expected_size):
    size = 0
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        while True:
            data = os.read(fd, BLOCK)
            if not data:
                break
            size += len(data)
    finally:
        os.close(fd)
    if size != expected_size:
        raise TreeCheckError(f"{path}: read {size} bytes, lstat says {expected_size}")


def check(root, mode, sample_max_files):
    """Return (entries, files_read, bytes_read); raise TreeCheckError on a bad tree."""
    if mode == "none":
        return 0, 0, 0
    entries = walk(root)
    files = [(rel, st) for rel, st in entries if stat.S_ISREG(st.st_mode)]
    chosen = files if mode == "full" else sample(files, sample_max_files)
    total = 0
    for rel, st in chosen:
        try:
            _read_all(os.path.join(root, rel), st.st_size)
        except OSError as exc:
            raise TreeCheckError(f"restored file {rel!r} is unreadable: {exc}") from None
        total += st.st_size
    return len(entries), len(chosen), total
