"""Verification: the six checks that decide whether an environment enters the catalog.

static (parent, AST only) -> contract, behaviour, robustness, determinism (child process under resource limits,
`servers.verify.worker`) and protocol (parent, the env's own server.py over stdio with the MCP SDK client), the
last two running concurrently. The report lands in `<env>/report.json`, keyed by the content hash of the files
that were verified, so the catalog can tell a current report from a stale one.
"""

from __future__ import annotations

import functools
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio

from common.procs import run_module
from registry.contract import sha256_text
from registry.envdir import ENV_FILES, EnvDir, EnvLoadError, load_env_dir
from registry.spec import CHECK_ORDER, Check, CheckName, CheckResult, CheckSuite, VerificationReport
from servers.runtime.policy import ALLOWED_MODULES, static_problems
from servers.verify import protocol
from servers.verify.common import PROTOCOL_REPLAY_CHECKS, result, short, skipped

__all__ = ["ALLOWED_MODULES", "WORKER_TIMEOUT", "averify_env", "static_problems", "verify_env"]

WORKER_TIMEOUT = 180.0
"""Wall-clock limit for the child running contract/behaviour/robustness/determinism (it also has CPU limits)."""
WORKER_CHECKS: tuple[CheckName, ...] = ("contract", "behaviour", "robustness", "determinism")


def verify_env(path: Path | str, *, write_report: bool = True) -> VerificationReport:
    """Verify the environment directory at `path`; writes `<path>/report.json` unless told not to."""
    return anyio.run(functools.partial(averify_env, path, write_report=write_report))


async def averify_env(path: Path | str, *, write_report: bool = True) -> VerificationReport:
    """Async form of verify_env, for callers already inside an event loop (the factory's revise loop)."""
    start = time.monotonic()
    root = Path(path).resolve()
    env_dir: EnvDir | None = None
    load_error: str | None = None
    try:
        env_dir = load_env_dir(root)
    except EnvLoadError as exc:
        load_error = str(exc)
    env_hash = env_dir.content_hash() if env_dir else _fallback_hash(root)

    static = _static_check(root)
    if not static.passed:
        rest = [skipped(name, "static check failed") for name in CHECK_ORDER if name != "static"]
        checks = [static, *rest]
    elif env_dir is None:
        reason = "environment files do not load"
        contract = result("contract", [load_error or "cannot load"], 0.0, "")
        checks = [static, contract, *(skipped(n, reason) for n in CHECK_ORDER if n not in ("static", "contract"))]
    else:
        checks = [static, *await _dynamic_checks(env_dir)]
    checks.sort(key=lambda c: CHECK_ORDER.index(c.name))

    spec = env_dir.spec if env_dir else None
    report = VerificationReport(
        env=spec.name if spec else root.name,
        version=spec.version if spec else _raw_field(root, "version", "0.0.0"),
        passed=all(c.passed for c in checks) and len(checks) == len(CHECK_ORDER),
        env_hash=env_hash,
        checks=checks,
        seconds=round(time.monotonic() - start, 3),
        generator=spec.provenance.generator if spec else "unknown",
        model=spec.provenance.model if spec else None,
        attempts=spec.provenance.attempts if spec else 0,
    )
    if write_report:
        write_report_file(root / "report.json", report)
    return report


def _without_timings(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "seconds": 0, "checks": [{**c, "seconds": 0} for c in data.get("checks", [])]}


def write_report_file(path: Path, report: VerificationReport) -> None:
    """Write report.json unless the one there says the same apart from timings (re-verifying leaves git clean)."""
    new = report.model_dump(mode="json")
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        if _without_timings(old) == _without_timings(new):
            return
    except (OSError, ValueError):
        pass
    path.write_text(json.dumps(new, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _static_check(root: Path) -> CheckResult:
    start = time.monotonic()
    code = root / "env.py"
    if not code.is_file():
        return result("static", ["env.py: file not found"], time.monotonic() - start, "")
    try:
        source = code.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return result("static", [f"env.py: cannot read: {exc}"], time.monotonic() - start, "")
    problems = static_problems(source, "env.py")
    lines = source.count("\n") + 1
    return result("static", problems, time.monotonic() - start,
                  f"env.py ({lines} lines) parses and follows the import/AST policy", {"lines": lines})


async def _dynamic_checks(env_dir: EnvDir) -> list[CheckResult]:
    """Run the worker and the protocol observation concurrently, then judge the protocol against the worker."""
    replay_checks = _first_checks(env_dir)
    worker_results: list[CheckResult] = []
    observation = protocol.ProtocolObservation()

    async def run_worker() -> None:
        worker_results.extend(await anyio.to_thread.run_sync(_run_worker, env_dir.path))

    async def run_protocol() -> None:
        nonlocal observation
        observation = await protocol.observe(env_dir, replay_checks)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_worker)
        tg.start_soon(run_protocol)

    by_name = {r.name: r for r in worker_results}
    contract = by_name.get("contract")
    behaviour = by_name.get("behaviour")
    if contract is not None and behaviour is not None and behaviour.summary.startswith("skipped: contract"):
        proto = skipped("protocol", "contract check failed (the environment does not load)")
    else:
        replays = behaviour.details.pop("replay", None) if behaviour is not None else None
        proto = protocol.compare(env_dir.spec.tools, observation, replays)
    return [*worker_results, proto]


def _first_checks(env_dir: EnvDir) -> list[Check]:
    try:
        return CheckSuite.model_validate(json.loads((env_dir.path / "checks.json").read_text(encoding="utf-8"))
                                         ).checks[:PROTOCOL_REPLAY_CHECKS]
    except Exception:  # contract reports the problem with checks.json; protocol then only compares tools/list
        return []


def _run_worker(path: Path) -> list[CheckResult]:
    """Run `python -m servers.verify.worker` and parse its JSON; any failure becomes failed checks with the cause."""
    start = time.monotonic()
    try:
        proc = run_module("servers.verify.worker", str(path), timeout=WORKER_TIMEOUT, cwd=path)
    except subprocess.TimeoutExpired as exc:
        tail = _tail(exc.stderr)
        return _worker_failed(f"verification worker timed out after {WORKER_TIMEOUT:g} s and was killed{tail}",
                              time.monotonic() - start)
    if proc.returncode != 0:
        why = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
        if proc.returncode in (-24, -9):
            why += " (CPU or memory limit)"
        return _worker_failed(f"verification worker crashed ({why}){_tail(proc.stderr)}", time.monotonic() - start)
    try:
        data = json.loads(proc.stdout)
        results = [CheckResult.model_validate(item) for item in data]
    except (ValueError, TypeError) as exc:
        return _worker_failed(f"verification worker printed no valid report ({exc}){_tail(proc.stderr)}",
                              time.monotonic() - start)
    names = [r.name for r in results]
    for missing in (n for n in WORKER_CHECKS if n not in names):
        results.append(skipped(missing, "the verification worker did not report it"))
    return results


def _worker_failed(message: str, seconds: float) -> list[CheckResult]:
    return [result(name, [message], seconds, "") for name in WORKER_CHECKS]


def _tail(stderr: Any, lines: int = 10) -> str:
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    tail = [ln for ln in (stderr or "").splitlines() if ln.strip()][-lines:]
    return (": " + " / ".join(short(ln, 240) for ln in tail)) if tail else ""


def _fallback_hash(root: Path) -> str:
    """Content hash when env.json does not load (no scenario list): the fixed files only."""
    parts = []
    for rel in ENV_FILES:
        p = root / rel
        try:
            text = p.read_text(encoding="utf-8") if p.exists() else ""
        except (OSError, UnicodeDecodeError):
            text = ""
        parts.append(f"{rel}\0{text}")
    return sha256_text("\0\0".join(parts))


def _raw_field(root: Path, key: str, default: str) -> str:
    try:
        value = json.loads((root / "env.json").read_text(encoding="utf-8")).get(key, default)
    except (OSError, ValueError, AttributeError):
        return default
    return value if isinstance(value, str) else default
