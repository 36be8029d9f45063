"""Worker processes for the multi-process tests: both sides of one.

The test's side: `WorkerProcess` starts `python -m <module> ...` and reads its stdout
line by line in a thread; `wait_for` polls what the processes write. The process's
side: `serve` runs a `Worker` until SIGTERM, after printing `READY <owner>`.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ohmycoins.scheduling.worker import Worker

ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 20.0


class WorkerProcess:
    """One `python -m module` subprocess, with its stdout read line by line in a thread."""

    def __init__(self, module: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        environment = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        command = [sys.executable, "-m", module, *args]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def expect(self, prefix: str, timeout: float = STARTUP_S) -> str:
        """The next stdout line, which must start with `prefix`."""
        line = self.lines.get(timeout=timeout)
        assert line.startswith(prefix), line
        return line

    def stop(self) -> int:
        """SIGTERM, then the exit code of a graceful stop."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=15)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=5)


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    """Poll the database (written by other processes: there is no event to await)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


async def serve(worker: Worker) -> None:
    """Run `worker` in this process until SIGTERM stops it gracefully; `READY <owner>`
    on stdout once it runs."""
    stopping: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: stopping.add(loop.create_task(worker.stop())))
    print("READY", worker.owner, flush=True)
    await worker.run()
