"""Exception types, each mapped to an exit code by the CLI."""


class UsageError(Exception):
    """Bad command line, bad config or unknown defect name: exit 2."""


class ConfigError(UsageError):
    """The config file is missing, unparsable or has a bad key: exit 2."""


class ToolError(Exception):
    """A runtime failure with a clear message: exit 1."""


class IntegrityError(ToolError):
    """A chunk's bytes do not match its manifest entry."""


class LockHeld(ToolError):
    """Another backup holds the lock."""


class CredentialsMissing(ToolError):
    """No S3 credentials in the environment."""


class Terminated(BaseException):
    """Raised from a signal handler so that cleanup code runs.

    A BaseException, so no `except Exception` swallows it.
    """

    def __init__(self, signum):
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


def escaping(exc):
    """Mark `exc` to pass every handler of the tool, so the process ends on
    its traceback (exit 1): how the defects that crash (DEFECTS.md) leave a
    code path no handler was written for. Returns `exc` for `raise`."""
    exc.btrfs_to_s3_escapes = True
    return exc


def escapes(exc):
    return getattr(exc, "btrfs_to_s3_escapes", False)
