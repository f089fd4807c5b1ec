"""What environment code may import from the project: the error type, the State base and canonical hashing.

This module is the only project import allowed in `env.py` (see servers/runtime/policy.py). It has no I/O and no
dependency beyond pydantic, the standard library and the project's root exception (common/errors.py, a bare class),
so it is safe to load next to untrusted code.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from common.errors import EnvfactoryError


class ToolError(EnvfactoryError):
    """A domain error the agent should read and react to (unknown id, seat taken, insufficient stock...).

    The runtime turns it into an MCP result with ``isError: true`` and this message. Any other exception is a bug
    in the environment and reaches the client only as a generic message.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EnvState(BaseModel):
    """Base of every environment's State: the current time and the id counters live in the State, never outside.

    ``now`` is an ISO-8601 UTC timestamp ("2026-03-02T09:00:00Z"); tools that need time read it and tools that
    advance time write it. ``counters`` back `mint_id`, so ids are reproducible from the State alone.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    now: str = Field(default="2026-01-05T09:00:00Z", description="Current time (ISO-8601, UTC).")
    counters: dict[str, int] = Field(default_factory=dict, description="Next sequence number per id prefix.")

    def mint_id(self, prefix: str, width: int = 4) -> str:
        """Return the next id for ``prefix`` ("evt" -> "evt_0001") and advance its counter."""
        n = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = n
        return f"{prefix}_{n:0{width}d}"


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: equal data gives equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def state_hash(state: BaseModel | dict[str, Any]) -> str:
    data = state.model_dump(mode="json") if isinstance(state, BaseModel) else state
    return sha256_text(canonical_json(data))
