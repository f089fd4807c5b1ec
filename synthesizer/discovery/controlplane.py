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

from synthesizer.discovery.sources import CALL_TIMEOUT_S, CONNECT_TIMEOUT_S, describe_failure, farm_base
from synthesizer.errors import SynthError

DIFF_VALUE_CHARS = 60


class ControlPlane:
    """`base`: the farm URL (`http://host:port`). `http`: a shared client (not closed here; it may carry the bearer
    header already); when omitted one is created and closed by `aclose()`. `token`: sent as a bearer token."""

    def __init__(self, base: str, *, token: str | None = None, http: httpx2.AsyncClient | None = None,
                 timeout: float = CALL_TIMEOUT_S):
        self.base = farm_base(base)
        self._owns_http = http is None
        self._http = http if http is not None else httpx2.AsyncClient(
            timeout=httpx2.Timeout(timeout, connect=CONNECT_TIMEOUT_S))
        self._headers = {"accept": "application/json"}
        if token:
            self._headers["authorization"] = f"Bearer {token}"

    async def __aenter__(self) -> ControlPlane:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

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
    try:
        doc = resp.json()
    except ValueError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        return doc["error"]
    text = resp.text.strip()
    return text.splitlines()[0][:200] if text else resp.reason_phrase


# --- State diff ------------------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= DIFF_VALUE_CHARS else text[: DIFF_VALUE_CHARS - 1] + "…"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _diff(expected: Any, actual: Any, path: str, out: list[str]) -> None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual), key=str):
            where = _join(path, str(key))
            if key not in actual:
                out.append(f"{where}: removed")
            elif key not in expected:
                out.append(f"{where}: added")
            else:
                _diff(expected[key], actual[key], where, out)
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (a, b) in enumerate(zip(expected, actual, strict=True)):
            _diff(a, b, f"{path}[{i}]", out)
    elif isinstance(expected, list) and isinstance(actual, list):
        out.append(f"{path or '(root)'}: {len(expected)} items -> {len(actual)} items")
    elif expected != actual or type(expected) is not type(actual):
        out.append(f"{path or '(root)'}: {_show(expected)} -> {_show(actual)}")


def state_diff(expected: Any, actual: Any, limit: int = 20) -> list[str]:
    """Readable differences, e.g. `orders.ord_0003.status: "paid" -> "cancelled"`, `carts.cart_0002: added`
    (in `actual` only), `events.evt_0001: removed`; at most `limit` lines, then `... N more`."""
    out: list[str] = []
    _diff(expected, actual, "", out)
    if len(out) > limit:
        return [*out[:limit], f"... {len(out) - limit} more"]
    return out
