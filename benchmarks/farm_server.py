"""The farm for benchmarks/farm.py: every catalog environment plus benchmarks/envs/counter (the trivial tool).

    python benchmarks/farm_server.py PORT WORKERS
"""

from __future__ import annotations

import sys
from pathlib import Path

from registry.catalog import verified_envs
from registry.envdir import load_env_dir
from servers.farm.app import FarmSettings, serve_farm
from servers.farm.episodes import Limits

if __name__ == "__main__":
    envs = {e.name: e for e in verified_envs()}
    envs["counter"] = load_env_dir(Path(__file__).resolve().parent / "envs" / "counter")
    settings = FarmSettings(port=int(sys.argv[1]), workers=int(sys.argv[2]), limits=Limits(max_episodes=200_000))
    serve_farm(envs, settings)
