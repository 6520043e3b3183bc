"""btrfs-progs, run as subprocesses. Tests substitute an object with the same methods."""

import os
import subprocess
import tempfile

from . import logs, wording
from .errors import ToolError

log = logs.get("btrfs")


class BtrfsError(ToolError):
    pass


def _failed(argv, code, detail):
    return wording.say(f"{' '.join(argv)} failed (exit {code}): {detail}",
                       f"{' '.join(argv[:3])} returned {code} ({' '.join(argv)}): {detail}")


def _run(argv):
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise BtrfsError(_failed(argv, result.returncode, detail))
    return result.stdout


class _Process:
    """A btrfs child whose stderr goes to a temp file (no pipe to deadlock on)."""

    def __init__(self, argv, **popen_kwargs):
        self.argv = argv
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stderr=self.stderr, **popen_kwargs)

    def _error_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace").strip()

    def wait_ok(self):
        code = self.proc.wait()
        text = self._error_text()
        self.stderr.close()
        if code != 0:
            raise BtrfsError(_failed(self.argv, code, text))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.stderr.close()


class SendProcess(_Process):
    def __init__(self, argv):
        super().__init__(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, bufsize=1024 * 1024)
        self.stdout = self.proc.stdout

    def finish(self):
        self.stdout.close()
        self.wait_ok()

    def abort(self):
        self.stdout.close()
        self.kill()


class ReceiveProcess(_Process):
    def __init__(self, argv):
        super().__init__(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        self.stdin = self.proc.stdin

    def write(self, data):
        try:
            self.stdin.write(data)
        except BrokenPipeError:
            # receive died; its own message is the useful one.
            self.stdin = None
            self.wait_ok()
            raise BtrfsError(wording.say(f"{' '.join(self.argv)} stopped reading its input",
                                         f"{' '.join(self.argv[:2])} quit before the end of the stream")) from None

    def finish(self):
        if self.stdin is not None:
            try:
                self.stdin.close()
            except BrokenPipeError:
                pass
        self.wait_ok()

    def abort(self):
        try:
            if self.stdin is not None:
                self.stdin.close()
        except OSError:
            pass
        self.kill()


class Btrfs:
    # Names this layer keeps inside a subvolume for itself, which a tree
    # comparison leaves out (btrfs-progs keeps none; the tests' fake keeps
    # a marker file).
    private_names = ()

    def snapshot(self, source, dest, readonly):
        argv = ["btrfs", "subvolume", "snapshot"] + (["-r"] if readonly else []) + [source, dest]
        _run(argv)

    def delete(self, path):
        _run(["btrfs", "subvolume", "delete", path])

    def show(self, path):
        """`btrfs subvolume show` fields as a dict ('-' values become None)."""
        fields = {}
        for line in _run(["btrfs", "subvolume", "show", path]).splitlines()[1:]:
            name, sep, value = line.strip().partition(":")
            if sep and name and name not in fields:
                value = value.strip()
                fields[name] = None if value in ("", "-") else value
        return fields

    def is_subvolume(self, path):
        try:
            self.show(path)
        except BtrfsError:
            return False
        return True

    def set_readonly(self, path, readonly):
        _run(["btrfs", "property", "set", "-f", "-ts", path, "ro", "true" if readonly else "false"])

    def send(self, snapshot, parent=None):
        argv = ["btrfs", "send"] + (["-p", parent] if parent else []) + [snapshot]
        return SendProcess(argv)

    def receive(self, dest_dir):
        return ReceiveProcess(["btrfs", "receive", dest_dir])

    def create(self, path):
        _run(["btrfs", "subvolume", "create", path])

    def copy_tree(self, source, dest):
        """Copy a tree's contents the way a naive tool does (`cp -r`)."""
        _run(["cp", "-r", "--reflink=auto", os.path.join(source, "."), dest])
