"""The root of every exception the project defines, so `except EnvfactoryError` tells our errors from everyone else's.

Each package derives its own classes from it, directly or through a domain base (`LLMError`, `EnvLoadError`,
`FarmError`, `SynthError`, ...); tests/common/test_errors.py fails on a class that does not. It lives in `common`,
the bottom layer, so every package may import it, `registry.contract` (the one project module env.py may import)
included: this module imports nothing and does nothing but define the class.
"""

from __future__ import annotations


class EnvfactoryError(Exception):
    """Base of every exception class defined in common, registry, servers, synthesizer and envfactory."""
