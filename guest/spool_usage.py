"""Sample how many bytes a spool directory holds until stopped (SIGTERM);
keep the peak in a JSON file, rewritten after every sample.

    python3 spool_usage.py --dir DIR --out FILE [--interval SECONDS]

A spool of temporary files is mostly invisible to `du`: Python's
tempfile.TemporaryFile (O_TMPFILE, or unlinked at once) has no name in the
directory. So a sample counts the regular files under DIR and also every
file that a process holds open under DIR after it was unlinked (found
through /proc/PID/fd), each inode once, by its apparent size (`du -sb`).
Standard library only; one process for the whole sampling.
"""

import argparse
import json
import os
import signal
import sys
import time


def linked_files(root):
    """(dev, ino) -> size of the regular files below `root`."""
    found = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue  # removed while we walked
            if st.st_mode & 0o170000 == 0o100000:
                found[(st.st_dev, st.st_ino)] = st.st_size
    return found


def open_unlinked(root, proc="/proc"):
    """(dev, ino) -> size of files under `root` that are open but unlinked."""
    found = {}
    prefix = root.rstrip("/") + "/"
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        fd_dir = os.path.join(proc, pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # gone, or not ours to read
        for fd in fds:
            path = os.path.join(fd_dir, fd)
            try:
                target = os.readlink(path)
                if not (target.startswith(prefix) and target.endswith(" (deleted)")):
                    continue
                st = os.stat(path)
            except OSError:
                continue
            found[(st.st_dev, st.st_ino)] = st.st_size
    return found


def usage(root, proc="/proc"):
    """(bytes, files) the spool holds now."""
    files = open_unlinked(os.path.realpath(root), proc)
    files.update(linked_files(root))
    return sum(files.values()), len(files)


def write_json(path, doc):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--interval", type=float, default=0.1)
    args = ap.parse_args(argv)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    doc = {"dir": args.dir, "samples": 0, "peak_bytes": 0, "peak_files": 0, "last_bytes": 0}
    while not stop:
        size, files = usage(args.dir)
        doc["samples"] += 1
        doc["last_bytes"] = size
        if size > doc["peak_bytes"]:
            doc["peak_bytes"], doc["peak_files"] = size, files
        write_json(args.out, doc)
        time.sleep(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
