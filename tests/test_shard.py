"""Sharding by rendezvous hashing: stable, balanced, minimal movement."""

from __future__ import annotations

import pytest

from monitor import config as config_mod
from monitor.shard import owned_targets, owner, parse_shard
from tests.support import availmon

NAMES = [f"switch-{i}" for i in range(6000)]


def test_every_target_has_exactly_one_owner_and_shares_are_balanced():
    shares = [[n for n in NAMES if owner(n, 3) == k] for k in (1, 2, 3)]
    assert sorted(n for share in shares for n in share) == sorted(NAMES)
    for share in shares:
        assert abs(len(share) - 2000) < 150  # within ~7% of an even split


def test_adding_an_instance_moves_about_one_in_n_plus_one():
    moved = sum(owner(n, 3) != owner(n, 4) for n in NAMES)
    assert 0.2 < moved / len(NAMES) < 0.3  # about 1/4
    # ...and every moved target moved to the new instance.
    assert all(owner(n, 4) == 4 for n in NAMES if owner(n, 3) != owner(n, 4))


def test_owner_is_stable():
    assert [owner(n, 5) for n in NAMES[:50]] == [owner(n, 5) for n in NAMES[:50]]


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0", "", "1/3/5", "-1/2"])
def test_bad_shard_specs(text):
    with pytest.raises(ValueError, match="expected K/N"):
        parse_shard(text)


@pytest.mark.slow
def test_check_lists_what_a_shard_owns(tmp_path):
    config = tmp_path / "targets.yaml"
    config.write_text(
        "targets:\n"
        + "".join(f"  - {{name: t{i}, type: tcp, host: 127.0.0.1, port: 9}}\n" for i in range(30))
    )
    owned = []
    for k in (1, 2):
        result = availmon("check", "-c", str(config), "--shard", f"{k}/2", timeout=30)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert f"shard {k}/2" in lines[0]
        owned.append(set(lines[1:]))
    assert owned[0] | owned[1] == {f"t{i}" for i in range(30)} and not owned[0] & owned[1]
    bad = availmon("check", "-c", str(config), "--shard", "3/2", timeout=30)
    assert bad.returncode == 2 and bad.stderr.startswith("availmon: error: --shard:")


def test_dependency_trees_stay_together_and_witnesses_go_everywhere():
    doc = {
        "monitor": {"witnesses": ["gw"]},
        "targets": [
            {"name": "gw", "type": "icmp", "host": "127.0.0.1"},
            *({"name": f"core{i}", "type": "icmp", "host": "127.0.0.1"} for i in range(6)),
            *(
                {
                    "name": f"edge{i}-{j}",
                    "type": "icmp",
                    "host": "127.0.0.1",
                    "depends_on": [f"core{i}"],
                }
                for i in range(6)
                for j in range(4)
            ),
            {"name": "leaf", "type": "icmp", "host": "127.0.0.1", "depends_on": ["edge0-0"]},
        ],
    }
    config = config_mod.parse(doc, "t.yaml", {})
    shards = [owned_targets(config, (k, 3)) for k in (1, 2, 3)]
    names = [{t.name for t in s} for s in shards]
    assert all("gw" in n for n in names)
    assert sorted(x for n in names for x in n if x != "gw") == sorted(
        t.name for t in config.targets if t.name != "gw"
    )  # every other target exactly once
    for n in names:
        for i in range(6):
            family = {f"core{i}", *(f"edge{i}-{j}" for j in range(4))}
            assert family <= n or not (family & n)
    assert ("leaf" in names[0]) == ("core0" in names[0])
