"""The CLI's catalog: `--registry DIR` / $ENVFACTORY_HOME / ./envs beside the built-ins, and build admits only there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from registry.envdir import BUILTIN_ROOT
from tests.conftest import NOTES
from tests.envfactory.test_cli_errors import assert_one_line_error
from tests.registry.test_registry import write_report

BUILT_INS = ["calendar", "shop", "travel"]


def envfactory(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("ENVFACTORY_HOME", "ENVFACTORY_ENVS")}
    return subprocess.run([sys.executable, "-m", "envfactory", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env={**base, **env}, stdin=subprocess.DEVNULL)


def listed(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    assert proc.returncode == 0, proc.stderr
    return {e["name"]: e["path"] for e in json.loads(proc.stdout)}


def verified_notes(root: Path) -> Path:
    shutil.copytree(NOTES, root / "notes")
    write_report(root / "notes", passed=True)
    return root / "notes"


def test_registry_flag_then_envfactory_home_then_dot_envs(tmp_path: Path) -> None:
    here, flagged, home = (verified_notes(tmp_path / d) for d in ("envs", "flagged", "home"))
    assert listed(envfactory("registry", "list", "--json", cwd=tmp_path)) == {
        "notes": str(here), **{n: str(BUILTIN_ROOT / n) for n in BUILT_INS}}
    from_home = envfactory("registry", "list", "--json", cwd=tmp_path, ENVFACTORY_HOME=str(home.parent))
    assert listed(from_home)["notes"] == str(home)
    from_flag = envfactory("registry", "list", "--json", "--registry", "flagged", cwd=tmp_path,
                           ENVFACTORY_HOME=str(home.parent))
    assert listed(from_flag)["notes"] == str(flagged)
    config = json.loads(envfactory("registry", "mcp-config", "--registry", str(flagged.parent), cwd=tmp_path).stdout)
    assert config["mcpServers"]["notes"]["args"] == [str(flagged / "server.py")]
    table = envfactory("registry", "list", cwd=tmp_path)
    assert "4 verified" in table.stdout and "workspace" in table.stdout and "built-in" in table.stdout


def test_a_workspace_environment_shadows_a_built_in_and_says_so(tmp_path: Path) -> None:
    shutil.copytree(BUILTIN_ROOT / "shop", tmp_path / "envs" / "shop", ignore=shutil.ignore_patterns("__pycache__"))
    proc = envfactory("registry", "list", "--json", cwd=tmp_path)
    assert listed(proc)["shop"] == str(tmp_path / "envs" / "shop")
    assert f"shadowed: {BUILTIN_ROOT / 'shop'} (by {tmp_path / 'envs' / 'shop'})" in proc.stderr
    shown = json.loads(envfactory("registry", "show", "shop", "--json", cwd=tmp_path).stdout)
    assert shown["entry"]["path"] == str(tmp_path / "envs" / "shop")


def test_pin_and_flag_together_are_refused(tmp_path: Path) -> None:
    proc = envfactory("registry", "list", "--registry", str(tmp_path), cwd=tmp_path, ENVFACTORY_ENVS=str(tmp_path))
    assert_one_line_error(proc, "--registry", "ENVFACTORY_ENVS")


def test_build_refuses_to_admit_into_the_built_ins(tmp_path: Path) -> None:
    spec = tmp_path / "petstore.yaml"
    shutil.copy(Path(__file__).parent / "fixtures" / "petstore.yaml", spec)
    proc = envfactory("build", str(spec), "--offline", "--registry", str(BUILTIN_ROOT), cwd=tmp_path)
    assert_one_line_error(proc, "built-in environments", "--registry")
    assert sorted(p.name for p in BUILTIN_ROOT.iterdir() if (p / "env.json").exists()) == BUILT_INS
    assert not (tmp_path / "build").exists()
