"""The two consoles every verb prints to: results on stdout, progress and notes on stderr."""

from __future__ import annotations

from rich.console import Console

out = Console()
err = Console(stderr=True, soft_wrap=True)
