"""The wheel is the product: built from the tree, installed into a fresh venv, run from a directory outside the
checkout. It ships the three built-in environments and the contract, serves them, and `build` admits into ./envs of
the working directory, never into the installed package. Dependencies come from the package index (pip's cache makes
a repeat run fast)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, server_log, wait_for_port

BUILT_INS = ["calendar", "shop", "travel"]
PACKAGES = {"common", "environments", "envfactory", "registry", "servers", "synthesizer"}
PETSTORE = Path(__file__).parent / "fixtures" / "petstore.yaml"
# what a clean clone has: never the venv, git, caches, or what builds and runs write into a working directory
SKIP_TOP = {".git", ".venv", "build", "dist", "envs", "runs"}
SKIP_ANY = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache", ".ruff_cache", ".mypy_cache")


def ignore(directory: str, names: list[str]) -> set[str]:
    skipped = set(SKIP_ANY(directory, names))
    return skipped | (SKIP_TOP & set(names) if Path(directory) == ROOT else set())


def run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{argv}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    return proc


def clean_env(venv: Path) -> dict[str, str]:
    """The user's environment with nothing that points into the checkout or at another catalog."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ENVFACTORY_") and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not Path(p).resolve().is_relative_to(ROOT)]
    return {**env, "PATH": os.pathsep.join([str(venv / "bin"), *path])}


def build_wheel(tmp: Path) -> Path:
    """`pip wheel` of a copy of the tree (a build never writes build/ or *.egg-info into the checkout)."""
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=ignore)
    run(sys.executable, "-m", "pip", "wheel", src, "--no-deps", "-w", tmp / "dist", "-q",
        "--disable-pip-version-check", cwd=tmp)
    (found,) = (tmp / "dist").glob("envfactory-*.whl")
    return found


def fresh_venv(path: Path, wheel: Path) -> Path:
    """A venv of the base interpreter with only the wheel and its dependencies (this venv's pip installs them)."""
    run(sys.executable, "-m", "venv", "--without-pip", path, cwd=path.parent)
    run(sys.executable, "-m", "pip", "--python", path / "bin" / "python", "install", "-q", "--no-compile",
        "--disable-pip-version-check", wheel, cwd=path.parent)
    return path


def check_contents(wheel: Path) -> None:
    """The built-ins with every file verification looked at, the contract, and nothing but the six packages."""
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    tops = {n.split("/")[0] for n in names}
    assert tops - {n for n in tops if n.endswith(".dist-info")} == PACKAGES
    assert "registry/environment-contract.md" in names
    assert sorted({n.split("/")[1] for n in names if n.count("/") > 1 and n.startswith("environments/")}) == BUILT_INS
    for env in BUILT_INS:
        scenarios = json.loads((ROOT / "environments" / env / "env.json").read_text())["scenarios"]
        wanted = ["env.py", "server.py", "env.json", "checks.json", "report.json",
                  *(f"scenarios/{s}.json" for s in scenarios)]
        missing = [f for f in wanted if f"environments/{env}/{f}" not in names]
        assert not missing, f"{env}: {missing}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


@pytest.mark.timeout(900)
def test_installed_wheel_lists_serves_and_builds_into_the_working_directory(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    check_contents(wheel)
    venv = fresh_venv(tmp_path / "venv", wheel)
    env = clean_env(venv)
    work = tmp_path / "work"
    work.mkdir()
    envfactory = venv / "bin" / "envfactory"

    # nothing of the checkout is importable: every project package and every sys.path entry is the venv's
    probe = ("import json, sys, common, environments, envfactory, registry, servers, synthesizer\n"
             "mods = [common, environments, envfactory, registry, servers, synthesizer]\n"
             "print(json.dumps({'files': [m.__file__ for m in mods], 'path': sys.path}))")
    seen = json.loads(run(venv / "bin" / "python", "-c", probe, cwd=work, env=env).stdout)
    assert all(Path(f).is_relative_to(venv) for f in seen["files"]), seen["files"]
    assert not [p for p in seen["path"] if p and Path(p).resolve().is_relative_to(ROOT)], seen["path"]
    site = Path(seen["files"][1]).parents[1]
    assert not [p for p in site.glob("*.pth") if str(ROOT) in p.read_text()]
    assert not [p for p in site.glob("envfactory-*.dist-info/direct_url.json") if str(ROOT) in p.read_text()]

    table = run(envfactory, "registry", "list", cwd=work, env=env).stdout
    assert "3 verified" in table and all(name in table for name in BUILT_INS)
    listed = json.loads(run(envfactory, "registry", "list", "--json", cwd=work, env=env).stdout)
    assert [e["name"] for e in listed] == BUILT_INS
    assert all(Path(e["path"]).parent == site / "environments" for e in listed)

    port = free_port()
    log = server_log()
    farm = subprocess.Popen([envfactory, "farm", "--port", str(port), "--workers", "1"], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
    try:
        wait_for_port(port, farm, timeout=120, log=log)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/envs", timeout=30) as resp:
            served = json.load(resp)
        assert sorted(e["name"] for e in served) == BUILT_INS
    finally:
        farm.terminate()
        try:
            farm.wait(10)
        except subprocess.TimeoutExpired:
            farm.kill()
        log.close()

    shutil.copy(PETSTORE, work / "petstore.yaml")
    built = run(envfactory, "build", "petstore.yaml", "--offline", cwd=work, env=env)
    assert "admitted" in built.stdout and "1 of 1" in built.stdout
    assert (work / "envs" / "petstore" / "env.json").is_file() and (work / "build" / "petstore").is_dir()
    listed = json.loads(run(envfactory, "registry", "list", "--json", cwd=work, env=env).stdout)
    assert [e["name"] for e in listed] == ["calendar", "petstore", "shop", "travel"]
    assert next(e for e in listed if e["name"] == "petstore")["path"] == str(work / "envs" / "petstore")
    assert sorted(p.name for p in (site / "environments").iterdir() if p.is_dir() and p.name != "__pycache__") == (
        BUILT_INS), "nothing was admitted into the installed package"
