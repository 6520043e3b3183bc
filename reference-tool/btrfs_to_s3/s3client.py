"""Build the boto3 S3 client: region, retries, timeouts, credentials check.

boto3 is imported here and only here, lazily, so everything else runs (and
is tested) without it. The endpoint comes from AWS_ENDPOINT_URL_S3, which
boto3 >= 1.28 reads itself.
"""

from . import defects, logs, quirks, wording
from .errors import CredentialsMissing, ToolError
from .retry import FullJitterRetrier, Retrier

log = logs.get("s3")

CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 30
# botocore's `total_max_attempts` counts the first attempt; its
# `max_attempts` counts only the retries (1 would still retry once).
BOTO_TOTAL_ATTEMPTS = 4
OUTER_ATTEMPTS = 4
# The retry-backoff quirk: one policy of our own instead of two layers.
QUIRK_ATTEMPTS = 10
QUIRK_BASE_SECONDS = 0.25
QUIRK_CAP_SECONDS = 4.0
QUIRK_BUDGET_SECONDS = 90.0


def make_retrier():
    if defects.enabled("no-retry"):
        return Retrier(attempts=1)
    if quirks.enabled("retry-backoff"):
        return FullJitterRetrier(attempts=QUIRK_ATTEMPTS, base_delay=QUIRK_BASE_SECONDS,
                                 max_delay=QUIRK_CAP_SECONDS, budget_seconds=QUIRK_BUDGET_SECONDS)
    return Retrier(attempts=OUTER_ATTEMPTS)


def client_config_kwargs():
    """Keyword arguments for botocore's Config (kept pure for tests)."""
    kwargs = {
        "retries": {"mode": "standard", "total_max_attempts": BOTO_TOTAL_ATTEMPTS},
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
        "tcp_keepalive": True,
    }
    if defects.enabled("no-retry") or quirks.enabled("retry-backoff"):
        # total_max_attempts: botocore's max_attempts = 1 would retry once.
        kwargs["retries"] = {"mode": "standard", "total_max_attempts": 1}
    if defects.enabled("no-timeout"):
        kwargs.update(connect_timeout=None, read_timeout=None, tcp_keepalive=False)
    return kwargs


def make_client(region):
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise ToolError(wording.say(f"boto3 is not installed: {exc}", f"cannot import boto3: {exc}")) from None
    session = boto3.session.Session()
    if session.get_credentials() is None and not defects.enabled("success-without-credentials"):
        raise CredentialsMissing(wording.say(
            "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            "S3 signing keys are not configured (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
            tag="keys"))
    return session.client("s3", region_name=region, config=Config(**client_config_kwargs()))
