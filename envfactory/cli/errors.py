"""The CLI's one error printer: an expected failure becomes one `error: ...` line on stderr and exit code 1.

Expected failures are the project's own errors (every `EnvfactoryError`: a bad environment directory, an unreachable
server, a failed model call, a verb's own `fail`), operating-system errors (a missing file, a port in use) and invalid
settings. Anything else is a bug and keeps its traceback. Every verb is wrapped by `one_line_errors` where it is
defined, so it prints the same way whether `envfactory` or a test's own typer app runs it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import typer
from pydantic import ValidationError

from common.errors import EnvfactoryError

P = ParamSpec("P")
R = TypeVar("R")

EXPECTED: tuple[type[Exception], ...] = (EnvfactoryError, OSError, ValidationError)


class CLIError(EnvfactoryError):
    """A verb's own expected failure (conflicting flags, an empty catalog)."""


def fail(message: str) -> NoReturn:
    raise CLIError(message)


def message(exc: Exception) -> str:
    """The one line that describes an expected failure."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        text = f"invalid {exc.title} setting {'.'.join(map(str, first['loc']))}: {first['msg']}"
    elif isinstance(exc, OSError):
        text = f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
    else:
        text = str(exc)
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def one_line_errors(verb: Callable[P, R]) -> Callable[P, R]:
    """Wrap a verb so its expected failures print as one line and exit 1 (typer reads the wrapped signature)."""

    @functools.wraps(verb)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return verb(*args, **kwargs)
        except EXPECTED as exc:
            print(f"error: {message(exc)}", file=sys.stderr)
            raise typer.Exit(1) from None

    return run
