"""Async client of the farm's control plane (plain HTTP under /api, never MCP tools) and a readable State diff.

The reward reads each episode's final State and hash here; the synthesizer uses it for scratch episodes and for the
initial State of a scenario. The farm chooses episode ids (`POST /api/episodes` takes no id); an MCP request that
names a new episode in `_meta` `envfactory/episode` on `/envs/<env>/mcp` creates one with the caller's id instead.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx2

from common import jsondiff
from synthesizer.discovery.fastclient import SharedHttp, response_detail
from synthesizer.discovery.sources import CALL_TIMEOUT_S, CONNECT_TIMEOUT_S, describe_failure, farm_base
from synthesizer.errors import SynthError

DIFF_VALUE_CHARS = 60
DIFF_WORDS = {"missing": "{at}: removed", "added": "{at}: added",
              "length": "{at}: {expected_len} items -> {actual_len} items", "value": "{at}: {expected} -> {actual}"}
"""How `state_diff` words each kind of difference (see common.jsondiff.describe)."""


class ControlPlane(SharedHttp):
    """`base`: the farm URL (`http://host:port`). `http`: a shared client (not closed here; it may carry the bearer
    header already); when omitted one is created and closed by `aclose()`. `token`: sent as a bearer token."""

    def __init__(self, base: str, *, token: str | None = None, http: httpx2.AsyncClient | None = None,
                 timeout: float = CALL_TIMEOUT_S):
        self.base = farm_base(base)
        super().__init__(http, lambda: httpx2.AsyncClient(timeout=httpx2.Timeout(timeout, connect=CONNECT_TIMEOUT_S)))
        self._headers = {"accept": "application/json"}
        if token:
            self._headers["authorization"] = f"Bearer {token}"

    async def create_episode(self, env: str, scenario: str | None = None, state: dict[str, Any] | None = None,
                             seed: int | None = None) -> dict[str, Any]:
        """A new episode; the farm's EpisodeInfo (`id`, `mcp_url`, `state_hash`, `scenario`, ...)."""
        body: dict[str, Any] = {"env": env}
        for key, value in (("scenario", scenario), ("state", state), ("seed", seed)):
            if value is not None:
                body[key] = value
        info = await self._request("POST", "/api/episodes", body, expect=201)
        if not isinstance(info, dict) or not isinstance(info.get("id"), str):
            raise SynthError(f"farm at {self.base}: POST /api/episodes answered no episode id")
        return info

    async def state(self, episode_id: str) -> tuple[dict[str, Any], str]:
        """The episode's current State and its hash."""
        doc = await self._request("GET", f"/api/episodes/{quote(episode_id, safe='')}/state")
        if not isinstance(doc, dict) or not isinstance(doc.get("state"), dict) or not isinstance(
                doc.get("state_hash"), str):
            raise SynthError(f"farm at {self.base}: GET /api/episodes/{episode_id}/state answered no state/state_hash")
        return doc["state"], doc["state_hash"]

    async def delete(self, episode_id: str) -> None:
        await self._request("DELETE", f"/api/episodes/{quote(episode_id, safe='')}")

    async def scenario_state(self, env: str, scenario: str | None) -> dict[str, Any]:
        """The initial State of `scenario` (via a temporary episode, deleted again)."""
        info = await self.create_episode(env, scenario)
        try:
            state, _ = await self.state(info["id"])
        finally:
            await self.delete(info["id"])
        return state

    async def envs(self) -> list[dict[str, Any]]:
        doc = await self._request("GET", "/api/envs")
        if not isinstance(doc, list):
            raise SynthError(f"farm at {self.base}: GET /api/envs did not answer a list")
        return doc

    async def _request(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        url = self.base + path
        try:
            resp = await self._http.request(method, url, headers=self._headers, json=body)
        except httpx2.HTTPError as exc:
            raise SynthError(f"farm control plane: {method} {url}: {describe_failure(exc)}") from None
        if resp.status_code != expect:
            raise SynthError(f"farm control plane: {method} {url}: HTTP {resp.status_code}: {_error_text(resp)}")
        try:
            return resp.json()
        except ValueError:
            raise SynthError(f"farm control plane: {method} {url}: the answer is not JSON") from None


def _error_text(resp: httpx2.Response) -> str:
    """The farm's `{"error": ...}` message, else what the answer's body or status says."""
    try:
        doc = resp.json()
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return doc["error"]
    return response_detail(resp)


# --- State diff ------------------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= DIFF_VALUE_CHARS else text[: DIFF_VALUE_CHARS - 1] + "…"


def state_diff(expected: Any, actual: Any, limit: int = 20) -> list[str]:
    """Readable differences, e.g. `orders.ord_0003.status: "paid" -> "cancelled"`, `carts.cart_0002: added`
    (in `actual` only), `events.evt_0001: removed`; at most `limit` lines, then `... N more`."""
    out = [jsondiff.describe(d, DIFF_WORDS, _show, brackets=True)
           for d in jsondiff.differences(expected, actual, sort_keys=True)]
    if len(out) > limit:
        return [*out[:limit], f"... {len(out) - limit} more"]
    return out
