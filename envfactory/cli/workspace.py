"""`--registry DIR`: the workspace registry of one verb (where `build` admits, what the catalog lists beside the
built-ins). It is `ENVFACTORY_HOME=DIR` for that verb and for the processes it starts, so the library's catalog
look-ups (registry/envdir.py) and any `envfactory` child see the same catalog."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from envfactory.cli.errors import fail

RegistryOption = Annotated[Path | None, typer.Option(
    "--registry", show_default=False,
    help="Workspace registry: where build admits, listed beside the built-ins [default: $ENVFACTORY_HOME or ./envs].")]


@contextmanager
def workspace(registry: Path | None) -> Iterator[None]:
    """Make `registry` the workspace for the duration of a verb (nothing changes when it is None)."""
    if registry is None:
        yield
        return
    if os.environ.get("ENVFACTORY_ENVS"):
        fail("--registry and $ENVFACTORY_ENVS both choose the catalog: unset ENVFACTORY_ENVS or drop --registry")
    previous = os.environ.get("ENVFACTORY_HOME")
    os.environ["ENVFACTORY_HOME"] = str(registry.resolve())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("ENVFACTORY_HOME", None)
        else:
            os.environ["ENVFACTORY_HOME"] = previous
