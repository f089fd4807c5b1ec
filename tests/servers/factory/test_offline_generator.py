"""The offline generator: a hand-made ApiModel becomes a verified environment; generation is deterministic;
the real specs (when the importer is available) are admitted at least 13 times out of 15."""

from __future__ import annotations

import ast
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from servers.factory.generators.offline import GenerationError, generate_offline
from servers.factory.importers import import_source
from servers.runtime.policy import static_problems
from servers.runtime.runtime import EnvRuntime
from servers.verify.verifier import verify_env
from tests.fixtures.offline.petstore_api import petstore_api

SPECS = sorted(Path("/work/shared/specs/openapi").glob("*.yaml"))
MIN_VERIFIED = 13


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def petstore_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_offline(petstore_api(), tmp_path_factory.mktemp("offline"))


def test_hand_made_api_passes_all_six_checks(petstore_env: Path) -> None:
    report = verify_env(petstore_env, write_report=False)
    failures = {c.name: c.failures[:3] for c in report.checks if not c.passed}
    assert report.passed, failures
    assert len(report.checks) == 6


def test_generation_is_byte_identical(petstore_env: Path, tmp_path: Path) -> None:
    again = generate_offline(petstore_api(), tmp_path)
    assert _files(again) == _files(petstore_env)


def test_env_py_has_one_function_per_tool_and_passes_the_static_policy(petstore_env: Path) -> None:
    source = (petstore_env / "env.py").read_text(encoding="utf-8")
    assert static_problems(source) == []
    spec = json.loads((petstore_env / "env.json").read_text(encoding="utf-8"))
    assert spec["provenance"]["generator"] == "offline"
    assert spec["provenance"]["importer"] == "openapi3"
    functions = [n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    tools = [t["name"] for t in spec["tools"]]
    assert all(functions.count(name) == 1 for name in tools)
    assert not [f for f in functions if not f.startswith("_") and f not in tools]
    for name in ("small", "typical", "edge"):
        assert (petstore_env / "scenarios" / f"{name}.json").is_file()


def test_env_py_declares_its_records_as_models_and_imports_only_the_helpers_it_uses(petstore_env: Path) -> None:
    """Generic helpers come from registry.envkit (no private copies); records are Record models held by id."""
    tree = ast.parse((petstore_env / "env.py").read_text(encoding="utf-8"))
    imported = {a.asname or a.name: node.module for node in tree.body if isinstance(node, ast.ImportFrom)
                for a in node.names}
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    assert set(imported) <= used, set(imported) - used
    assert {"Record", "key", "paginate"} <= {n for n, m in imported.items() if m == "registry.envkit"}
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert not {"_key", "_page", "_same", "_apply", "_log", "_size", "_text"} & defined
    records = {n.name for n in tree.body if isinstance(n, ast.ClassDef)
               and any(isinstance(b, ast.Name) and b.id == "Record" for b in n.bases)}
    state = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "State")
    fields = {f.target.id: ast.unparse(f.annotation) for f in state.body if isinstance(f, ast.AnnAssign)
              and isinstance(f.target, ast.Name)}
    assert fields == {"pets": "dict[str, Pet]", "orders": "dict[str, Order]", "actions": "list[Action]"}
    assert records == {"Pet", "Order"}


def test_records_keep_the_api_field_names_in_state_and_outputs(petstore_env: Path) -> None:
    """Field `photoUrls` is `photo_urls` in Python, `photoUrls` in scenarios, outputs and the State schema."""
    runtime = EnvRuntime.load(petstore_env)
    episode = runtime.new_episode("e", "small")
    pet_id = next(iter(episode.state.model_dump(mode="json")["pets"]))
    out = runtime.call(episode, "get_pet_by_id", {"pet_id": int(pet_id)})
    assert not out.is_error and out.output is not None and "photoUrls" in out.output["pet"], out
    schema = json.loads((petstore_env / "env.json").read_text(encoding="utf-8"))["state_schema"]
    assert "photoUrls" in schema["$defs"]["Pet"]["properties"]


def test_unusable_api_raises_generation_error(tmp_path: Path) -> None:
    api = petstore_api()
    op = api.operations[0].model_copy(update={"tool": "def"})  # a Python keyword cannot name a function
    api = api.model_copy(update={"operations": [op]})
    with pytest.raises(GenerationError):
        generate_offline(api, tmp_path)


@pytest.fixture(scope="module")
def real_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if not SPECS:
        pytest.skip("the specs are not available")
    out = tmp_path_factory.mktemp("offline_real")
    outcome: dict[str, str] = {}
    paths: dict[str, Path] = {}
    for spec in SPECS:
        try:
            paths[spec.stem] = generate_offline(import_source(str(spec)), out)
        except Exception as exc:  # noqa: BLE001 - recorded per spec
            outcome[spec.stem] = f"generation failed: {exc}"
    with ThreadPoolExecutor(2) as pool:
        reports = dict(zip(paths, pool.map(lambda p: verify_env(p, write_report=False), paths.values()),
                           strict=True))
    for stem, report in reports.items():
        outcome[stem] = "verified" if report.passed else report.summary + ": " + "; ".join(
            f for c in report.checks if not c.passed for f in c.failures[:1])
    return outcome


def test_real_specs_generate_and_mostly_verify(real_reports: dict[str, str]) -> None:
    """One test over the shared 15-spec build (generating them twice on two workers would double its cost)."""
    not_generated = {s: w for s, w in real_reports.items() if w.startswith("generation failed")}
    assert not not_generated, not_generated
    verified = [s for s, why in real_reports.items() if why == "verified"]
    assert len(verified) >= MIN_VERIFIED, {s: w for s, w in real_reports.items() if w != "verified"}


def test_generation_is_identical_across_processes(tmp_path: Path) -> None:
    """Sets iterate in a per-process order (string hashing is salted): generated files must not depend on it."""
    import os
    import subprocess
    import sys

    spec = next((p for p in SPECS if p.stem == "billingo"), None)
    if spec is None:
        pytest.skip("needs ../shared/specs/openapi/billingo.yaml")
    script = ("import sys; from pathlib import Path; from servers.factory.importers import import_source; "
              "from servers.factory.generators.offline import generate_offline; "
              "generate_offline(import_source(sys.argv[1]), Path(sys.argv[2]))")
    outs = []
    for seed in ("0", "1", "3", "7"):  # 0 and 3 vs 1 and 7 ordered two of its sets differently before the fix
        out = tmp_path / seed
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", script, str(spec), str(out)], check=True, env=env, timeout=120)
        outs.append({p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert all(o == outs[0] for o in outs[1:])
