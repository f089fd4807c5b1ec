"""Prometheus metrics for the farm, on a private CollectorRegistry (one per app; nothing at module level)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from servers.farm.episodes import EpisodeManager

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNKNOWN_TOOL = "_unknown"


class _FarmCollector(Collector):
    """Scrape-time values: live episodes per environment, journal rebuilds, and the backend's stats()."""

    def __init__(self, manager: EpisodeManager, envs: list[str]):
        self.manager = manager
        self.envs = envs
        self.backend_stats: Mapping[str, Any] = {}

    def collect(self) -> Iterator[Metric]:
        live = GaugeMetricFamily("envfactory_episodes_live", "Episodes currently held, per environment",
                                 labels=["env"])
        counts = dict.fromkeys(self.envs, 0)
        for record in list(self.manager.episodes.values()):
            counts[record.env] = counts.get(record.env, 0) + 1
        for env, n in sorted(counts.items()):
            live.add_metric([env], n)
        yield live
        yield CounterMetricFamily("envfactory_episode_rebuilds", "Episodes rebuilt by replaying their journal",
                                  value=self.manager.rebuilds)
        restarts = _number(self.backend_stats.get("restarts", self.backend_stats.get("worker_restarts")))
        if restarts is not None:
            yield CounterMetricFamily("envfactory_worker_restarts", "Worker processes restarted by the backend",
                                      value=restarts)
        workers = self.backend_stats.get("workers")
        if isinstance(workers, list):  # ProcessBackend: one dict per worker slot
            alive = GaugeMetricFamily("envfactory_workers", "Worker processes of the backend", value=len(workers))
            yield alive
            restarts_by = CounterMetricFamily("envfactory_worker_slot_restarts", "Restarts per worker slot",
                                              labels=["slot"])
            in_flight = GaugeMetricFamily("envfactory_worker_in_flight", "Requests queued or running per worker slot",
                                          labels=["slot"])
            for i, worker in enumerate(workers):
                if not isinstance(worker, Mapping):
                    continue
                slot = str(worker.get("slot", i))
                if (restarted := _number(worker.get("restarts"))) is not None:
                    restarts_by.add_metric([slot], restarted)
                if (queued := _number(worker.get("in_flight"))) is not None:
                    in_flight.add_metric([slot], queued)
            yield restarts_by
            yield in_flight
        elif (count := _number(workers)) is not None:
            yield GaugeMetricFamily("envfactory_workers", "Worker processes of the backend", value=count)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


async def backend_stats(backend: Any) -> dict[str, Any]:
    """`backend.stats()` as a dict when the backend offers it (sync or async, dict or pydantic model), else {}."""
    stats = getattr(backend, "stats", None)
    if not callable(stats):
        return {}
    value = stats()
    if inspect.isawaitable(value):
        value = await value
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    return dict(value) if isinstance(value, Mapping) else {}


class FarmMetrics:
    """Tool calls and errors per environment and tool, call latency per environment, episodes, worker restarts."""

    def __init__(self, manager: EpisodeManager, tools: Mapping[str, set[str]]):
        self.tools = {env: set(names) for env, names in tools.items()}
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter("envfactory_tool_calls", "MCP tool calls served", ["env", "tool"],
                             registry=self.registry)
        self.errors = Counter("envfactory_tool_errors", "MCP tool calls that returned isError", ["env", "tool"],
                              registry=self.registry)
        self.latency = Histogram("envfactory_tool_call_seconds", "Tool call latency as the farm measures it",
                                 ["env"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.collector = _FarmCollector(manager, sorted(self.tools))
        self.registry.register(self.collector)
        self.manager = manager

    def observe(self, env: str, tool: str, seconds: float, is_error: bool) -> None:
        # only spec'd tool names become label values: clients must not be able to grow the series without bound
        label = tool if tool in self.tools.get(env, ()) else UNKNOWN_TOOL
        self.calls.labels(env, label).inc()
        if is_error:
            self.errors.labels(env, label).inc()
        self.latency.labels(env).observe(seconds)

    async def render(self) -> bytes:
        self.collector.backend_stats = await backend_stats(self.manager.backend)
        return generate_latest(self.registry)
