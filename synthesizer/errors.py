"""The one exception type the synthesizer raises for problems a user can fix (bad sources, unreachable servers)."""

from __future__ import annotations

from common.errors import EnvfactoryError


class SynthError(EnvfactoryError):
    """A one-line, user-facing failure: the CLI prints `error: <message>` and exits with code 1."""
