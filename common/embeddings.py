"""Text embeddings from any OpenAI-compatible `/embeddings` endpoint, to score tool-graph edges by meaning.

Off by default: the tool graph is built from names, types and descriptions alone. `envfactory graph --embeddings`
turns this on with `EmbeddingSettings.from_env()` (`ENVFACTORY_EMBED_{BASE_URL,API_KEY,MODEL}`, falling back to the
LLM endpoint's URL and key). Texts are sent in batches and cached by text, so a graph asks for each text once.
Every failure becomes one `EmbeddingError` line: embeddings are an optional refinement, never a reason for a traceback.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from common.errors import EnvfactoryError
from common.llm import OpenAIEndpoint, api_error_message, one_line

DEFAULT_EMBED_MODEL = "text-embedding-3-small"
ENV_PREFIX = "ENVFACTORY_EMBED_"
LLM_PREFIX = "ENVFACTORY_LLM_"


class EmbeddingError(EnvfactoryError):
    """The embedding endpoint could not be used; one line, so the CLI prints it as `error: ...` and exits 1."""


@runtime_checkable
class Embedder(Protocol):
    """What the graph needs: one vector per text, in order."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class EmbeddingSettings(BaseModel):
    """Where to embed. `from_env()` fills unset fields from the environment (flags win over it)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(DEFAULT_EMBED_MODEL, min_length=1, description="Embedding model name as the endpoint knows it.")
    base_url: str | None = Field(None, description="OpenAI-compatible base URL (http://host:8000/v1); None: OpenAI.")
    api_key: str | None = Field(None, repr=False, description="Sent as the bearer token; 'EMPTY' when unset (vLLM).")
    timeout: float = Field(60.0, gt=0, description="Seconds per request.")
    max_retries: int = Field(2, ge=0, description="The openai client's own retries (connection errors, 429, 5xx).")
    batch_size: int = Field(64, ge=1, le=2048, description="Texts per request.")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> EmbeddingSettings:
        """`ENVFACTORY_EMBED_MODEL`, `ENVFACTORY_EMBED_BASE_URL` (else `ENVFACTORY_LLM_BASE_URL`),
        `ENVFACTORY_EMBED_API_KEY` (else `ENVFACTORY_LLM_API_KEY`, else `OPENAI_API_KEY`)."""
        env = os.environ if environ is None else environ
        lookups = {
            "model": [ENV_PREFIX + "MODEL"],
            "base_url": [ENV_PREFIX + "BASE_URL", LLM_PREFIX + "BASE_URL"],
            "api_key": [ENV_PREFIX + "API_KEY", LLM_PREFIX + "API_KEY", "OPENAI_API_KEY"],
        }
        values: dict[str, Any] = {}
        for field, names in lookups.items():
            raw = next((env[n] for n in names if env.get(n)), None)
            if raw is not None:
                values[field] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)


class EmbeddingClient(OpenAIEndpoint):
    """Batched, cached embeddings from one endpoint. Opens no connection before the first `embed`."""

    def __init__(self, settings: EmbeddingSettings | None = None) -> None:
        self.settings = settings or EmbeddingSettings.from_env()
        self.requests = 0
        self._cache: dict[str, list[float]] = {}
        super().__init__()

    @property
    def retries_by_openai(self) -> int:  # type: ignore[override]
        return self.settings.max_retries

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; texts already seen are not sent again."""
        missing = sorted({t for t in texts if t not in self._cache})  # sorted: the same requests every run
        size = self.settings.batch_size
        for i in range(0, len(missing), size):
            batch = missing[i:i + size]
            for text, vector in zip(batch, await self._request(batch), strict=True):
                self._cache[text] = vector
        return [list(self._cache[t]) for t in texts]

    async def _request(self, batch: list[str]) -> list[list[float]]:
        import openai

        where = self.settings.base_url or "the OpenAI API"
        self.requests += 1
        try:
            response = await self._openai().embeddings.create(
                model=self.settings.model, input=[t or " " for t in batch], encoding_format="float")
        except openai.APITimeoutError:
            raise EmbeddingError(f"embedding endpoint {where} timed out after {self.settings.timeout:g} s") from None
        except openai.APIConnectionError as exc:
            raise EmbeddingError(f"cannot reach the embedding endpoint {where}: {one_line(exc.__cause__ or exc, 200)}"
                             ) from None
        except openai.APIStatusError as exc:
            raise EmbeddingError(f"embedding endpoint {where} answered HTTP {exc.status_code}: "
                             f"{one_line(api_error_message(exc), 200)}") from None
        except openai.OpenAIError as exc:
            raise EmbeddingError(f"embedding endpoint {where} failed: {one_line(exc, 200)}") from None
        return _vectors(response, len(batch), where)


def _vectors(response: Any, count: int, where: str) -> list[list[float]]:
    """The response's vectors in input order, checked: one per text, numbers only, one dimension."""
    data = sorted(getattr(response, "data", None) or [], key=lambda d: getattr(d, "index", 0))
    if len(data) != count:
        raise EmbeddingError(f"embedding endpoint {where} returned {len(data)} vectors for {count} texts")
    vectors: list[list[float]] = []
    for item in data:
        vec = getattr(item, "embedding", None)
        if not isinstance(vec, list) or not vec or not all(isinstance(v, int | float) for v in vec):
            raise EmbeddingError(f"embedding endpoint {where} returned a vector that is not a list of numbers")
        vectors.append([float(v) for v in vec])
    if len({len(v) for v in vectors}) > 1:
        raise EmbeddingError(f"embedding endpoint {where} returned vectors of different lengths")
    return vectors


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity; 0 for a zero vector (a text without words)."""
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    if not na or not nb:
        return 0.0
    return sum(x * y for x, y in zip(a, b, strict=False)) / (na * nb)
