"""The `server.py` every environment directory carries: a few lines that run it through the shared runtime.

Written by every generator (and copied verbatim by the hand-written environments), so the file is identical
everywhere and belongs to the format, not to any test fixture.
"""

from __future__ import annotations

from pathlib import Path

SERVER_PY = '''"""Run this environment as a stand-alone MCP server: stdio by default, `--http PORT` for streamable HTTP.

Runs with any interpreter that has envfactory installed (`envfactory registry mcp-config` writes that interpreter).
"""

from servers.runtime.mcp_server import main_for

if __name__ == "__main__":
    main_for(__file__)
'''


def write_server_py(env_dir: Path) -> Path:
    path = env_dir / "server.py"
    path.write_text(SERVER_PY, encoding="utf-8")
    return path
