"""The local state file: last run and, per subvolume, the last backup."""

import json
import os

from .errors import ToolError


def empty():
    return {"last_run_at": None, "subvolumes": {}}


class StateUnreadable(ToolError):
    pass


def load(path):
    """Read the state; a missing file is an empty state."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return empty()
    except (OSError, ValueError) as exc:
        raise StateUnreadable(f"state file {path} is unreadable: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("subvolumes", {}), dict):
        raise StateUnreadable(f"state file {path} has an unexpected shape")
    data.setdefault("last_run_at", None)
    data.setdefault("subvolumes", {})
    return data


def entry(state, subvolume):
    value = state["subvolumes"].get(subvolume)
    return value if isinstance(value, dict) else None


def record_backup(state, subvolume, *, kind, created_at, manifest_key, snapshot_path, run_at):
    previous = entry(state, subvolume) or {}
    state["last_run_at"] = run_at
    state["subvolumes"][subvolume] = {
        "last_full_at": created_at if kind == "full" else previous.get("last_full_at"),
        "last_manifest": manifest_key,
        "last_snapshot": snapshot_path,
    }


def save(path, state):
    """Write atomically and durably: temp file, fsync, rename, fsync dir."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
