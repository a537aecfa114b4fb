"""Splitting one targets.yaml over several instances: ``--shard K/N``.

Rendezvous (highest-random-weight) hashing on the target name: every instance
computes the same owner for a target without talking to the others, shares are
balanced, and going from N to N+1 instances moves only the targets the new
instance wins -- about 1/(N+1) of them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

SHARD_RE = re.compile(r"^\s*(\d{1,4})\s*/\s*(\d{1,4})\s*$")
T = TypeVar("T")


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` with 1 <= K <= N -> (K, N)."""
    m = SHARD_RE.match(text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"expected K/N with 1 <= K <= N, like 2/3, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def owner(name: str, shards: int) -> int:
    """The shard (1..shards) that owns target ``name``."""

    def weight(k: int) -> bytes:
        return hashlib.blake2b(f"{k}\0{name}".encode(), digest_size=8).digest()

    return max(range(1, shards + 1), key=weight)


def select(
    items: Iterable[T], shard: tuple[int, int], name_of: Callable[[Any], str] = lambda t: t.name
) -> list[T]:
    """The items (targets, by default keyed by ``.name``) that shard K of N owns."""
    k, n = shard
    return [item for item in items if owner(name_of(item), n) == k]
