"""What a config reload changes: the targets added, removed and changed (pure)."""

from __future__ import annotations

from typing import NamedTuple

from monitor.config import Config, Target


class TargetChanges(NamedTuple):
    removed: list[str]  # names, in the old config's order
    changed: list[Target]  # the new definitions, in the new config's order
    added: list[Target]


def diff_targets(old: Config, new: Config) -> TargetChanges:
    before = {t.name: t for t in old.targets}
    after = {t.name for t in new.targets}
    return TargetChanges(
        [name for name in before if name not in after],
        [t for t in new.targets if t.name in before and before[t.name] != t],
        [t for t in new.targets if t.name not in before],
    )
