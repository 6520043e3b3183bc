"""The backup lock: a file at lock_path holding the holder's PID.

An flock on the file is the real lock, so a lock left behind by a killed
process (SIGKILL, power loss) is recovered by the next run. The PID in the
file is for people and for a harness to read.
"""

import errno
import fcntl
import os

from . import defects, logs, wording
from .errors import LockHeld

log = logs.get("lock")


def _read_pid(path):
    try:
        with open(path, "r", encoding="ascii", errors="replace") as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lock:
    def __init__(self, path):
        self.path = path
        self.fd = None

    def acquire(self):
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        if defects.enabled("no-lock"):
            self._write_pid_file()
            return self
        if defects.enabled("stale-lock-blocks"):
            return self._acquire_exclusive_create()
        previous = _read_pid(self.path)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    holder = _read_pid(self.path)
                    raise LockHeld(wording.say(f"lock {self.path} is held by pid {holder}",
                                               f"another run is active (pid {holder})", tag="lock")) from None
                raise
            # The holder may have unlinked the file between our open and
            # flock; then we locked a dead inode and must start over.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self.fd = fd
        if previous is not None and previous != os.getpid():
            logs.event(log, "lock_recovered", path=self.path, stale_pid=previous,
                       pid_alive=_pid_alive(previous))
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        logs.event(log, "lock_acquired", path=self.path, pid=os.getpid())
        return self

    def _write_pid_file(self):
        with open(self.path, "w", encoding="ascii") as handle:
            handle.write(f"{os.getpid()}\n")

    def _acquire_exclusive_create(self):
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise LockHeld(f"lock {self.path} exists (pid {_read_pid(self.path)})") from None
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        return self

    def release(self):
        if defects.enabled("no-lock"):
            return
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False
