"""The contract's TS (`YYYYMMDDTHHMMSSZ`, UTC) and collision-free choice of one."""

import datetime

TS_FORMAT = "%Y%m%dT%H%M%SZ"
ONE_SECOND = datetime.timedelta(seconds=1)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def format_ts(moment):
    return moment.astimezone(datetime.timezone.utc).strftime(TS_FORMAT)


def parse_ts(text):
    """Parse a TS; returns an aware UTC datetime or raises ValueError."""
    moment = datetime.datetime.strptime(text, TS_FORMAT)
    return moment.replace(tzinfo=datetime.timezone.utc)


def is_ts(text):
    try:
        parse_ts(text)
    except (TypeError, ValueError):
        return False
    return len(text) == 16


def iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def next_free_ts(now, taken, is_taken=None):
    """The first TS at or after `now`, later than every TS in `taken`.

    `taken` holds the TSs already used for the subvolume (local snapshots,
    state). Staying above their maximum keeps TSs monotonic even if the
    clock stepped back; `is_taken(ts)` may add a slower check (S3) for
    candidates that pass the local one.
    """
    candidate = now.astimezone(datetime.timezone.utc).replace(microsecond=0)
    known = [parse_ts(ts) for ts in taken if is_ts(ts)]
    if known:
        candidate = max(candidate, max(known) + ONE_SECOND)
    while is_taken is not None and is_taken(format_ts(candidate)):
        candidate += ONE_SECOND
    return format_ts(candidate)
