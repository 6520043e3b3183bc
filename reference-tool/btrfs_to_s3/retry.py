"""Retries with exponential backoff for throttling, 5xx and transport errors.

boto3's own retry mode handles most of these; this outer layer adds
attempts once its quota is spent and covers work boto3 cannot retry, like
re-reading a streamed GetObject body. Errors are classified by shape (the
`response` dict, class names) so this module needs no botocore import.
"""

import random
import threading
import time

from . import logs, quirks, wording

log = logs.get("s3")

# Set when the process is told to stop: no new attempts, so worker threads
# finish quickly and the cleanup that follows (aborts) can run.
stopping = threading.Event()

RETRYABLE_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
    "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable",
    "RequestThrottled", "TooManyRequests", "BadDigest", "IncompleteBody",
})
TRANSIENT_EXCEPTIONS = frozenset({
    # botocore transport errors
    "HTTPClientError", "EndpointConnectionError", "ConnectionClosedError",
    "ReadTimeoutError", "ConnectTimeoutError", "ResponseStreamingError",
    "IncompleteReadError", "ProxyConnectionError", "ConnectionError",
    # urllib3 / http.client errors that escape from a streamed body
    "ProtocolError", "IncompleteRead", "RemoteDisconnected",
    # builtins
    "ConnectionResetError", "ConnectionAbortedError", "BrokenPipeError",
    "TimeoutError",
})


def error_code(exc):
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return (response.get("Error") or {}).get("Code")
    return None


def http_status(exc):
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return None


def is_not_found(exc):
    return error_code(exc) in ("404", "NoSuchKey", "NotFound") or http_status(exc) == 404


def class_names(exc):
    return {cls.__name__ for cls in type(exc).__mro__}


def is_retryable(exc):
    code = error_code(exc)
    if code is not None or http_status(exc) is not None:
        status = http_status(exc) or 0
        return code in RETRYABLE_CODES or status >= 500 or status == 429
    return bool(class_names(exc) & TRANSIENT_EXCEPTIONS)


def is_missing_credentials(exc):
    return bool(class_names(exc) & {"NoCredentialsError", "PartialCredentialsError"})


def is_s3_error(exc):
    """An error from S3 or the way to it (as opposed to a bug in the tool)."""
    return (error_code(exc) is not None or http_status(exc) is not None
            or bool(class_names(exc) & TRANSIENT_EXCEPTIONS) or is_missing_credentials(exc))


def describe(exc):
    """The `error=` text of an S3 (or other non-tool) exception."""
    code = error_code(exc)
    if is_missing_credentials(exc):
        return wording.say(f"{type(exc).__name__}: {exc}", "S3 signing keys are not configured",
                           tag="keys")
    if code:
        message = (getattr(exc, "response", None) or {}).get("Error", {}).get("Message") or ""
        operation = getattr(exc, "operation_name", None) or "the request"
        return wording.say(f"{code}: {exc}",
                           f"S3 refused {operation} with {code} (HTTP {http_status(exc)}) {message}".rstrip())
    return wording.say(f"{type(exc).__name__}: {exc}", f"S3 could not be reached ({type(exc).__name__}) {exc}")


class Retrier:
    """Exponential backoff with jitter (half to all of the capped delay).

    `budget_seconds`: no new attempt once this much time (attempts and
    pauses) has passed since the first one began.
    """

    def __init__(self, attempts=4, base_delay=1.0, max_delay=20.0, sleep=time.sleep, rng=random.random,
                 budget_seconds=None, monotonic=time.monotonic):
        self.attempts = max(1, attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.rng = rng
        self.budget_seconds = budget_seconds
        self.monotonic = monotonic

    def delay(self, attempt):
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return ceiling * (0.5 + 0.5 * self.rng())

    def _over_budget(self, started, pause):
        return self.budget_seconds is not None and \
            self.monotonic() - started + pause > self.budget_seconds

    def call(self, what, fn, *args, **kwargs):
        attempt = 1
        started = self.monotonic()
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if attempt >= self.attempts or not is_retryable(exc) or stopping.is_set():
                    raise
                pause = self.delay(attempt)
                if self._over_budget(started, pause):
                    raise
                logs.event(log, "s3_retry", level=30, op=what, attempt=attempt,
                           delay_seconds=f"{pause:.2f}", error=describe(exc))
                self.sleep(pause)
                attempt += 1


class FullJitterRetrier(Retrier):
    """The retry-backoff quirk's policy: full jitter, a delay anywhere in
    [0, min(cap, base * 2^(n-1))], so clients that failed together do not
    retry together (botocore's own retries are off under this quirk)."""

    def delay(self, attempt):
        quirks.path("retry-backoff", "retry")
        return self.rng() * min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
