"""Snapshot names and S3 keys of the contract's layout."""

import posixpath
import re

FULL = "full"
INCREMENTAL = "incremental"
KINDS = (FULL, INCREMENTAL)
# A snapshot name says `inc` where keys and manifests say `incremental`.
SNAPSHOT_KIND = {FULL: "full", INCREMENTAL: "inc"}
_SNAPSHOT_RE = re.compile(r"^(?P<subvol>.+)__(?P<ts>\d{8}T\d{6}Z)__(?P<kind>full|inc)$")
_MANIFEST_RE = re.compile(
    r"^(?P<prefix>.*)subvol/(?P<subvol>[^/]+)/(?P<kind>full|incremental)/manifest-(?P<ts>\d{8}T\d{6}Z)\.json$"
)


def normalize_prefix(prefix):
    """The contract's P: the prefix with exactly one trailing slash (or empty)."""
    stripped = prefix.rstrip("/")
    return f"{stripped}/" if stripped else ""


def subvolume_prefix(p, subvolume):
    return f"{p}subvol/{subvolume}/"


def chunk_key(p, subvolume, kind, ts, index):
    return f"{subvolume_prefix(p, subvolume)}{kind}/chunk-{ts}-{index}.bin"


def manifest_key(p, subvolume, kind, ts):
    return f"{subvolume_prefix(p, subvolume)}{kind}/manifest-{ts}.json"


def pointer_key(p, subvolume):
    return f"{subvolume_prefix(p, subvolume)}current.json"


def parse_manifest_key(key):
    """Return (subvolume, kind, ts) of a manifest key, or None."""
    match = _MANIFEST_RE.match(key)
    if not match:
        return None
    return match.group("subvol"), match.group("kind"), match.group("ts")


def snapshot_name(subvolume, ts, kind):
    return f"{subvolume}__{ts}__{SNAPSHOT_KIND[kind]}"


def parse_snapshot_name(name):
    """Return (subvolume, ts, kind) with kind in KINDS, or None."""
    match = _SNAPSHOT_RE.match(posixpath.basename(name))
    if not match:
        return None
    kind = FULL if match.group("kind") == "full" else INCREMENTAL
    return match.group("subvol"), match.group("ts"), kind
