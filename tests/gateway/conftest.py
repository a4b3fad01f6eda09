"""The real LiteLLM proxy with the example hook (examples/litellm_tokenbot_hook.py) in front of
a real `tokenbot serve`, both on loopback.

LiteLLM's dependencies are heavy, so the proxy lives in a virtualenv of its own (`.ci/run`
makes `.ci/litellm-venv`); TOKENBOT_LITELLM_BIN names its `litellm` executable (default
.ci/litellm-venv/bin/litellm). Without it these tests are skipped, unless
TOKENBOT_REQUIRE_GATEWAY_TESTS=1 (set by `.ci/run`), where a missing proxy fails them.

The proxy runs without a network and without a database of its own: mock models
(`mock_response`), the bundled model cost map and no telemetry. Beside the hook it loads
spend_log_recorder.py, which writes the LiteLLM_SpendLogs row of every call to a file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from benchmarks.serving import ServerProcess, free_port
from bot.bootstrap import Services, Settings, bootstrap
from budgets.apikeys import create_api_key
from budgets.directory import import_directory
from budgets.policy import DEFAULT_POLICY_PATH
from budgets.policy_store import admin_named
from budgets.policy_store import apply as apply_policy
from storage.database import upgrade_schema
from storage.models import UsageEvent
from tests.conftest import PEOPLE_CSV, empty_database

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "examples" / "litellm_tokenbot_hook.py"
RECORDER = Path(__file__).with_name("spend_log_recorder.py")
DEFAULT_LITELLM_BIN = ROOT / ".ci" / "litellm-venv" / "bin" / "litellm"
MASTER_KEY = "sk-gateway-test-master"
START_SECONDS = 120.0
GATEWAY_PROJECTS = """
[[projects]]
name = "relaunch"
owner = "mia@acme.test"
budget = 1_000_000

[[projects]]
name = "claude-rollout"
owner = "mia@acme.test"
budget = 1_000_000
"""
WAIT_SECONDS = 30.0

# The proxy's model groups: names the client asks for, each a mock of a provider model. The
# group names are not catalog models, so a row that says "team-assistant" was recorded under
# the model group, never under the provider model behind it.
CHAT_GROUP = "team-assistant"
EMBEDDING_GROUP = "team-embedder"
IMAGE_GROUP = "team-illustrator"
MODEL_LIST = [
    {
        "model_name": CHAT_GROUP,
        "litellm_params": {
            "model": "openai/gpt-4o-mini",
            "api_key": "sk-not-used",
            "mock_response": "A mocked answer.",
        },
    },
    {
        "model_name": EMBEDDING_GROUP,
        "litellm_params": {
            "model": "openai/text-embedding-3-small",
            "api_key": "sk-not-used",
            "mock_response": [0.1, 0.2, 0.3],
        },
    },
    {
        "model_name": IMAGE_GROUP,
        "litellm_params": {
            "model": "openai/dall-e-3",
            "api_key": "sk-not-used",
            "mock_response": "https://images.invalid/mocked.png",
        },
    },
]

# Everything LiteLLM would otherwise fetch from the internet comes from its package.
OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    "NO_PROXY": "127.0.0.1,localhost",
}
# Never handed to the proxy: a database of its own, provider keys, our own settings.
STRIPPED_ENV = ("TOKENBOT_", "LITELLM_", "DATABASE_URL", "DIRECT_URL", "OPENAI_", "ANTHROPIC_")


def litellm_executable() -> Path | None:
    configured = os.environ.get("TOKENBOT_LITELLM_BIN")
    path = Path(configured) if configured else DEFAULT_LITELLM_BIN
    return path if path.is_file() and os.access(path, os.X_OK) else None


@pytest.fixture(scope="session")
def litellm_bin() -> Path:
    found = litellm_executable()
    if found is None:
        reason = (
            "the LiteLLM proxy is not installed: set TOKENBOT_LITELLM_BIN to its `litellm` "
            "executable or run .ci/run (it makes .ci/litellm-venv)"
        )
        if os.environ.get("TOKENBOT_REQUIRE_GATEWAY_TESTS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def wait_for(condition: Callable[[], Any], what: str, limit: float = WAIT_SECONDS) -> Any:
    """Poll until `condition()` is truthy; its value."""
    deadline = time.monotonic() + limit
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {limit:.0f} s waiting for {what}")
        time.sleep(0.1)
    return value


class LiteLLMProxy:
    """`litellm --config` on 127.0.0.1 in its own process, with the hook and the spend-log
    recorder next to its config; start, SIGTERM, SIGKILL and restart on the same port."""

    def __init__(self, executable: Path, workdir: Path, env: dict[str, str]):
        self.executable = executable
        self.workdir = workdir
        self.port = free_port()
        self.log = workdir / "proxy.log"
        self.spool_dir = workdir / "spool"
        self.spend_log = workdir / "spend-logs.jsonl"
        self.prompt_log = workdir / "prompts.jsonl"
        workdir.mkdir(parents=True, exist_ok=True)
        shutil.copy(HOOK, workdir / HOOK.name)
        shutil.copy(RECORDER, workdir / RECORDER.name)
        config = {
            "model_list": MODEL_LIST,
            "litellm_settings": {
                "callbacks": [
                    "litellm_tokenbot_hook.proxy_handler_instance",
                    "spend_log_recorder.recorder",
                ],
                "telemetry": False,
                # an in-memory cache that a request opts into with {"cache": {"use-cache": true}}
                "cache": True,
                "cache_params": {"type": "local", "mode": "default_off"},
            },
            "general_settings": {"master_key": MASTER_KEY},
        }
        self.config = workdir / "config.yaml"
        self.config.write_text(json.dumps(config, indent=2))  # JSON is YAML
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED_ENV)}
        self.env.update(OFFLINE_ENV)
        self.env.update(
            {
                "TOKENBOT_SPOOL_DIR": str(self.spool_dir),
                "TOKENBOT_TEST_SPEND_LOG": str(self.spend_log),
                "TOKENBOT_TEST_PROMPT_LOG": str(self.prompt_log),
                "TOKENBOT_RETRY_MAX_SECONDS": "1",
                # A loaded CI machine can take longer than the 2 s a production hook waits;
                # the outage tests do not wait on it (a stopped server refuses at once).
                "TOKENBOT_TIMEOUT_SECONDS": "10",
                **env,
            }
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiteLLMProxy:
        return self.launch().wait_until_up()

    def launch(self) -> LiteLLMProxy:
        """Start the process without waiting for it (several proxies start faster together)."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(self.executable), "--config", str(self.config)]
                + ["--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_until_up(self) -> LiteLLMProxy:
        assert self.process is not None
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the proxy exited at start:\n{self.output()[-4000:]}")
            if self.is_up():
                return self
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the proxy did not answer within {START_SECONDS:.0f} s")

    def is_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health/liveliness", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: whatever the proxy held only in memory is gone."""
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

    # --- what the proxy left on disk ------------------------------------------------------

    def spend_logs(self) -> list[dict[str, Any]]:
        """The LiteLLM_SpendLogs rows LiteLLM made so far, in order."""
        if not self.spend_log.exists():
            return []
        return [json.loads(line) for line in self.spend_log.read_text().splitlines() if line]

    def spend_log_of(self, call_id: str) -> dict[str, Any]:
        """The spend-log row of the call with this x-litellm-call-id (waits for it)."""
        return wait_for(
            lambda: next(
                (row for row in self.spend_logs() if row.get("litellm_call_id") == call_id), None
            ),
            f"the spend log of call {call_id}",
        )

    def prompt_of(self, call_id: str) -> Any:
        """The messages the model was called with in the call with this x-litellm-call-id."""

        def sent() -> dict[str, Any] | None:
            if not self.prompt_log.exists():
                return None
            rows = [json.loads(line) for line in self.prompt_log.read_text().splitlines() if line]
            return next((row for row in rows if row["litellm_call_id"] == call_id), None)

        return wait_for(sent, f"the prompt of call {call_id}")["messages"]

    def spooled(self, table: str = "pending") -> list[dict[str, Any]]:
        """Usage events in the hook's spool (`pending` or `rejected`)."""
        path = self.spool_dir / "spool.sqlite3"
        if not path.exists():
            return []
        with sqlite3.connect(path, timeout=10) as db:
            rows = db.execute(f"SELECT event FROM {table}").fetchall()  # noqa: S608
        return [json.loads(event) for (event,) in rows]


@dataclass
class Tokenbot:
    """A real `tokenbot serve` over its own database, with the test org and an API key."""

    services: Services
    server: ServerProcess
    api_key: str

    @property
    def url(self) -> str:
        return self.server.url

    def usage(self, *ids: str) -> dict[str, UsageEvent]:
        """The stored usage events with these ids (as tokenbot stores them)."""
        with self.services.db.read() as session:
            rows = session.scalars(select(UsageEvent).where(UsageEvent.id.in_(ids))).all()
            session.expunge_all()
        return {row.id: row for row in rows}

    def usage_count(self) -> int:
        with self.services.db.read() as session:
            return len(session.scalars(select(UsageEvent.id)).all())

    def wait_for_usage(self, *ids: str) -> dict[str, UsageEvent]:
        def all_stored() -> dict[str, UsageEvent] | None:
            rows = self.usage(*ids)
            return rows if len(rows) == len(set(ids)) else None

        return wait_for(all_stored, f"usage events {', '.join(i[:60] for i in ids)}")


@pytest.fixture(scope="module")
def tokenbot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tokenbot]:
    workdir = tmp_path_factory.mktemp("tokenbot")
    with empty_database(workdir) as url:
        upgrade_schema(url)
        services = bootstrap(Settings(database_url=url))
        now = datetime.now(UTC)
        with services.db.unit_of_work() as uow:
            result = import_directory(uow.session, PEOPLE_CSV, services.policy, now)
            assert result.ok, result.errors
            key = create_api_key(uow.session, "litellm-proxy", now).plaintext
            uow.commit()
        # The projects the calls are tagged with, in the policy in force (an unknown project
        # is refused by authorize), applied as an admin would: the server reads it at start.
        apply_policy(
            services.db,
            DEFAULT_POLICY_PATH.read_text(encoding="utf-8") + GATEWAY_PROJECTS,
            admin_named(services.db, "ceo@acme.test"),
            now,
            note="the gateway tests' projects",
        )
        server = ServerProcess(url, workdir / "tokenbot.log").start()
        try:
            yield Tokenbot(services, server, key)
        finally:
            server.stop()
            services.close()


class FakeTokenbot:
    """tokenbot's API as a stand-in that answers what a test needs: authorize allows everyone
    but closed@acme.test (503); the first usage post gets 503 with Retry-After, an event of
    invalid@acme.test a 400 naming it; every usage post is kept with its arrival time."""

    RETRY_AFTER = 2

    def __init__(self) -> None:
        self.posts: list[tuple[float, list[dict[str, Any]]]] = []
        self.bodies: list[bytes] = []  # every request body, authorize and usage
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                fake.bodies.append(raw)
                body = json.loads(raw)
                if self.path == "/api/v1/authorize":
                    if body["user"] == "closed@acme.test":
                        self.answer(503, {"error": "unavailable"}, {"Retry-After": "5"})
                    else:
                        self.answer(200, {"allow": True, "reason": "Within budget."})
                    return
                fake.posts.append((time.monotonic(), body["events"]))
                if len(fake.posts) == 1:
                    retry_after = {"Retry-After": str(fake.RETRY_AFTER)}
                    self.answer(503, {"error": "unavailable"}, retry_after)
                    return
                invalid = [
                    {"index": i, "field": "user", "reason": "not allowed here"}
                    for i, event in enumerate(body["events"])
                    if event["user"] == "invalid@acme.test"
                ]
                if invalid:
                    self.answer(400, {"error": "invalid", "errors": invalid})
                else:
                    self.answer(200, {"recorded": len(body["events"])})

            def answer(self, status: int, body: object, headers: dict[str, str] | None = None):
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def delivered(self, user: str) -> list[float]:
        """Arrival times of the usage posts that carried `user`'s event."""
        return [at for at, events in self.posts if any(e["user"] == user for e in events)]


@pytest.fixture(scope="module")
def fake_tokenbot() -> Iterator[FakeTokenbot]:
    fake = FakeTokenbot()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@dataclass
class Proxies:
    main: LiteLLMProxy  # in front of the real tokenbot, failing open (the default)
    fail_closed: LiteLLMProxy  # in front of FakeTokenbot, TOKENBOT_FAIL_OPEN=false
    wrong_key: LiteLLMProxy  # in front of the real tokenbot with a key it does not know


@pytest.fixture(scope="module")
def proxies(
    litellm_bin: Path,
    tokenbot: Tokenbot,
    fake_tokenbot: FakeTokenbot,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Proxies]:
    """Three proxies, started together (each takes seconds to import LiteLLM)."""
    started = Proxies(
        main=LiteLLMProxy(
            litellm_bin,
            tmp_path_factory.mktemp("litellm"),
            {"TOKENBOT_URL": tokenbot.url, "TOKENBOT_API_KEY": tokenbot.api_key},
        ),
        fail_closed=LiteLLMProxy(
            litellm_bin,
            tmp_path_factory.mktemp("litellm-fake"),
            {
                "TOKENBOT_URL": fake_tokenbot.url,
                "TOKENBOT_API_KEY": "tbk_fake",
                "TOKENBOT_FAIL_OPEN": "false",
                "TOKENBOT_RETRY_MAX_SECONDS": "0.2",  # backoff alone would retry within 0.2 s
            },
        ),
        wrong_key=LiteLLMProxy(
            litellm_bin,
            tmp_path_factory.mktemp("litellm-wrong-key"),
            {"TOKENBOT_URL": tokenbot.url, "TOKENBOT_API_KEY": "tbk_0123456789_not-the-key"},
        ),
    )
    every = (started.main, started.fail_closed, started.wrong_key)
    try:
        for gateway in every:
            gateway.launch()
        for gateway in every:
            gateway.wait_until_up()
        yield started
    finally:
        for gateway in every:
            gateway.stop()


@pytest.fixture(scope="module")
def proxy(proxies: Proxies) -> LiteLLMProxy:
    return proxies.main
