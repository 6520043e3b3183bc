"""The tool's TOML config (CONTRACT.md), loaded and validated.

Every key of the contract is required and unknown keys are rejected, so a
typo is reported with its section and key instead of silently ignored.
"""

import dataclasses
import os
import re
import tomllib

from .errors import ConfigError
from .logs import LEVELS

STORAGE_CLASSES = (
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
    "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "GLACIER_IR",
)
ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
VERIFY_MODES = ("full", "sample", "none")
RESTORE_TIERS = ("Expedited", "Standard", "Bulk")
MAX_OBJECT_BYTES = 5 * 1024 ** 4


@dataclasses.dataclass(frozen=True)
class GlobalConfig:
    log_level: str
    state_path: str
    lock_path: str
    spool_dir: str
    spool_size_bytes: int


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    full_every_days: float
    incremental_every_days: float
    run_at: tuple  # (hour, minute)


@dataclasses.dataclass(frozen=True)
class SnapshotsConfig:
    base_dir: str
    retain: int


@dataclasses.dataclass(frozen=True)
class S3Config:
    bucket: str
    region: str
    prefix: str
    chunk_size_bytes: int
    storage_class_chunks: str
    storage_class_manifest: str
    concurrency: int
    spool_enabled: bool
    sse: str


@dataclasses.dataclass(frozen=True)
class RestoreConfig:
    target_base_dir: str
    verify_mode: str
    sample_max_files: int
    wait_for_restore: bool
    restore_timeout_seconds: float
    restore_tier: str


@dataclasses.dataclass(frozen=True)
class Config:
    path: str
    global_: GlobalConfig
    schedule: ScheduleConfig
    snapshots: SnapshotsConfig
    subvolume_paths: tuple
    s3: S3Config
    restore: RestoreConfig

    def subvolume_names(self):
        return [os.path.basename(p) for p in self.subvolume_paths]

    def subvolume_path(self, name):
        for path in self.subvolume_paths:
            if os.path.basename(path) == name:
                return path
        return None


class _Section:
    """Typed access to one TOML table that records which keys were read."""

    def __init__(self, path, name, table):
        self.path = path
        self.name = name
        self.table = table
        self.seen = set()

    def fail(self, key, problem):
        raise ConfigError(f"config {self.path}: [{self.name}] {key}: {problem}")

    def _get(self, key):
        self.seen.add(key)
        if key not in self.table:
            self.fail(key, "missing (required)")
        return self.table[key]

    def string(self, key, allow_empty=False):
        value = self._get(key)
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {type(value).__name__}")
        if not allow_empty and not value.strip():
            self.fail(key, "must not be empty")
        return value

    def abs_path(self, key):
        value = self.string(key)
        if not os.path.isabs(value):
            self.fail(key, f"must be an absolute path, got {value!r}")
        return os.path.normpath(value)

    def integer(self, key, minimum=None, maximum=None):
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be an integer, got {value!r}")
        self._bounds(key, value, minimum, maximum)
        return value

    def number(self, key, minimum=None):
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"must be a number, got {value!r}")
        self._bounds(key, value, minimum, None)
        return value

    def boolean(self, key):
        value = self._get(key)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {value!r}")
        return value

    def choice(self, key, choices, fold_case=False):
        value = self.string(key)
        if fold_case:
            matches = [c for c in choices if c.lower() == value.lower()]
            if matches:
                return matches[0]
        elif value in choices:
            return value
        self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")

    def _bounds(self, key, value, minimum, maximum):
        if minimum is not None and value < minimum:
            self.fail(key, f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            self.fail(key, f"must be <= {maximum}, got {value}")

    def finish(self):
        unknown = sorted(set(self.table) - self.seen)
        if unknown:
            self.fail(unknown[0], "unknown key")


def _run_at(section):
    value = section.string("run_at")
    match = re.fullmatch(r"(\d{2}):(\d{2})", value)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        section.fail("run_at", f'must be "HH:MM" (00:00-23:59), got {value!r}')
    return (int(match.group(1)), int(match.group(2)))


def _paths(section):
    value = section._get("paths")
    if not isinstance(value, list) or not value:
        section.fail("paths", "must be a non-empty array of absolute paths")
    paths = []
    for item in value:
        if not isinstance(item, str) or not os.path.isabs(item):
            section.fail("paths", f"every entry must be an absolute path, got {item!r}")
        paths.append(os.path.normpath(item))
    names = [os.path.basename(p) for p in paths]
    for name in names:
        if names.count(name) > 1:
            section.fail("paths", f"two subvolumes share the name {name!r}")
        if not name or name in ("/", ".", ".."):
            section.fail("paths", "the filesystem root cannot be a subvolume entry")
    return tuple(paths)


SECTIONS = ("global", "schedule", "snapshots", "subvolumes", "s3", "restore")


def parse(data, path="<config>"):
    """Validate a parsed TOML document and return a Config."""
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"config {path}: unknown section [{unknown[0]}]")
    sections = {}
    for name in SECTIONS:
        table = data.get(name)
        if table is None:
            raise ConfigError(f"config {path}: section [{name}] is missing")
        if not isinstance(table, dict):
            raise ConfigError(f"config {path}: [{name}] must be a table")
        sections[name] = _Section(path, name, table)

    g = sections["global"]
    global_ = GlobalConfig(
        log_level=g.choice("log_level", LEVELS, fold_case=True),
        state_path=g.abs_path("state_path"),
        lock_path=g.abs_path("lock_path"),
        spool_dir=g.abs_path("spool_dir"),
        spool_size_bytes=g.integer("spool_size_bytes", minimum=1),
    )
    sc = sections["schedule"]
    schedule = ScheduleConfig(
        full_every_days=sc.number("full_every_days", minimum=0),
        incremental_every_days=sc.number("incremental_every_days", minimum=0),
        run_at=_run_at(sc),
    )
    sn = sections["snapshots"]
    snapshots = SnapshotsConfig(
        base_dir=sn.abs_path("base_dir"),
        retain=sn.integer("retain", minimum=1),
    )
    subvolume_paths = _paths(sections["subvolumes"])
    s = sections["s3"]
    s3 = S3Config(
        bucket=s.string("bucket"),
        region=s.string("region"),
        prefix=s.string("prefix", allow_empty=True),
        chunk_size_bytes=s.integer("chunk_size_bytes", minimum=1, maximum=MAX_OBJECT_BYTES),
        storage_class_chunks=s.choice("storage_class_chunks", STORAGE_CLASSES),
        storage_class_manifest=s.choice("storage_class_manifest", STORAGE_CLASSES),
        concurrency=s.integer("concurrency", minimum=1, maximum=64),
        spool_enabled=s.boolean("spool_enabled"),
        sse=s.choice("sse", ("AES256",)),
    )
    if s3.storage_class_manifest in ARCHIVE_CLASSES:
        s.fail("storage_class_manifest",
               f"{s3.storage_class_manifest} is an archive class; manifests must stay readable")
    if s3.spool_enabled and s3.chunk_size_bytes > global_.spool_size_bytes:
        s.fail("chunk_size_bytes",
               f"{s3.chunk_size_bytes} exceeds [global] spool_size_bytes "
               f"{global_.spool_size_bytes} while spool_enabled = true")
    r = sections["restore"]
    restore = RestoreConfig(
        target_base_dir=r.abs_path("target_base_dir"),
        verify_mode=r.choice("verify_mode", VERIFY_MODES),
        sample_max_files=r.integer("sample_max_files", minimum=1),
        wait_for_restore=r.boolean("wait_for_restore"),
        restore_timeout_seconds=r.number("restore_timeout_seconds", minimum=0),
        restore_tier=r.choice("restore_tier", RESTORE_TIERS, fold_case=True),
    )
    for section in sections.values():
        section.finish()
    return Config(path, global_, schedule, snapshots, subvolume_paths, s3, restore)


def load(path):
    if not os.path.isabs(path):
        raise ConfigError(f"config path must be absolute, got {path!r}")
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config {path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path}: invalid TOML: {exc}") from None
    return parse(data, path)
