"""Dynamic micro-batching: requests that arrive together share one forward pass.

One worker per model takes the first waiting request, then gathers more until `max_batch_size` items or
`max_wait_ms` have passed, and runs them as one batch on a single inference thread (two forwards at once
only fight over the same cores). Each caller gets back exactly its own rows, in order. If a shared batch
fails, each request in it is rerun alone, so one bad request cannot fail the others.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Callable, Optional, Sequence

_STOP = object()


class MicroBatcher:
    def __init__(self, run: Callable[[list], list], executor: Executor, max_batch_size: int = 32,
                 max_wait_ms: float = 5.0, enabled: bool = True, on_batch: Optional[Callable[[int], None]] = None):
        self.run, self.executor = run, executor
        self.max_batch_size, self.max_wait = max_batch_size, max_wait_ms / 1000
        self.enabled, self.on_batch = enabled, on_batch
        self.queue: asyncio.Queue = asyncio.Queue()
        self.task: Optional[asyncio.Task] = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        """Finish everything queued, then end the worker."""
        if self.task is not None:
            await self.queue.put(_STOP)
            await self.task

    async def submit(self, items: Sequence) -> list:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((list(items), future))
        return await future

    async def _work(self) -> None:
        while True:
            first = await self.queue.get()
            if first is _STOP:
                return
            group, stop = await self._gather(first)
            await self._run(group)
            if stop:
                return

    async def _gather(self, first) -> tuple[list, bool]:
        group, count = [first], len(first[0])
        deadline = asyncio.get_running_loop().time() + self.max_wait
        while self.enabled and count < self.max_batch_size:
            left = deadline - asyncio.get_running_loop().time()
            try:
                nxt = self.queue.get_nowait() if left <= 0 else await asyncio.wait_for(self.queue.get(), left)
            except (asyncio.TimeoutError, asyncio.QueueEmpty):
                break
            if nxt is _STOP:
                return group, True
            group.append(nxt)
            count += len(nxt[0])
        return group, False

    async def _run(self, group: list) -> None:
        loop = asyncio.get_running_loop()
        items = [item for request, _ in group for item in request]
        try:
            rows = await loop.run_in_executor(self.executor, self.run, items)
        except Exception as err:
            if len(group) == 1:
                if not group[0][1].done():
                    group[0][1].set_exception(err)
                return
            for request, future in group:  # find the culprit: every other request still gets its answer
                await self._run([(request, future)])
            return
        if self.on_batch:
            self.on_batch(len(items))
        start = 0
        for request, future in group:
            if not future.done():  # a caller that went away has a cancelled future
                future.set_result(rows[start:start + len(request)])
            start += len(request)

