"""Run this environment as a stand-alone MCP server: stdio by default, `--http PORT` for streamable HTTP."""

import sys
from pathlib import Path

try:
    from servers.mcp_server import main_for
except ModuleNotFoundError:  # a checkout that is not installed: the project root is three levels up
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from servers.mcp_server import main_for

if __name__ == "__main__":
    main_for(__file__)
