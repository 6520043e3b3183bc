"""Named switches read from one environment variable (the defect and the
quirk catalogues): `NAME=a,b` switches `a` and `b` on; an unknown name is a
usage error (exit 2), so a typo in a CI matrix never silently tests the
plain tool."""

import contextlib

from .errors import UsageError


class Switches:
    def __init__(self, env_var, kind, catalogue, all_name=None):
        self.env_var = env_var
        self.kind = kind
        self.catalogue = catalogue
        # A value that switches the whole catalogue on (None: there is none).
        self.all_name = all_name
        self._active = frozenset()

    def parse(self, value):
        """Parse a value of the variable into a frozenset of known names."""
        names = [part.strip() for part in (value or "").split(",")]
        names = [name for name in names if name]
        if self.all_name and self.all_name in names:
            names = [name for name in names if name != self.all_name] + list(self.catalogue)
        unknown = sorted(set(names) - set(self.catalogue))
        if unknown:
            known = sorted(self.catalogue)
            if self.all_name:
                known = [self.all_name] + known
            raise UsageError(
                f"unknown {self.kind} name(s) in {self.env_var}: {', '.join(unknown)} "
                f"(known: {', '.join(known)})"
            )
        return frozenset(names)

    def load_from_env(self, environ):
        self._active = self.parse(environ.get(self.env_var, ""))
        return self._active

    def active(self):
        return self._active

    def enabled(self, name):
        if name not in self.catalogue:
            raise KeyError(f"{self.kind} {name!r} is not in the catalogue")
        return name in self._active

    @contextlib.contextmanager
    def activated(self, *names):
        """Switch these on for a block (tests)."""
        previous = self._active
        self._active = self.parse(",".join(names))
        try:
            yield
        finally:
            self._active = previous
