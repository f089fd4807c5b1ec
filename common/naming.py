"""Naming helpers shared by the factory (resource and tool names) and the synthesizer (linking ids to entities).

They live in the registry, the bottom layer, because the synthesizer may import it and never `servers`.
"""

from __future__ import annotations

import functools
import re

IRREGULAR = {"people": "person", "children": "child", "statuses": "status", "addresses": "address",
             "aliases": "alias", "indices": "index", "data": "data", "media": "media", "series": "series",
             "news": "news", "settings": "setting", "analyses": "analysis"}


@functools.lru_cache(maxsize=16384)  # pure, and asked for the same names many times by the tool graph
def snake(text: str) -> str:
    """`petId` -> `pet_id`, `Bank-Accounts` -> `bank_accounts`, `$.xgafv` -> `xgafv`, `getURLs` -> `get_urls`."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"[^0-9a-zA-Z]+", "_", text).strip("_").lower()
    return re.sub(r"_+", "_", text)


@functools.lru_cache(maxsize=16384)
def singular(word: str) -> str:
    """A rough English singular of the last word of a snake_case noun; good enough for resource names."""
    head, _, last = word.rpartition("_")
    if last in IRREGULAR:
        last = IRREGULAR[last]
    elif last.endswith("ies") and len(last) > 4:
        last = last[:-3] + "y"
    elif last.endswith(("sses", "xes", "ches", "shes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith(("ss", "us", "is")) and len(last) > 3:
        last = last[:-1]
    return f"{head}_{last}" if head else last
