"""Follow parent_manifest links from a manifest back to its full backup."""

from . import naming, wording
from .errors import ToolError

MAX_CHAIN = 10000


class ChainError(ToolError):
    pass


def resolve(start_key, load):
    """Return [(key, manifest), ...] oldest (the full) first.

    `load(key)` returns the validated manifest. A loop, a parent that is
    not older, or a chain without a full is an error.
    """
    chain = []
    seen = set()
    key = start_key
    while True:
        if key in seen:
            raise ChainError(wording.say(f"manifest chain loops at {key} (from {start_key})",
                                         f"{key} comes back in the parents of {start_key}"))
        if len(chain) >= MAX_CHAIN:
            raise ChainError(wording.say(f"manifest chain from {start_key} is longer than {MAX_CHAIN}",
                                         f"more than {MAX_CHAIN} parents behind {start_key}"))
        seen.add(key)
        document = load(key)
        if chain:
            child_key, child = chain[-1]
            if str(document.get("created_at")) >= str(child.get("created_at")):
                raise ChainError(wording.say(
                    f"parent {key} (created {document.get('created_at')}) is not older than "
                    f"{child_key} (created {child.get('created_at')})",
                    f"{child_key} ({child.get('created_at')}) names a parent that is not older: "
                    f"{key} ({document.get('created_at')})"))
        chain.append((key, document))
        if document["kind"] == naming.FULL:
            break
        key = document["parent_manifest"]
    chain.reverse()
    return chain
