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
