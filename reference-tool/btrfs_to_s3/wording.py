"""Error texts: the default wording, or the error-wording quirk's.

The harness must judge outcomes, not words; the quirk words every error a
harness could key on differently (no "integrity", "sha256", "credential",
"held by"). `say()` keeps both texts side by side at the place of the error.
"""

from . import quirks


def say(default, reworded, tag=None):
    """`default`, or `reworded` under the error-wording quirk (logging `tag`)."""
    if not quirks.enabled("error-wording"):
        return default
    if tag:
        quirks.path("error-wording", tag)
    return reworded
