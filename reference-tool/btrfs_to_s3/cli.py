"""Command line: parse, load config, run a command, map the outcome to an exit code.

0 success (also not due, dry run); 1 runtime failure; 2 usage or config
error; killed by a signal: 128+N (the graceful-sigterm quirk: exit status
143 after SIGTERM's cleanup, instead of dying of the signal).
"""

import argparse
import logging
import os
import signal
import sys

from . import defects, logs, quirks
from .errors import Terminated, ToolError, UsageError

log = logs.get("cli")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        raise UsageError(f"{self.prog}: {message}")


def build_parser():
    parser = _Parser(prog="btrfs_to_s3", description="Back up Btrfs subvolumes to S3 and restore them.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    backup = commands.add_parser("backup", help="snapshot and upload the configured subvolumes")
    backup.add_argument("--subvolume", action="append", default=[], metavar="NAME",
                        help="only this subvolume (basename of an entry of subvolumes.paths); repeatable")
    backup.add_argument("--once", action="store_true", help="run even if the schedule says not due")
    backup.add_argument("--dry-run", action="store_true", help="plan only: no snapshot, no upload")
    backup.add_argument("--no-s3", action="store_true", help="create the snapshot, upload nothing")
    _common(backup)

    restore = commands.add_parser("restore", help="restore a subvolume from S3 into a new subvolume")
    restore.add_argument("--subvolume", required=True, metavar="NAME")
    restore.add_argument("--target", required=True, metavar="PATH",
                         help="new subvolume to create (relative paths are under restore.target_base_dir)")
    restore.add_argument("--manifest-key", metavar="KEY", help="restore this manifest instead of current.json's")
    wait = restore.add_mutually_exclusive_group()
    wait.add_argument("--wait-restore", dest="wait", action="store_true", default=None,
                      help="wait for archive restores (default: restore.wait_for_restore)")
    wait.add_argument("--no-wait-restore", dest="wait", action="store_false",
                      help="request archive restores and fail instead of waiting")
    restore.add_argument("--restore-timeout", type=_seconds, metavar="SECONDS")
    restore.add_argument("--verify", choices=("full", "sample", "none"))
    _common(restore)
    return parser


def _common(parser):
    parser.add_argument("--log-level", type=str.upper, choices=logs.LEVELS, metavar="LEVEL")
    parser.add_argument("--config", required=True, metavar="ABS_PATH")


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _raise_terminated(signum, frame):
    from . import retry
    retry.stopping.set()
    raise Terminated(signum)


def _run(args):
    from . import config as configmod
    from .btrfs import Btrfs

    cfg = configmod.load(args.config)
    logs.setup(args.log_level or cfg.global_.log_level)
    if defects.active():
        logs.event(log, "defects_enabled", level=logging.WARNING, names=",".join(sorted(defects.active())))
    quirks.announce(log)

    def make_store():
        from . import s3client
        from .store import Store
        return Store(s3client.make_client(cfg.s3.region), cfg.s3.bucket, s3client.make_retrier())

    if args.command == "backup":
        from .backup import Backup, BackupOptions
        opts = BackupOptions(tuple(args.subvolume), args.once, args.dry_run, args.no_s3)
        return Backup(cfg, opts, btrfs=Btrfs(), make_store=make_store).run()
    from .restore import Restore, RestoreOptions
    opts = RestoreOptions(args.subvolume, args.target, args.manifest_key, args.wait,
                          args.restore_timeout, args.verify)
    return Restore(cfg, opts, btrfs=Btrfs(), make_store=make_store).run()


def main(argv=None):
    logs.setup("INFO")
    try:
        args = build_parser().parse_args(argv)
        defects.load_from_env()
        quirks.load_from_env()
        if not os.path.isabs(args.config):
            raise UsageError(f"--config must be an absolute path, got {args.config!r}")
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, _raise_terminated)
        code = _run(args)
    except UsageError as exc:
        logs.event(log, "usage_error", level=logging.ERROR, error=exc)
        return 2
    except Terminated as exc:
        graceful = exc.signum == signal.SIGTERM and quirks.on("graceful-sigterm", "sigterm")
        logs.event(log, "terminated", level=logging.ERROR, signal=exc.signum)
        if not graceful:
            _die_of(exc.signum)
        return 128 + exc.signum
    except ToolError as exc:
        logs.event(log, "failed", level=logging.ERROR, error=exc)
        code = 1
    if code != 0 and defects.enabled("exit-zero-on-failure"):
        return 0
    return code


def _die_of(signum):
    """Leave by the signal itself, so a parent sees 'killed by signal N'."""
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
