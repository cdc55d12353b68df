"""The handler threads: where everything that blocks (the database, argon2, the metrics files)
runs, off the event loop.

A hand-off through `loop.run_in_executor` costs about 130 us of CPU on this machine, a quarter of
a cheap request, most of it in the two kinds of futures it chains and their callbacks. These
threads take work from one queue and hand the result straight to the waiting asyncio future,
half the cost (`python -m bench.stack` measures the request; the numbers are in bench/results/).
The work runs in a copy of the caller's context, so the request's state travels with it.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_STOP = None


class HandlerThreads:
    """`count` threads, started at the first hand-off (an app that serves nothing starts
    none) and stopped at shutdown, or when the app is collected (tests build many)."""

    def __init__(self, count: int, name: str = "handler") -> None:
        self.count = count
        self.name = name
        self._work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()
        weakref.finalize(self, _stop, self._work, count)

    def run(self, work: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`work(*args)` on one of the threads; await the result (or the exception it raised)."""
        if not self._started:
            self._start()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._work.put((loop, done, contextvars.copy_context(), work, args))
        return done

    def shutdown(self) -> None:
        """Let every thread finish what it has and stop."""
        with self._lock:
            if self._started:
                _stop(self._work, self.count)
                self._started = False

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            for n in range(self.count):
                thread = threading.Thread(
                    target=_serve, args=(self._work,), name=f"{self.name}_{n}", daemon=True
                )
                thread.start()
            self._started = True


def _serve(work_queue: queue.SimpleQueue[Any]) -> None:
    while (item := work_queue.get()) is not _STOP:
        loop, done, context, work, args = item
        try:
            result = context.run(work, *args)
        except BaseException as exc:  # handed to the awaiting request, as an executor does
            loop.call_soon_threadsafe(_settle, done, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, done, result, None)


def _stop(work_queue: queue.SimpleQueue[Any], count: int) -> None:
    for _ in range(count):
        work_queue.put(_STOP)


def _settle(done: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if done.cancelled():
        return
    if exc is not None:
        done.set_exception(exc)
    else:
        done.set_result(result)
