"""Answer worker processes: the HTTP process acks, separate processes do the work.

Every listener is an immediate ack plus lazy work (:func:`bot.errors.lazy_listener`). In one
process the 20th of 20 simultaneous slash commands waits for the GIL behind the answers being
computed for the first 19, and its ack is late. So ``expansion serve`` keeps the HTTP process
light: it verifies the signature, acks, and hands the request to a worker process over a queue; the
worker runs the same app, as Bolt does on AWS Lambda: the request is dispatched again with the
``x-slack-bolt-lazy-only`` header, so only the named lazy function runs there (Bolt's own
mechanism; the HTTP process verified the request, so the worker's app does not re-verify).
The worker's app runs the global middleware again, so the workspace is checked and
``context["runtime"]`` set (:class:`bot.runtime.RequestRuntime`) in the worker, where the
listener reads it; the HTTP process does not name it.

:class:`AnswerWorkers` is a Bolt ``LazyListenerRunner``. It starts ``EXPANSION_WORKERS``
processes (spawned, not forked: the parent has threads), restarts one that dies (with backoff),
and reports how many are ready for ``/healthz``. Worker 0 also warms the scoring run up and,
unless ``EXPANSION_SCHEDULER=off``, runs the digest scheduler. A worker exits when its parent
is gone. Work is sent round-robin to the ready workers; work acked while none is ready waits in
the HTTP process until one is. A request a worker was answering when it died is lost (the log
says so).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.synchronize
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.request import BoltRequest

from .app import build_app
from .settings import Settings
from .startup import configure_logging, runtime_for, start_background

log = logging.getLogger("bot.workers")

LAZY_ONLY = "x-slack-bolt-lazy-only"
LAZY_NAME = "x-slack-bolt-lazy-function-name"
#: How often a worker looks whether its parent is still there, and the monitor at its workers.
POLL_SECONDS = 0.5
#: A worker that lived this long before dying is restarted at once, else after a backoff.
STEADY_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 30.0


def handoff(request: BoltRequest) -> tuple[str, str | dict, dict]:
    """What a worker needs to dispatch ``request`` again: mode, body, headers (lazy-only)."""
    headers = {name: list(values) for name, values in request.headers.items()}
    headers[LAZY_ONLY] = ["1"]
    headers[LAZY_NAME] = [request.lazy_function_name or ""]
    body = request.raw_body if request.mode == "http" else request.body
    return request.mode, body, headers


@dataclass
class _Slot:
    """One worker: its process, the pipe its work goes down, and its restart bookkeeping.

    A pipe per worker, not one shared queue: a worker killed while reading a shared
    ``multiprocessing.Queue`` dies holding its lock, and no other reader gets anything again.
    """

    index: int
    ready: multiprocessing.synchronize.Event  # set by the worker once its app is built
    process: multiprocessing.process.BaseProcess | None = None
    pipe: Connection | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float = 0.0

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive() and self.ready.is_set()


@dataclass
class AnswerWorkers(LazyListenerRunner):
    """Bolt's lazy listener runner that sends the work to worker processes."""

    settings: Settings
    count: int
    logger: logging.Logger = field(default_factory=lambda: log)

    def __post_init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._slots = [_Slot(i, self._context.Event()) for i in range(self.count)]
        self._lock = threading.Lock()
        self._next = 0
        # Work acked while no worker was ready (all starting or restarting): sent when one is.
        self._pending: deque[tuple] = deque()
        self._outbox: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None

    # Bolt calls this for every lazy function of an acked request, in the request's thread:
    # it must never block (a worker's full pipe would hold the ack), so a thread sends.
    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        self._outbox.put(handoff(request))

    def launch(self) -> AnswerWorkers:
        for slot in self._slots:
            self._spawn(slot)
        self._monitor = threading.Thread(target=self._watch, name="workers", daemon=True)
        self._monitor.start()
        threading.Thread(target=self._send, name="workers-send", daemon=True).start()
        return self

    def _send(self) -> None:
        while True:
            item = self._outbox.get()
            with self._lock:
                self._pending.append(item)
                self._flush()

    def ready(self) -> int:
        """How many workers can take work now."""
        return sum(1 for slot in self._slots if slot.alive())

    def health(self) -> dict:
        return {"ready": self.ready(), "configured": self.count}

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for slot in self._slots:
            if slot.process is not None and slot.process.is_alive():
                slot.process.terminate()
        for slot in self._slots:
            if slot.process is not None:
                slot.process.join(timeout)
                if slot.process.is_alive():
                    slot.process.kill()

    def _flush(self) -> None:
        """Send pending work round-robin to the ready workers (under ``_lock``)."""
        while self._pending:
            ready = [slot for slot in self._slots if slot.alive()]
            if not ready:
                return
            slot = ready[self._next % len(ready)]
            self._next += 1
            try:
                slot.pipe.send(self._pending[0])
            except (OSError, ValueError):  # the worker died since it was seen alive
                slot.ready.clear()
                continue
            self._pending.popleft()

    def _spawn(self, slot: _Slot) -> None:
        slot.ready.clear()
        if slot.pipe is not None:
            slot.pipe.close()
        receiver, slot.pipe = self._context.Pipe(duplex=False)
        slot.process = self._context.Process(
            target=worker_main,
            args=(slot.index, self.settings, receiver, slot.ready, os.getpid()),
            name=f"answer-worker-{slot.index}",
            daemon=True,
        )
        slot.process.start()
        receiver.close()  # the worker's end
        slot.started = time.monotonic()
        log.info("answer worker %s started (pid %s)", slot.index, slot.process.pid)

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            now = time.monotonic()
            with self._lock:
                for slot in self._slots:
                    if slot.process is None or slot.process.is_alive():
                        continue
                    if not slot.restart_at:
                        lived = now - slot.started
                        slot.failures = 0 if lived >= STEADY_SECONDS else slot.failures + 1
                        delay = min(MAX_BACKOFF_SECONDS, 2.0**slot.failures - 1)
                        slot.restart_at = now + delay
                        log.error(
                            "answer worker %s exited (code %s) after %.0f s; what it was "
                            "answering is lost. Restarting in %.0f s.",
                            slot.index,
                            slot.process.exitcode,
                            lived,
                            delay,
                        )
                    if now >= slot.restart_at and not self._stop.is_set():
                        slot.restart_at = 0.0
                        self._spawn(slot)
                self._flush()


def worker_main(index: int, settings: Settings, work: Connection, ready, parent: int) -> None:
    """A worker: the same app, answering the lazy half of what the HTTP process acked."""
    configure_logging()
    runtime = runtime_for(settings)
    app = build_app(runtime, verify_requests=False)
    if index == 0:
        start_background(runtime)
    threads = ThreadPoolExecutor(settings.listener_threads, thread_name_prefix="answer")

    def answer(mode: str, body: str | dict, headers: dict) -> None:
        try:
            app.dispatch(BoltRequest(body=body, headers=headers, mode=mode))
        except Exception:  # the listeners are guarded; this is Bolt itself failing
            log.exception("answer worker %s could not dispatch a request", index)

    ready.set()
    log.info("answer worker %s ready", index)
    while True:
        try:
            if not work.poll(POLL_SECONDS):
                if os.getppid() != parent:
                    raise EOFError
                continue
            item = work.recv()
        except (EOFError, OSError):
            log.info("answer worker %s: the server is gone; exiting", index)
            os._exit(0)
        threads.submit(answer, *item)
