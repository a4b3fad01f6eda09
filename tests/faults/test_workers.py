"""`tokenbot serve --workers N` (issue 19): N processes share the port, each answers, and the
supervisor stops them all together."""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmarks.serving import ServerProcess, cpu_seconds

pytestmark = pytest.mark.faults


COMMAND = [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--workers", "2"]


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def two_workers(server: ServerProcess) -> list[int]:
    """The supervisor's two workers, once both listen."""
    deadline = time.monotonic() + 30
    while len(children(server.pid)) < 2 or server.output().count("tokenbot serving") < 2:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.1)
    return children(server.pid)


def test_two_workers_share_the_port_and_both_answer(clean_database, tmp_path):
    server = ServerProcess(clean_database, tmp_path / "workers.log", command=COMMAND).start()
    try:
        workers = two_workers(server)
        before = {pid: cpu_seconds(pid) for pid in workers}
        for _ in range(400):  # a new connection each: the kernel spreads them over the workers
            request = urllib.request.Request(
                f"{server.url}/healthz", headers={"Connection": "close"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
        assert all(cpu_seconds(pid) > before[pid] for pid in workers), server.output()

        server.process.send_signal(signal.SIGTERM)  # the supervisor passes it on
        assert server.process.wait(timeout=30) == 0
        assert all(not Path(f"/proc/{pid}").exists() for pid in workers)
    finally:
        server.kill()


def test_when_one_worker_dies_the_supervisor_stops_the_other_and_fails(clean_database, tmp_path):
    server = ServerProcess(clean_database, tmp_path / "workers.log", command=COMMAND).start()
    try:
        first, second = two_workers(server)
        os.kill(first, signal.SIGKILL)
        assert server.process.wait(timeout=30) == 128 + signal.SIGKILL
        assert not Path(f"/proc/{second}").exists()
    finally:
        server.kill()
