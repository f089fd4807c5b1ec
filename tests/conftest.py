"""Shared fixtures: the notes fixture environment and real server subprocesses on loopback.

The whole run gets an empty workspace registry ($ENVFACTORY_HOME) and no $ENVFACTORY_ENVS pin, so the catalog is the
three built-in environments whatever the developer's ./envs or shell holds, and no test admits into the checkout.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
NOTES = FIXTURES / "envs" / "notes"
_HOME = pytest.StashKey[tuple[str, str | None, str | None]]()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_log() -> IO[bytes]:
    """Where a server subprocess writes its stderr: a file, never a pipe nobody drains (a full pipe blocks the server
    mid-test once it has logged 64 KB)."""
    return tempfile.TemporaryFile()  # noqa: SIM115 - closed with the process owner


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0,
                  log: IO[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if log is not None:
                log.seek(0)
            source = log if log is not None else proc.stderr
            stderr = source.read().decode(errors="replace") if source else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {stderr}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port} after {timeout} s")


class HttpServer:
    def __init__(self, argv: list[str]):
        self.port = free_port()
        self.log = server_log()
        self.proc = subprocess.Popen([*argv, "--http", str(self.port)], stdout=subprocess.DEVNULL, stderr=self.log)
        wait_for_port(self.port, self.proc, log=self.log)
        self.url = f"http://127.0.0.1:{self.port}/mcp"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def notes_dir(tmp_path: Path) -> Path:
    """A private copy of the notes fixture, safe to modify."""
    dst = tmp_path / "notes"
    shutil.copytree(NOTES, dst)
    return dst


@pytest.fixture
def notes_http() -> Iterator[HttpServer]:
    server = HttpServer([sys.executable, str(NOTES / "server.py")])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def notes_url() -> Iterator[str]:
    """The notes fixture over streamable HTTP, shared by a module's tests (episodes keep them apart)."""
    server = HttpServer([sys.executable, str(NOTES / "server.py")])
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def pytest_configure(config: pytest.Config) -> None:
    """Before collection (test modules read the catalog at import): a private empty workspace, no pin."""
    home = tempfile.mkdtemp(prefix="envfactory-home-")
    config.stash[_HOME] = (home, os.environ.pop("ENVFACTORY_ENVS", None), os.environ.get("ENVFACTORY_HOME"))
    os.environ["ENVFACTORY_HOME"] = home


def pytest_unconfigure(config: pytest.Config) -> None:
    if _HOME not in config.stash:
        return
    home, pinned, previous = config.stash[_HOME]
    shutil.rmtree(home, ignore_errors=True)
    for name, value in (("ENVFACTORY_ENVS", pinned), ("ENVFACTORY_HOME", previous)):
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every `async def` test on asyncio through the anyio plugin (the MCP SDK is anyio-based)."""
    import inspect

    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.function):
            item.add_marker(pytest.mark.anyio)
