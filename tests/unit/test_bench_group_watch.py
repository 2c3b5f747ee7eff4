"""The consumer bench starts its clock only once the group is stable: every member owns a share
and together they own every partition once, as their logs tell it."""

from __future__ import annotations

import json
from pathlib import Path

from payhooks_devtools.bench.consumer import GroupWatch


def line(event: str, *partitions: str) -> str:
    return json.dumps({"partitions": list(partitions), "event": event, "level": "info"}) + "\n"


def test_a_group_where_the_first_member_owns_everything_is_not_stable(tmp_path: Path) -> None:
    # Given two members, the first owning all four partitions, the second nothing yet
    first, second = tmp_path / "0.log", tmp_path / "1.log"
    first.write_text(line("consumer.partitions_assigned", "t[0]", "t[1]", "r[0]", "r[1]"))
    second.write_text(json.dumps({"event": "consumer.started"}) + "\n")
    watch = GroupWatch.of([first, second], wanted=4)
    # When the logs are read
    watch.refresh()
    # Then every partition is owned, but the group is not stable
    assert not watch.stable()


def test_the_group_is_stable_once_each_member_owns_its_share(tmp_path: Path) -> None:
    # Given the first member owning everything
    first, second = tmp_path / "0.log", tmp_path / "1.log"
    first.write_text(line("consumer.partitions_assigned", "t[0]", "t[1]", "r[0]", "r[1]"))
    second.write_text("")
    watch = GroupWatch.of([first, second], wanted=4)
    watch.refresh()
    # When it gives up half (eager: all, then its new share) and the second member takes it,
    # the second member's line arriving in two pieces
    with first.open("a") as log:
        log.write(line("consumer.partitions_revoked", "t[0]", "t[1]", "r[0]", "r[1]"))
        log.write(line("consumer.partitions_assigned", "t[0]", "r[0]"))
    assigned = line("consumer.partitions_assigned", "t[1]", "r[1]")
    with second.open("a") as log:
        log.write(assigned[:20])
    watch.refresh()
    assert not watch.stable()
    with second.open("a") as log:
        log.write(assigned[20:])
    watch.refresh()
    # Then the group is stable
    assert watch.stable()
    assert [len(member.owned) for member in watch.members] == [2, 2]


def test_a_partition_owned_twice_is_not_stable(tmp_path: Path) -> None:
    # Given a revoke not logged yet: both members list t[0]
    first, second = tmp_path / "0.log", tmp_path / "1.log"
    first.write_text(line("consumer.partitions_assigned", "t[0]", "t[1]"))
    second.write_text(line("consumer.partitions_assigned", "t[0]"))
    watch = GroupWatch.of([first, second], wanted=2)
    watch.refresh()
    assert not watch.stable()
