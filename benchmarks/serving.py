"""Real server processes and the load that the benchmark, the fault script and tests/faults
send them, all over loopback.

- `ServerProcess`: `tokenbot serve` in a process of its own (start, SIGTERM, SIGKILL,
  restart on the same port, resident memory from /proc), with its log kept in a file;
- `BareServer`: an aiohttp app that answers every POST with `{}`: the floor of an HTTP round
  trip on this machine, measured with the same client as tokenbot (`python -m
  benchmarks.serving PORT` runs it);
- `closed_loop`: N connections each sending its next request when the last one is answered,
  for S seconds; latencies and requests/s;
- `slack_env` and `slack_fakes()`: the environment that points a server at the fake Slack of
  tests/adapters/slack_fakes.py (the same signing helpers and fake Web API as the tests).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
START_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (VmRSS in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) a process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def slack_fakes() -> ModuleType:
    """tests/adapters/slack_fakes.py (the repository root is put on the path when the
    benchmarks run from elsewhere, e.g. `tokenbot bench` in another directory)."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    return importlib.import_module("tests.adapters.slack_fakes")


def slack_env(api_url: str) -> dict[str, str]:
    fakes = slack_fakes()
    return {
        "SLACK_SIGNING_SECRET": fakes.SIGNING_SECRET,
        "SLACK_BOT_TOKEN": fakes.BOT_TOKEN,
        "SLACK_API_URL": api_url,
    }


class ServerProcess:
    """`tokenbot serve` on 127.0.0.1 in its own process, against `database_url`."""

    def __init__(
        self,
        database_url: str,
        log: Path,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
    ):
        self.database_url = database_url
        self.log = log
        self.port = free_port()
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TOKENBOT_", "SLACK_", "MICROSOFT_"))
        }
        self.env.update(TOKENBOT_DATABASE_URL=database_url, **(env or {}))
        self.command = command or [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1"]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> ServerProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*self.command, "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at start:\n{self.output()[-3000:]}")
            if self.is_up():
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the server did not answer within {START_SECONDS:.0f} s")

    def is_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                return response.status in (200, 503)  # 503: up, the database is not
        except OSError:
            return False

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no cleanup, no commit, no goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def restart(self) -> ServerProcess:
        """Start again on the same port (after kill or stop)."""
        return self.start()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bare_server(log: Path) -> ServerProcess:
    """The HTTP floor: an aiohttp app in its own process answering every POST with `{}`."""
    return ServerProcess(
        "sqlite://", log, command=[sys.executable, "-m", "benchmarks.serving", "bare"]
    )


def run_bare(port: int) -> None:
    from aiohttp import web

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({})

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/{tail:.*}", answer)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- load ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    headers: dict[str, str]
    expect: int = 200


@dataclass
class LoadResult:
    latencies: list[float]  # seconds, sorted
    seconds: float
    errors: list[str]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        return percentile(self.latencies, p)


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


async def closed_loop(
    base: str,
    make: Callable[[int], Request],
    *,
    seconds: float | None = None,
    count: int | None = None,
    connections: int = 1,
    warm_up: int = 100,
    after: Callable[[int, Any], Awaitable[None]] | None = None,
) -> LoadResult:
    """`connections` workers, each sending `make(n)` and waiting for the answer, for `seconds`
    or until `count` requests were sent. Latency is send to last byte received."""
    from aiohttp import ClientSession, TCPConnector

    latencies: list[float] = []
    errors: list[str] = []
    async with ClientSession(connector=TCPConnector(limit=connections)) as client:

        async def send(n: int, record: bool) -> None:
            request = make(n)
            started = time.perf_counter()
            try:
                async with client.post(
                    base + request.path, data=request.body, headers=request.headers
                ) as response:
                    body = await response.read()
                    status = response.status
            except Exception as exc:  # a refused or reset connection is a result here
                errors.append(f"{request.path}: {type(exc).__name__}: {exc}")
                return
            elapsed = time.perf_counter() - started
            if status != request.expect:
                errors.append(f"{request.path}: HTTP {status}: {body[:300]!r}")
            elif record:
                latencies.append(elapsed)
            if after is not None:
                await after(n, body)

        for n in range(warm_up):
            await send(-1 - n, record=False)
        counter = iter(range(count if count is not None else sys.maxsize))
        deadline = time.perf_counter() + seconds if seconds is not None else float("inf")
        started = time.perf_counter()

        async def worker() -> None:
            for n in counter:
                if time.perf_counter() >= deadline:
                    return
                await send(n, record=True)

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(latencies, elapsed, errors)


if __name__ == "__main__":  # python -m benchmarks.serving bare --port PORT
    run_bare(int(sys.argv[sys.argv.index("--port") + 1]))
