"""`envfactory build` end to end: real specs in, verified environments admitted, checkpoints, resume, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from registry.catalog import verified_envs
from registry.envdir import load_env_dir
from servers.factory.build import sha256_file
from tests.conftest import NOTES, ROOT, free_port
from tests.fixtures.scripted_llm import ScriptedLLMServer
from tests.servers.factory.test_model_generator import BUGGY, GOOD, STORE, code, data
from tests.servers.factory.test_model_generator import KEEP as KEEP_REPLY

SPECS = ROOT.parent / "shared" / "specs" / "openapi"
if not SPECS.is_dir():
    pytest.skip("needs ../shared/specs/openapi", allow_module_level=True)
PETSTORE, KEEP, EBAY = (str(SPECS / f) for f in ("swagger-petstore.yaml", "google-keep.yaml",
                                                   "ebay-sell-logistics.yaml"))


def envfactory(*args: str, registry: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENVFACTORY_ENVS": str(registry)}
    return subprocess.run([sys.executable, "-m", "envfactory", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "registry"
    path.mkdir()
    return path


def test_build_admits_verified_envs_and_rebuild_is_a_no_op(tmp_path: Path, registry: Path) -> None:
    out = tmp_path / "build"
    first = envfactory("build", PETSTORE, EBAY, "--offline", "--out", str(out), registry=registry)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "2 of 2 environments in the registry" in first.stdout and first.stdout.count("admitted") == 2
    admitted = {e.name: e for e in verified_envs(registry)}
    assert set(admitted) == {"swagger_petstore", "ebay_sell_logistics"}
    prov = admitted["swagger_petstore"].spec.provenance
    assert prov.source_sha256 == sha256_file(Path(PETSTORE)) and prov.importer == "openapi3"
    assert prov.generator == "offline"
    checkpoint = json.loads((out / "swagger_petstore" / "checkpoint.json").read_text())
    assert all(checkpoint["stages"][s]["done"] for s in ("import", "generate", "verify", "admit"))

    again = envfactory("build", PETSTORE, "--offline", "--out", str(out), registry=registry)
    assert again.returncode == 0 and "unchanged" in again.stdout
    forced = envfactory("build", PETSTORE, "--offline", "--force", "--out", str(out), registry=registry)
    assert forced.returncode == 0 and "admitted" in forced.stdout
    assert load_env_dir(registry / "swagger_petstore").is_verified()

    # the skeleton's synthesizer runs on the result unchanged (default source: the catalog, over stdio)
    syn = envfactory("synthesize", "--n", "4", "--seed", "1", "--out", str(tmp_path / "run"), registry=registry)
    assert syn.returncode == 0, syn.stderr
    records = [json.loads(x) for x in (tmp_path / "run" / "trajectories.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all(r["checks"]["verified"] for r in records)
    assert {e["name"] for r in records for e in r["envs"]} <= {"swagger_petstore", "ebay_sell_logistics"}


def test_bad_inputs_fail_alone_with_one_clear_line(tmp_path: Path, registry: Path) -> None:
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("openapi: 3.0.0\ninfo: [unclosed\n")
    empty = tmp_path / "empty.yaml"
    empty.write_text("openapi: 3.0.0\ninfo: {title: Empty, version: '1'}\npaths: {}\n")
    missing = tmp_path / "nope.yaml"
    proc = envfactory("build", str(missing), str(bad_yaml), str(empty), KEEP, "--offline",
                      "--out", str(tmp_path / "b"), registry=registry)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3, proc.stderr
    assert any(str(missing) in ln and "not found" in ln for ln in lines)
    assert any("broken.yaml" in ln and "line" in ln for ln in lines)
    assert any("empty.yaml" in ln and "operations" in ln for ln in lines)
    assert "1 of 4 environments in the registry" in proc.stdout
    assert [e.name for e in verified_envs(registry)] == ["google_keep"], "good inputs still build"


def test_resume_after_sigkill_does_not_repeat_finished_stages(tmp_path: Path, registry: Path) -> None:
    out = tmp_path / "build"
    env = {**os.environ, "ENVFACTORY_ENVS": str(registry)}
    proc = subprocess.Popen([sys.executable, "-m", "envfactory", "build", PETSTORE, KEEP, "--offline", "--jobs", "1",
                             "--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    cp_path = out / "google_keep" / "checkpoint.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill once the second env is generated but not yet verified
        if cp_path.exists():
            stages = json.loads(cp_path.read_text())["stages"]
            if stages.get("generate", {}).get("done") and not stages.get("verify", {}).get("done"):
                os.killpg(proc.pid, signal.SIGKILL)
                break
        if proc.poll() is not None:
            pytest.fail("the build finished before it could be killed mid-way")
        time.sleep(0.01)
    proc.wait(10)
    generated = out / "google_keep" / "env" / "google_keep" / "env.py"
    mtime = generated.stat().st_mtime_ns
    assert not (registry / "google_keep").exists(), "nothing unverified reached the registry"

    resumed = envfactory("build", PETSTORE, KEEP, "--offline", "--resume", "--out", str(out), registry=registry)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "2 of 2 environments in the registry" in resumed.stdout
    assert generated.stat().st_mtime_ns == mtime, "generation was not repeated"
    stages = json.loads(cp_path.read_text())["stages"]
    assert stages["verify"]["done"] and stages["admit"]["done"]
    assert {e.name for e in verified_envs(registry)} == {"swagger_petstore", "google_keep"}


def model_build(source: Path, server_url: str, registry: Path, out: Path, *extra: str,
                timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENVFACTORY_ENVS": str(registry), "ENVFACTORY_LLM_BASE_URL": server_url,
           "ENVFACTORY_LLM_API_KEY": "test-key", "ENVFACTORY_LLM_MAX_RETRIES": "1", "ENVFACTORY_LLM_TIMEOUT": "20"}
    return subprocess.run([sys.executable, "-m", "envfactory", "build", str(source), "--model", "scripted-model",
                           "--max-attempts", "2", "--out", str(out), *extra], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def test_model_build_revises_and_admits_the_fixed_code(tmp_path: Path, registry: Path) -> None:
    """Through `envfactory build --model`, against an OpenAI-compatible server playing scripted replies."""
    with ScriptedLLMServer([code(BUGGY), data(), code(GOOD), KEEP_REPLY]) as llm:
        proc = model_build(NOTES / "env.json", llm.base_url, registry, tmp_path / "b")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert any("create_then_read" in p for p in llm.prompts()), "the failure was fed back"
    row = next(line for line in proc.stdout.splitlines() if "notes" in line and "admitted" in line)
    assert int(row.split("│")[-2]) > 0, "token usage is reported"
    admitted = load_env_dir(registry / "notes")
    assert admitted.is_verified() and STORE in admitted.code_path.read_text()
    assert admitted.spec.provenance.generator == "model" and admitted.spec.provenance.model == "scripted-model"
    assert admitted.spec.provenance.attempts == 2


def test_hostile_model_code_never_takes_the_build_down(tmp_path: Path, registry: Path) -> None:
    """Code that passes the static policy but exhausts memory at import fails its attempts in child processes."""
    bomb = GOOD.replace("class Note(BaseModel):", "_BALLAST = 'x' * (64 * 1024**3)\n\n\nclass Note(BaseModel):")
    with ScriptedLLMServer([code(bomb), data(), code(bomb), data()]) as llm:
        proc = model_build(NOTES / "env.json", llm.base_url, registry, tmp_path / "b")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "notes" in proc.stderr and "no attempt passed" in proc.stderr
    assert "0 of 1 environments in the registry" in proc.stdout and not (registry / "notes").exists()


def test_unreachable_model_is_one_clear_line(tmp_path: Path, registry: Path) -> None:
    proc = model_build(NOTES / "env.json", f"http://127.0.0.1:{free_port()}/v1", registry, tmp_path / "b")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "model unavailable" in lines[0], proc.stderr


def test_a_description_becomes_a_verified_environment_with_a_model(tmp_path: Path, registry: Path) -> None:
    spec = json.loads((NOTES / "env.json").read_text())
    design = {"name": "notes", "title": "Notes", "domain": "productivity", "description": spec["description"],
              "tools": spec["tools"]}
    bad_design = {**design, "tools": [{**spec["tools"][0], "name": "list notes!"}, *spec["tools"][1:]]}
    script = [json.dumps(bad_design), json.dumps(design), code(GOOD), data()]
    with ScriptedLLMServer(script) as llm:
        proc = model_build(Path("describe:A small notes store: create, read, list and delete text notes."),
                           llm.base_url, registry, tmp_path / "b")
        prompts = llm.prompts()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any("list notes!" in p and "name" in p for p in prompts[1:2]), "the rejected design went back once"
    admitted = load_env_dir(registry / "notes")
    assert admitted.is_verified() and admitted.spec.provenance.importer == "description"
    offline = envfactory("build", "describe:A small notes store with notes.", "--offline",
                         "--out", str(tmp_path / "c"), registry=registry)
    assert offline.returncode == 1 and "needs a model" in offline.stderr
