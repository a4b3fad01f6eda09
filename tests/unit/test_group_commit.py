"""bot.group_commit.GroupCommit (issue 19): requests that arrive while a group is written go
together as the next group; each hears its own result only after its group's work returned,
and when the work fails, every request of that group hears the failure (none acknowledged)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.group_commit import GroupCommit


class Ledger:
    """A stand-in store: the work writes whole groups, or fails on a poisoned item."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.release = threading.Event()

    def write(self, items: Sequence[int]) -> list[str]:
        self.release.wait(5)
        if -1 in items:
            raise RuntimeError("the transaction failed")
        self.groups.append(list(items))
        return [f"stored {item}" for item in items]


async def submitted(groups: GroupCommit, *items: int) -> list[asyncio.Task]:
    """Submit `items` and give the loop time to start (or queue) their group."""
    tasks = [asyncio.create_task(groups.submit(item)) for item in items]
    await asyncio.sleep(0.05)
    return tasks


async def test_requests_arriving_during_a_write_go_together_and_hear_their_own_results():
    ledger = Ledger()
    with ThreadPoolExecutor(2) as pool:
        groups = GroupCommit(ledger.write, pool)
        [first] = await submitted(groups, 0)  # the first group (of one) is being written
        rest = await submitted(groups, *range(1, 6))
        assert not any(task.done() for task in [first, *rest])  # nothing before its commit
        ledger.release.set()
        answers = await asyncio.gather(first, *rest)
    assert answers == [f"stored {n}" for n in range(6)]
    assert ledger.groups == [[0], [1, 2, 3, 4, 5]]
    assert (groups.groups, groups.items) == (2, 6)


async def test_a_failed_group_acknowledges_none_of_its_requests_and_the_next_group_proceeds():
    ledger = Ledger()
    with ThreadPoolExecutor(2) as pool:
        groups = GroupCommit(ledger.write, pool)
        [blocker] = await submitted(groups, 100)
        doomed = await submitted(groups, 1, -1, 2)
        ledger.release.set()
        assert await blocker == "stored 100"
        for task in doomed:
            with pytest.raises(RuntimeError, match="the transaction failed"):
                await task
        assert await groups.submit(3) == "stored 3"
    assert ledger.groups == [[100], [3]]


async def test_a_caller_that_goes_away_does_not_stop_its_group_from_being_written():
    ledger = Ledger()
    with ThreadPoolExecutor(2) as pool:
        groups = GroupCommit(ledger.write, pool)
        [leaving] = await submitted(groups, 7)
        leaving.cancel()
        ledger.release.set()
        assert await groups.submit(8) == "stored 8"
    assert ledger.groups == [[7], [8]]


async def test_a_group_holds_at_most_max_items_but_always_one_request():
    ledger = Ledger()
    with ThreadPoolExecutor(2) as pool:
        groups = GroupCommit(ledger.write, pool, max_items=10, size=lambda item: item)
        [first] = await submitted(groups, 1)
        rest = await submitted(groups, 4, 5, 20, 3)
        ledger.release.set()
        await asyncio.gather(first, *rest)
    assert ledger.groups == [[1], [4, 5], [20], [3]]
