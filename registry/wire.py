"""The `_meta` keys of envfactory's MCP wire, named once for the servers that read them and the clients that send them.

A `tools/call` request names its episode in `_meta` (`META_EPISODE`, created on first use from `META_SCENARIO` or
the default scenario); the result's `_meta` names the episode it ran in and the State hash after the call. The keys
are part of the contract between servers/ and synthesizer/, so they live in the registry, which both may import.
"""

from __future__ import annotations

META_EPISODE = "envfactory/episode"
META_SCENARIO = "envfactory/scenario"
META_STATE_HASH = "envfactory/state_hash"
