"""mcp.json export: how desktop agents (Claude, Cursor, VS Code) and the synthesizer launch catalog servers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

from registry.envdir import EnvDir

Client = Literal["claude", "cursor", "vscode", "generic"]


def server_entry(env: EnvDir, client: Client, http_base: str | None, python: str) -> dict[str, Any]:
    if http_base:
        url = http_base.rstrip("/").replace("{name}", env.name)
        if "{name}" not in http_base and not url.endswith("/mcp"):
            url = f"{url}/envs/{env.name}/mcp"
        if client == "vscode":
            return {"type": "http", "url": url}
        if client == "claude":
            return {"type": "http", "url": url}
        return {"url": url}
    entry: dict[str, Any] = {"command": python, "args": [str(env.path / "server.py")]}
    if client == "vscode":
        entry = {"type": "stdio", **entry}
    return entry


def mcp_config(envs: list[EnvDir], client: Client = "generic", http_base: str | None = None,
               python: str | None = None) -> dict[str, Any]:
    """The config document. VS Code reads `servers`; Claude, Cursor and most others read `mcpServers`.

    `http_base` is either a farm base URL (entries become `<base>/envs/<name>/mcp`) or a template with `{name}`.
    Stdio entries use absolute paths and this interpreter, so they work from any working directory.
    """
    python = python or str(Path(sys.executable).absolute())
    servers = {env.name: server_entry(env, client, http_base, python) for env in envs}
    return {"servers": servers} if client == "vscode" else {"mcpServers": servers}
