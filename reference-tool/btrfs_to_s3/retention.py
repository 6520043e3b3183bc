"""Which local snapshots to keep: the newest `retain`, plus the next parent."""

from . import naming


def snapshots_of(names, subvolume):
    """Names of `subvolume`'s snapshots, newest first."""
    found = []
    for name in names:
        parsed = naming.parse_snapshot_name(name)
        if parsed and parsed[0] == subvolume:
            found.append((parsed[1], name))
    found.sort(reverse=True)
    return [name for _, name in found]


def choose_keep(names, subvolume, retain, protect=()):
    newest = snapshots_of(names, subvolume)[:retain]
    return set(newest) | {name for name in protect if name}


def choose_deletions(names, subvolume, keep):
    """Snapshots of `subvolume` not in `keep`, oldest first."""
    return [name for name in reversed(snapshots_of(names, subvolume)) if name not in keep]
