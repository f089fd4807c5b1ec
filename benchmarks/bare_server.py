"""The baseline for benchmarks/farm.py: a bare SDK `MCPServer` with one trivial tool over streamable HTTP.

    python benchmarks/bare_server.py PORT
"""

from __future__ import annotations

import sys

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import BaseModel


class Counter(BaseModel):
    value: int


def main() -> None:
    server = MCPServer("bare", log_level="WARNING")
    counters: dict[str, int] = {}

    @server.tool()
    async def incr(ctx: Context, by: int = 1) -> Counter:
        """Increment this episode's counter."""
        episode = (ctx.request_context.meta or {}).get("envfactory/episode", "default")
        counters[episode] = counters.get(episode, 0) + by
        return Counter(value=counters[episode])

    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]), json_response=True)


if __name__ == "__main__":
    main()
