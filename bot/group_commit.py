"""Group commit: requests that arrive together share one transaction.

`GroupCommit(work, executor)` is handed requests one at a time (`await submit(request)`) and
runs `work(list_of_requests) -> list_of_answers` in the executor: while one group is being
written, the requests that arrive queue up and then go together as the next group. There is
no timer: a request that finds nothing in flight starts a group of one at once (no added
latency when idle), and under load each group holds what arrived during the last commit.

Every answer is given after `work` returned, that is after its transaction committed; when
`work` raises, every request of the group hears that exception and none is acknowledged.
A group holds at most `max_items` requests' worth of `size(request)` (but always at least
one request), so one group's transaction stays short. Up to `concurrency` groups are written
at once (each in a transaction of its own: on PostgreSQL one group's commit, waiting for the
disk, overlaps the next group's statements; SQLite has one writer anyway, so 1 there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self,
        work: Callable[[Sequence[Item]], list[Result]],
        executor: Executor,
        *,
        max_items: int = 2_000,
        size: Callable[[Item], int] = lambda _item: 1,
        concurrency: int = 1,
    ) -> None:
        self.work = work
        self.executor = executor
        self.max_items = max_items
        self.size = size
        self.concurrency = concurrency
        self.pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self.running = 0
        self.tasks: set[asyncio.Task[None]] = set()  # referenced while they run
        self.groups = 0  # groups written so far (for tests and the benchmark)
        self.items = 0

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        # A caller that went away never reads its failure: mark it read (no "never retrieved").
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        self.pending.append((item, future))
        if self.running < self.concurrency:
            self.running += 1
            task = asyncio.get_running_loop().create_task(self._drain())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        # The group is written even when this caller goes away (a client that hangs up):
        # the future is shielded, so its cancellation never reaches the group.
        return await asyncio.shield(future)

    def _next_group(self) -> list[tuple[Item, asyncio.Future[Result]]]:
        taken, total = 0, 0
        for item, _future in self.pending:
            total += self.size(item)
            if taken and total > self.max_items:
                break
            taken += 1
        group, self.pending = self.pending[:taken], self.pending[taken:]
        return group

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.pending:
                group = self._next_group()
                items = [item for item, _future in group]
                try:
                    results = await loop.run_in_executor(self.executor, self.work, items)
                except Exception as problem:  # nothing of the group is acknowledged
                    for _item, future in group:
                        if not future.done():
                            future.set_exception(problem)
                    continue
                self.groups += 1
                self.items += len(items)
                for (_item, future), result in zip(group, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self.running -= 1
