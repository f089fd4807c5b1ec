"""Runs an environment's server.py as `__main__` under the sandbox's resource limits.

The protocol check must exercise the real server.py over a real transport, but that file loads untrusted env.py,
so it is started through this launcher (`python -m servers.verify.launch <server.py> [args]`) instead of bare.
"""

from __future__ import annotations

import runpy
import sys

from servers.runtime.sandbox import apply_limits


def main() -> None:
    if len(sys.argv) < 2:
        print("usage: python -m servers.verify.launch <server.py> [args...]", file=sys.stderr)
        sys.exit(2)
    apply_limits()
    script = sys.argv[1]
    sys.argv = sys.argv[1:]  # server.py sees the argv it would have had when run directly
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
