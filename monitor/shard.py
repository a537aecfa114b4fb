"""Splitting one targets.yaml over several instances: ``--shard K/N``.

Rendezvous (highest-random-weight) hashing on the target name: every instance
computes the same owner for a target without talking to the others, shares are
balanced, and going from N to N+1 instances moves only the targets the new
instance wins -- about 1/(N+1) of them.  A target goes where the root of its
``depends_on`` tree goes, so a parent and the targets behind it are judged by the
same instance; the monitor's witnesses are probed by every instance, since each
instance's isolation is its own.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.config import Config, Target

SHARD_RE = re.compile(r"^\s*(\d{1,4})\s*/\s*(\d{1,4})\s*$")


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


def owned_targets(config: Config, shard: tuple[int, int]) -> tuple[Target, ...]:
    """The targets that shard K of N probes: those whose dependency root it owns, and
    every witness."""
    parents = {t.name: t.depends_on for t in config.targets}

    @cache
    def root(name: str) -> str:
        # The config refuses cycles; with several parents the smallest root name wins,
        # so every instance picks the same one.
        return min((root(p) for p in parents.get(name, ()) if p in parents), default=name)

    k, n = shard
    witnesses = set(config.witnesses)
    return tuple(t for t in config.targets if t.name in witnesses or owner(root(t.name), n) == k)
