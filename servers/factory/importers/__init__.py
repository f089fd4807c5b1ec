"""Importers: turn what a user points `envfactory build` at into an `ApiModel`.

`import_source` picks the importer from the source itself, so the CLI needs no format flag:
an OpenAPI 3.x / Swagger 2.0 file, an EnvSpec document (JSON or YAML with `tools[].input_schema`), a live MCP
server (`mcp+stdio:<command line>` or an `http(s)://` streamable-HTTP URL). Every failure the user can fix is an
`ImportFailure` with a one-line message.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..apimodel import ApiModel
from .common import ImportFailure, load_document
from .envspec import import_envspec, is_envspec
from .mcp import import_mcp
from .names import env_name
from .openapi import import_openapi

__all__ = ["ImportFailure", "env_name", "import_source"]


def import_source(source: str, *, name: str | None = None) -> ApiModel:
    """Import `source` (a file path, `mcp+stdio:<cmd>` or an MCP URL); `name` overrides the environment name."""
    source = str(source).strip()
    if name is not None and not re.match(r"^[a-z][a-z0-9_]{0,63}$", name):
        raise ImportFailure(f"invalid environment name {name!r}: use ^[a-z][a-z0-9_]{{0,63}}$")
    if source.startswith("mcp+stdio:") or re.match(r"^(mcp\+)?https?://", source):
        return import_mcp(source, name=name)
    path = Path(source).expanduser()
    if path.suffix.lower() not in (".yaml", ".yml", ".json") and not path.exists():
        raise ImportFailure(f"{source}: no such file (expected a .yaml/.yml/.json API description, "
                            "mcp+stdio:<command> or an http(s):// MCP URL)")
    try:
        doc, sha = load_document(path)
    except ImportFailure:
        if path.suffix.lower() in (".yaml", ".yml", ".json"):
            raise
        raise ImportFailure(f"{source}: not an API description (not JSON or YAML)") from None
    if not isinstance(doc, dict):
        raise ImportFailure(f"{source}: not an API description (the document is a {type(doc).__name__}, "
                            "not a mapping)")
    raw_info = doc.get("info")
    info = raw_info if isinstance(raw_info, dict) else {}
    title = str(info.get("title") or doc.get("title") or doc.get("name") or "")
    env = name or env_name(str(path), title)
    if "openapi" in doc or "swagger" in doc:
        version = str(doc.get("openapi") or doc.get("swagger"))
        if not (version.startswith("3.") or version.startswith("2.")):
            raise ImportFailure(f"{source}: unsupported OpenAPI/Swagger version {version!r} (need 2.0 or 3.x)")
        return import_openapi(doc, source=str(path), sha256=sha, name=env)
    if is_envspec(doc):
        own = doc.get("name")
        if name is None and isinstance(own, str) and re.match(r"^[a-z][a-z0-9_]{0,63}$", own):
            env = own
        return import_envspec(doc, source=str(path), sha256=sha, name=env)
    if "tools" in doc:
        raise ImportFailure(f"{source}: has 'tools' but not an EnvSpec (every tool needs an input_schema)")
    raise ImportFailure(f"{source}: not an API description (no 'openapi', 'swagger' or 'tools' key)")
