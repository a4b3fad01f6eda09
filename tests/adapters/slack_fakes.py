"""A fake Slack for adapter tests, and the real tokenbot server talking to it.

Everything is real HTTP on 127.0.0.1 (port 0), run on a background event loop so tests stay
plain synchronous pytest functions:

- `FakeSlack`: the Web API (`/api/<method>`), `response_url`s (`/response/<name>`), file
  uploads and a Socket Mode websocket. It records every call (`SlackCall`: method, params
  merged from query, form and JSON body, and the bearer token) and answers as Slack does.
- request builders: `slash_command`, `block_actions`, `view_submission`, `message_shortcut`,
  `event_callback`, `url_verification` build the payloads Slack sends, and `sign()` the
  `X-Slack-Signature` (v0, HMAC-SHA256 over `v0:{timestamp}:{body}`).
- `SlackTestbed`: the real `bot.server.build_app` with Slack settings pointing at the fake;
  `command()`, `click()`, `submit()`, `shortcut()`, `event()` post signed requests exactly as
  Slack would (form-encoded, `payload=` JSON, JSON events).
- `hold_database(engine)`: every SQL statement on the engine waits until released: an
  artificially slow database that touches no handler.

Fixtures `fake_slack` and `slack` (the testbed, with the `services` fixture's database) are
defined here; import them in a conftest.py (tests/adapters/conftest.py does) to use them:

    def test_balance_is_ephemeral(slack, org):
        sent = slack.command("balance", user="UANN")
        assert sent.status == 200
        reply = slack.reply_to(sent)          # what reached that command's response_url
        assert reply["response_type"] == "ephemeral"
        slack.fake.calls_to("chat.postMessage")  # every recorded call of one method
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp import WSMsgType, web
from sqlalchemy import Engine, event

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
APP_TOKEN = "xapp-1-A0TOKENBOT-1234567890-abcdef"
TEAM_ID = "T0ACME"
BOT_USER_ID = "U0TOKENBOT"
GENERAL = "C0GENERAL"  # a public channel
WAIT_SECONDS = 15.0  # how long a test waits for something to reach the fake before failing


# --- the background event loop --------------------------------------------------------------


class BackgroundLoop:
    """An asyncio loop in a daemon thread; `run(coro)` blocks until the coroutine is done."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = WAIT_SECONDS * 2) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def finish() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_default_executor()

        self.run(finish())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT_SECONDS)
        self.loop.close()


# --- the fake Web API -----------------------------------------------------------------------


@dataclass(frozen=True)
class SlackCall:
    """One request that reached the fake: a Web API method, `response_url`, `upload` (a file
    upload URL) or `socket_mode.ack` (a Socket Mode acknowledgement)."""

    method: str
    params: dict[str, Any]
    token: str | None = None
    path: str = ""
    response: dict[str, Any] = field(default_factory=dict)  # what the fake answered

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.params.get("blocks") or (self.params.get("view") or {}).get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else blocks

    @property
    def text(self) -> str:
        """All the human-readable text of the call (its `text` and every text in its blocks)."""
        return "\n".join([self.params.get("text") or "", self.blocks_text])

    @property
    def blocks_text(self) -> str:
        """What a person sees in the Block Kit rendering: every text in the blocks."""
        return "\n".join(_texts(self.blocks))


def _texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["text"]] if isinstance(node.get("text"), str) else []
        return found + [t for value in node.values() for t in _texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    return []


class _SlackError(Exception):
    """Raised by a fake answer: the call gets {"ok": false, "error": <message>}."""


@dataclass
class FakeUser:
    id: str
    email: str | None
    name: str
    is_bot: bool = False
    deleted: bool = False

    def to_json(self) -> dict[str, Any]:
        profile: dict[str, Any] = {"real_name": self.name, "display_name": self.name}
        if self.email:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name.lower().replace(" ", "."),
            "real_name": self.name,
            "deleted": self.deleted,
            "is_bot": self.is_bot,
            "tz": "Europe/Paris",
            "profile": profile,
        }


class FakeSlack:
    def __init__(self, background: BackgroundLoop | None = None) -> None:
        self.background = background or BackgroundLoop()
        self._owns_loop = background is None
        self.users: dict[str, FakeUser] = {}
        self._calls: list[SlackCall] = []
        self._changed = threading.Condition()
        self._failures: dict[str, list[str]] = {}
        self._raw_failures: dict[str, list[tuple[int, str, str]]] = {}
        self._held: dict[str, asyncio.Event] = {}
        self._sequence = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    # -- lifecycle

    def start(self) -> FakeSlack:
        self.background.run(self._start())
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket-mode", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        async def stop() -> None:
            for socket in list(self._sockets):
                await socket.close()
            if self._runner is not None:
                await self._runner.cleanup()

        self.background.run(stop())
        if self._owns_loop:
            self.background.close()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests set up

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL should be (the Web API base, with its trailing slash)."""
        return f"{self.base_url}/api/"

    def response_url(self, name: str | None = None) -> str:
        return f"{self.base_url}/response/{name or next(self._sequence)}"

    def add_user(
        self,
        user_id: str,
        email: str | None,
        name: str = "Someone",
        *,
        is_bot: bool = False,
        deleted: bool = False,
    ) -> FakeUser:
        """Make users.info know a Slack user (with `email`, as with the users:read.email scope)."""
        user = FakeUser(user_id, email, name, is_bot, deleted)
        self.users[user_id] = user
        return user

    def hold(self, method: str) -> None:
        """Calls of `method` wait (unanswered) until `release(method)`; they are recorded when
        answered. Lets a test keep tokenbot's work in flight while more requests arrive."""
        self.background.run(self._hold(method))

    async def _hold(self, method: str) -> None:
        self._held[method] = asyncio.Event()

    def release(self, method: str) -> None:
        async def release() -> None:
            held = self._held.pop(method, None)
            if held is not None:
                held.set()

        self.background.run(release())

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """The next `times` calls of `method` answer {"ok": false, "error": error}."""
        self._failures.setdefault(method, []).extend([error] * times)

    def fail_raw(
        self, method: str, status: int, body: str, content_type: str = "text/html"
    ) -> None:
        """The next call of `method` answers `status` with a body that is not Slack's JSON (as
        a proxy or load balancer in front of Slack might: an HTML 502 page)."""
        self._raw_failures.setdefault(method, []).append((status, body, content_type))

    # -- what tests read

    @property
    def calls(self) -> list[SlackCall]:
        with self._changed:
            return list(self._calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    def wait_for(
        self,
        method: str,
        where: Callable[[SlackCall], bool] | None = None,
        count: int = 1,
        timeout: float = WAIT_SECONDS,
    ) -> SlackCall:
        """Block until `count` calls of `method` (matching `where`) have arrived; the last one."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [
                    c for c in self._calls if c.method == method and (where is None or where(c))
                ]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.method for c in self._calls]
                    raise AssertionError(f"no {method} call #{count} within {timeout}s; saw {seen}")
                self._changed.wait(left)

    def clear(self) -> None:
        with self._changed:
            self._calls.clear()

    # -- Socket Mode

    def socket_send(self, envelope: dict[str, Any]) -> None:
        """Push an envelope to every connected Socket Mode client."""

        async def send() -> None:
            for socket in self._sockets:
                await socket.send_str(json.dumps(envelope))

        self.background.run(send())

    def wait_for_socket(self, timeout: float = WAIT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while not self._sockets:
            if time.monotonic() > deadline:
                raise AssertionError("no Socket Mode client connected")
            time.sleep(0.01)

    # -- the server side

    def _record(self, call: SlackCall) -> None:
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            raw = await request.text()
            if request.content_type == "application/json":
                params.update(json.loads(raw or "{}"))
            else:
                params.update(parse_qsl(raw, keep_blank_values=True))
        held = self._held.get(method)
        if held is not None:
            await held.wait()
        authorization = request.headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ") or params.get("token")
        raw = self._raw_failures.get(method)
        if raw:
            status, body, content_type = raw.pop(0)
            self._record(SlackCall(method, params, token, request.path, {"raw": body}))
            return web.Response(status=status, text=body, content_type=content_type)
        answer = self._answer(method, params, token)
        self._record(SlackCall(method, params, token, request.path, answer))
        return web.json_response(answer)

    def _answer(self, method: str, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        if token not in (BOT_TOKEN, APP_TOKEN):
            return {"ok": False, "error": "invalid_auth"}
        failures = self._failures.get(method)
        if failures:
            return {"ok": False, "error": failures.pop(0)}
        answer = self._answers().get(method)
        if answer is None:
            return {"ok": False, "error": "unknown_method"}
        try:
            return {"ok": True, **answer(params)}
        except _SlackError as exc:
            return {"ok": False, "error": str(exc)}

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._sequence):06d}"

    def _answers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        def users_info(params: dict[str, Any]) -> dict[str, Any]:
            user = self.users.get(params.get("user", ""))
            if user is None:
                raise _SlackError("user_not_found")
            return {"user": user.to_json()}

        def view(params: dict[str, Any]) -> dict[str, Any]:
            body = params.get("view")
            body = json.loads(body) if isinstance(body, str) else body or {}
            return {"view": {"id": f"V{next(self._sequence):08d}", "team_id": TEAM_ID, **body}}

        def post(params: dict[str, Any]) -> dict[str, Any]:
            return {
                "channel": params.get("channel"),
                "ts": self._ts(),
                "message": {"text": params.get("text"), "user": BOT_USER_ID},
            }

        def upload_url(params: dict[str, Any]) -> dict[str, Any]:
            file_id = f"F{next(self._sequence):08d}"
            return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

        def complete_upload(params: dict[str, Any]) -> dict[str, Any]:
            files = params.get("files")
            files = json.loads(files) if isinstance(files, str) else files or []
            return {"files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}

        return {
            "auth.test": lambda p: {
                "url": "https://acme.slack.com/",
                "team": "Acme",
                "user": "tokenbot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": "B0TOKENBOT",
                "is_enterprise_install": False,
            },
            "users.info": users_info,
            "conversations.open": lambda p: {
                "channel": {"id": "D" + str(p.get("users", "")).split(",")[0].lstrip("UW")}
            },
            "chat.postMessage": post,
            "chat.postEphemeral": lambda p: {"message_ts": self._ts()},
            "chat.update": lambda p: {"channel": p.get("channel"), "ts": p.get("ts")},
            "views.open": view,
            "views.publish": view,
            "views.update": view,
            "files.getUploadURLExternal": upload_url,
            "files.completeUploadExternal": complete_upload,
            "apps.connections.open": lambda p: {"url": f"ws://127.0.0.1:{self.port}/socket-mode"},
        }

    async def _response_url(self, request: web.Request) -> web.Response:
        self._record(
            SlackCall("response_url", await request.json(), None, request.match_info["name"])
        )
        return web.json_response({"ok": True})

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        self._record(
            SlackCall("upload", {"file_id": request.match_info["file_id"], "bytes": len(data)})
        )
        return web.Response(text=f"OK - {len(data)}")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "fake", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": "A0TOKENBOT"},
                }
            )
        )
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    self._record(SlackCall("socket_mode.ack", json.loads(message.data)))
        finally:
            self._sockets.remove(socket)
        return socket


# --- requests as Slack sends them -----------------------------------------------------------


def sign(body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """The two headers Slack signs every request with."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + digest.hexdigest()}


def form_body(fields: dict[str, Any]) -> str:
    return urlencode(fields)


def payload_body(payload: dict[str, Any]) -> str:
    """Interactivity (block_actions, view_submission, shortcuts): `payload=<json>`, form-encoded."""
    return urlencode({"payload": json.dumps(payload)})


def _team() -> dict[str, str]:
    return {"id": TEAM_ID, "domain": "acme"}


def _user(user_id: str) -> dict[str, str]:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM_ID}


def slash_command(
    text: str,
    *,
    user_id: str,
    response_url: str,
    channel_id: str = GENERAL,
    command: str = "/tokens",
    trigger_id: str = "13345224609.738474920.8088930838d88f008e0",
) -> dict[str, str]:
    """The form fields of a slash command invocation."""
    return {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "team_id": TEAM_ID,
        "team_domain": "acme",
        "channel_id": channel_id,
        "channel_name": "general" if channel_id == GENERAL else "directmessage",
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": "A0TOKENBOT",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def block_actions(
    action_id: str,
    value: str,
    *,
    user_id: str,
    response_url: str | None,
    channel_id: str = GENERAL,
    is_ephemeral: bool = True,
    container: str = "message",
    message_ts: str = "1700000000.000100",
    trigger_id: str = "13345224609.738474920.8088930838d88f008e1",
) -> dict[str, Any]:
    """A button click: on a message (`container="message"`) or on the App Home (`"view"`)."""
    action = {
        "type": "button",
        "action_id": action_id,
        "block_id": "actions",
        "text": {"type": "plain_text", "text": "Button", "emoji": True},
        "value": value,
        "action_ts": f"{time.time():.6f}",
    }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id),
        "api_app_id": "A0TOKENBOT",
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "trigger_id": trigger_id,
        "team": _team(),
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": {}},
        "actions": [action],
    }
    if container == "view":
        payload["container"] = {"type": "view", "view_id": "V0HOME"}
        payload["view"] = {"id": "V0HOME", "type": "home", "blocks": []}
    else:
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        }
        payload["channel"] = {"id": channel_id, "name": "general"}
        if not is_ephemeral:
            payload["message"] = {"type": "message", "ts": message_ts, "text": "", "blocks": []}
    if response_url is not None:
        payload["response_url"] = response_url
    return payload


def view_submission(
    callback_id: str,
    values: dict[str, str],
    *,
    user_id: str,
    private_metadata: str = "",
    kinds: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A modal submitted: `values` maps each input's block_id (= action_id) to what was typed;
    `kinds` gives an input's element type when it is not plain_text_input."""
    kinds = kinds or {}
    state = {
        name: {name: {"type": kinds.get(name, "plain_text_input"), "value": value}}
        for name, value in values.items()
    }
    return {
        "type": "view_submission",
        "team": _team(),
        "user": _user(user_id),
        "api_app_id": "A0TOKENBOT",
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "trigger_id": "13345224609.738474920.8088930838d88f008e2",
        "view": {
            "id": "V0MODAL",
            "team_id": TEAM_ID,
            "type": "modal",
            "blocks": [],
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": state},
            "hash": "1596530361.3wRYuk3R",
            "title": {"type": "plain_text", "text": "tokenbot"},
            "root_view_id": "V0MODAL",
            "app_id": "A0TOKENBOT",
            "bot_id": "B0TOKENBOT",
        },
        "response_urls": [],
        "is_enterprise_install": False,
    }


def message_shortcut(
    callback_id: str,
    message_text: str,
    *,
    user_id: str,
    response_url: str,
    channel_id: str = GENERAL,
) -> dict[str, Any]:
    """A message shortcut ("message_action") chosen on a message."""
    return {
        "type": "message_action",
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "action_ts": f"{time.time():.6f}",
        "team": _team(),
        "user": _user(user_id),
        "channel": {"id": channel_id, "name": "general"},
        "is_enterprise_install": False,
        "callback_id": callback_id,
        "trigger_id": "13345224609.738474920.8088930838d88f008e3",
        "response_url": response_url,
        "message_ts": "1700000000.000200",
        "message": {
            "type": "message",
            "user": "U0SOMEONE",
            "ts": "1700000000.000200",
            "text": message_text,
        },
    }


def event_callback(event_body: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """An Events API delivery (JSON) wrapping one event."""
    return {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "team_id": TEAM_ID,
        "api_app_id": "A0TOKENBOT",
        "event": event_body,
        "type": "event_callback",
        "event_id": event_id or f"Ev{int(time.time() * 1000) % 10**10:010d}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def app_home_opened(user_id: str, tab: str = "home") -> dict[str, Any]:
    return {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D" + user_id.lstrip("UW"),
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }


def url_verification(challenge: str) -> dict[str, Any]:
    return {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge, "type": "url_verification"}


# --- the real tokenbot server, with Slack pointing at the fake --------------------------------


@dataclass(frozen=True)
class Sent:
    """What Slack would get back from tokenbot for one request."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    response_url: str | None = None  # the response_url the request carried, if any
    trigger_id: str | None = None  # the trigger id a slash command carried

    def json(self) -> Any:
        return json.loads(self.body)


def post(url: str, body: str, headers: dict[str, str]) -> Sent:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=WAIT_SECONDS) as response:
            return Sent(response.status, response.read().decode(), dict(response.headers))
    except urllib.error.HTTPError as error:
        return Sent(error.code, error.read().decode(), dict(error.headers))


class SlackTestbed:
    """tokenbot's real aiohttp app (`bot.server.build_app`) on 127.0.0.1, its Slack settings
    pointing at `fake`. Requests are signed with SIGNING_SECRET unless told otherwise."""

    def __init__(self, services: Any, fake: FakeSlack, *, socket_mode: bool = False) -> None:
        from bot.server import build_app

        self.fake = fake
        self.services = services
        services.settings = replace(
            services.settings,
            slack_signing_secret=SIGNING_SECRET,
            slack_bot_token=BOT_TOKEN,
            slack_app_token=APP_TOKEN if socket_mode else None,
            slack_api_url=fake.api_url,
        )
        self.app = build_app(services)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._counter = itertools.count(1)

    def start(self) -> SlackTestbed:
        async def start() -> None:
            self._runner = web.AppRunner(self.app)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = self._runner.addresses[0][1]

        self.fake.background.run(start())
        return self

    def stop(self) -> None:
        self.drain()
        if self._runner is not None:
            self.fake.background.run(self._runner.cleanup())

    @property
    def surface(self) -> Any:
        from bot.slack import SLACK

        return self.app[SLACK]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def drain(self) -> None:
        """Wait until tokenbot has finished the work it acknowledged (lazy listeners)."""
        self.fake.background.run(self.surface.lazy.drain(WAIT_SECONDS))

    # -- raw posting

    def post(
        self,
        body: str,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        signed: bool = True,
    ) -> Sent:
        all_headers = {"Content-Type": content_type, "User-Agent": "Slackbot 1.0"}
        if signed:
            all_headers.update(sign(body, secret, timestamp))
        all_headers.update(headers or {})
        return post(self.url, body, all_headers)

    def post_form(self, fields: dict[str, Any], **options: Any) -> Sent:
        return self.post(form_body(fields), **options)

    def post_payload(self, payload: dict[str, Any], **options: Any) -> Sent:
        return self.post(payload_body(payload), **options)

    def post_json(self, body: dict[str, Any], **options: Any) -> Sent:
        return self.post(json.dumps(body), content_type="application/json", **options)

    # -- what people do in Slack

    def command(self, text: str, *, user: str, channel: str = GENERAL, **options: Any) -> Sent:
        """`/tokens TEXT` typed by `user` in `channel`."""
        n = next(self._counter)
        response_url = self.fake.response_url(f"command-{n}")
        # Slack gives every invocation its own trigger id (a redelivery carries the same one).
        trigger_id = f"13345224609.738474920.{n:019x}"
        fields = slash_command(
            text, user_id=user, response_url=response_url, channel_id=channel, trigger_id=trigger_id
        )
        return replace(
            self.post_form(fields, **options), response_url=response_url, trigger_id=trigger_id
        )

    def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str,
        channel: str = GENERAL,
        is_ephemeral: bool = True,
        container: str = "message",
        **options: Any,
    ) -> Sent:
        """A button press (action_id and value as tokenbot rendered them)."""
        response_url = (
            None if container == "view" else self.fake.response_url(f"click-{next(self._counter)}")
        )
        payload = block_actions(
            action_id,
            value,
            user_id=user,
            response_url=response_url,
            channel_id=channel,
            is_ephemeral=is_ephemeral,
            container=container,
        )
        return replace(self.post_payload(payload, **options), response_url=response_url)

    def click_button(self, call: SlackCall, label: str, *, user: str, **options: Any) -> Sent:
        """Press the button labelled `label` in a message the fake received."""
        for block in call.blocks:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("text", {}).get("text") == label:
                    return self.click(element["action_id"], element["value"], user=user, **options)
        raise AssertionError(f"no button {label!r} in {call.method}")

    def submit(
        self, view: dict[str, Any], values: dict[str, str], *, user: str, **options: Any
    ) -> Sent:
        """Submit a modal tokenbot opened (`view` as sent to views.open) with typed `values`."""
        kinds = {b["block_id"]: b["element"]["type"] for b in view.get("blocks", [])}
        payload = view_submission(
            view["callback_id"],
            values,
            user_id=user,
            private_metadata=view.get("private_metadata", ""),
            kinds=kinds,
        )
        return self.post_payload(payload, **options)

    def shortcut(self, callback_id: str, message_text: str, *, user: str, **options: Any) -> Sent:
        response_url = self.fake.response_url(f"shortcut-{next(self._counter)}")
        payload = message_shortcut(
            callback_id, message_text, user_id=user, response_url=response_url
        )
        return replace(self.post_payload(payload, **options), response_url=response_url)

    def event(
        self,
        event_body: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        **options: Any,
    ) -> Sent:
        headers = dict(options.pop("headers", None) or {})
        if retry_num is not None:
            headers.update(
                {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
            )
        return self.post_json(
            event_callback(event_body, event_id=event_id), headers=headers, **options
        )

    # -- reading answers

    def reply_to(self, sent: Sent, timeout: float = WAIT_SECONDS) -> SlackCall:
        """What tokenbot posted to the response_url of `sent`."""
        assert sent.response_url is not None, "this request carried no response_url"
        name = sent.response_url.rsplit("/", 1)[1]
        return self.fake.wait_for("response_url", where=lambda c: c.path == name, timeout=timeout)


# --- an artificially slow database ------------------------------------------------------------


class DatabaseHold:
    """Holds every SQL statement on an engine until `release()`: a database that is as slow as
    the test wants, without touching the code under test. `reached` is set once something
    tried to use the database."""

    def __init__(self, engine: Engine, timeout: float = WAIT_SECONDS * 2) -> None:
        self.engine = engine
        self.timeout = timeout
        self.released = threading.Event()
        self.reached = threading.Event()
        event.listen(engine, "before_cursor_execute", self._hold)

    def _hold(self, *_args: Any) -> None:
        self.reached.set()
        if not self.released.wait(self.timeout):
            raise TimeoutError("the database was held and never released")

    def release(self) -> None:
        self.released.set()

    def remove(self) -> None:
        self.release()
        if event.contains(self.engine, "before_cursor_execute", self._hold):
            event.remove(self.engine, "before_cursor_execute", self._hold)


@contextmanager
def hold_database(engine: Engine) -> Iterator[DatabaseHold]:
    hold = DatabaseHold(engine)
    try:
        yield hold
    finally:
        hold.remove()


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def slack(services: Any, fake_slack: FakeSlack) -> Iterator[SlackTestbed]:
    """tokenbot serving /slack/events against `fake_slack`, on the test's database."""
    testbed = SlackTestbed(services, fake_slack).start()
    try:
        yield testbed
    finally:
        testbed.stop()
