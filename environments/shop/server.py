"""Run this environment as a stand-alone MCP server: stdio by default, `--http PORT` for streamable HTTP.

Runs with any interpreter that has envfactory installed (`envfactory registry mcp-config` writes that interpreter).
"""

from servers.runtime.mcp_server import main_for

if __name__ == "__main__":
    main_for(__file__)
