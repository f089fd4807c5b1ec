"""The environment name of an imported source: what every importer calls a source it did not get a name for."""

from __future__ import annotations

import re
import shlex
import urllib.parse
from pathlib import Path

__all__ = ["env_name"]

_GENERIC_STEMS = frozenset({"openapi", "swagger", "api", "apis", "spec", "specs", "schema", "index", "main",
                            "server", "app", "env", "service", "definition", "__main__", "mcp", "run", "v1", "v2",
                            "v3"})


def _env_slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if slug and not slug[0].isalpha():
        slug = "api_" + slug
    return slug[:64].rstrip("_")


def env_name(source: str, title: str) -> str:
    """A valid environment name: the file stem (`google-calendar.yaml` -> `google_calendar`); for generic stems
    (`openapi.yaml`, `server.py`) the parent directory; else the title; else `api`."""
    candidates: list[str] = []
    path: str | None = None
    if source.startswith("mcp+stdio:"):
        try:
            argv = shlex.split(source[len("mcp+stdio:"):])
        except ValueError:
            argv = []
        path = next((a for a in reversed(argv) if re.search(r"\.(py|js|mjs|ts)$", a)), None)
        if path is None and argv:
            path = argv[-1] if not argv[-1].startswith("-") else argv[0]
    elif re.match(r"^(mcp\+)?https?://", source):
        candidates.append(title)
        host = urllib.parse.urlparse(source.removeprefix("mcp+")).hostname or ""
        candidates.append(host.split(".")[0] if not re.match(r"^[\d.]+$|^localhost$", host) else "")
    else:
        path = source
    if path is not None:
        p = Path(path)
        candidates.append("" if p.stem.lower() in _GENERIC_STEMS else p.stem)
        parent = p.parent.name
        if parent and parent.lower() not in _GENERIC_STEMS and not re.match(r"^v?\d", parent):
            candidates.append(parent)
        candidates.append(title)
    for c in candidates:
        slug = _env_slug(c or "")
        if slug:
            return slug
    return "api"
