"""A fake Bot Connector service for Teams adapter tests, and the real tokenbot server talking
to it.

Everything is real HTTP on 127.0.0.1 (port 0), on a background event loop (the one of
slack_fakes.py), so tests stay plain synchronous pytest functions:

- `FakeConnector`: the parts of the Bot Connector REST API (v3) a bot calls, recording each
  call (`ConnectorCall`: verb, kind, conversation, activity id, JSON body):
  POST /v3/conversations (create a 1:1 chat), POST .../activities (send),
  POST .../activities/{id} (reply), PUT .../activities/{id} (update a card in place) and
  GET .../members/{userId} (the Teams member lookup, answered from `add_member`).
  `refuse_user` / `refuse_conversation` make it answer 403 as Teams does for someone who does
  not have the app.
- activity builders (`message`, `submit`, `execute`, `conversation_update`,
  `installation_update`) shape activities as Teams sends them, with `serviceUrl` pointing at
  the fake.
- `TeamsTestbed`: the real `bot.server.build_app`, Teams mounted, in local/emulator mode unless
  given credentials; `post()` sends an activity to /api/messages as the Bot Framework would.

The server answers a Teams activity within its request, so when `post()` returns, everything
tokenbot sent for it has reached the fake.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from aiohttp import web

from tests.adapters.slack_fakes import WAIT_SECONDS, BackgroundLoop

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BOT_ID = "28:tokenbot-app-id"
BOT_NAME = "tokenbot"
APP_ID = "00000000-0000-0000-0000-00000000b07a"
APP_PASSWORD = "not-a-real-secret"
GENERAL_TEAM = "19:acme-general@thread.tacv2"
CARD = "application/vnd.microsoft.card.adaptive"


@dataclass(frozen=True)
class ConnectorCall:
    verb: str  # POST, PUT, GET
    kind: str  # create, send, reply, update, member
    conversation_id: str = ""
    activity_id: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)
    status: int = 200

    @property
    def card(self) -> dict[str, Any]:
        """The Adaptive Card the activity carries ({} if none)."""
        for item in self.body.get("attachments") or []:
            if item.get("contentType") == CARD:
                return item["content"]
        return {}

    @property
    def card_text(self) -> str:
        """Every text a person sees on the card: text blocks, facts, inputs and buttons."""
        return "\n".join(_texts(self.card))

    @property
    def summary(self) -> str:
        return self.body.get("summary") or ""

    def button(self, title: str) -> dict[str, Any]:
        for action in self.card.get("actions") or []:
            if action.get("title") == title:
                return action
        raise AssertionError(f"no button {title!r} on the card: {self.card_text}")


def _texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [
            node[k] for k in ("text", "title", "value", "label") if isinstance(node.get(k), str)
        ]
        return found + [t for key, v in node.items() if key != "data" for t in _texts(v)]
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    return []


@dataclass
class FakeMember:
    id: str
    name: str
    email: str | None = None
    upn: str | None = None
    aad_object_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "aadObjectId": self.aad_object_id,
            "email": self.email,
            "userPrincipalName": self.upn or self.email,
            "tenantId": TENANT,
            "userRole": "user",
        }


class FakeConnector:
    def __init__(self, background: BackgroundLoop | None = None) -> None:
        self.background = background or BackgroundLoop()
        self._owns_loop = background is None
        self.members: dict[str, FakeMember] = {}
        self.refused_users: set[str] = set()
        self.refused_conversations: set[str] = set()
        self._calls: list[ConnectorCall] = []
        self._changed = threading.Condition()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle

    def start(self) -> FakeConnector:
        self.background.run(self._start())
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{conversation}/activities", self._post_activity)
        app.router.add_post(
            "/v3/conversations/{conversation}/activities/{activity}", self._post_activity
        )
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._update)
        app.router.add_get("/v3/conversations/{conversation}/members/{user}", self._member)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if self._runner is not None:
            self.background.run(self._runner.cleanup())
        if self._owns_loop:
            self.background.close()

    def __enter__(self) -> FakeConnector:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests set up

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def add_member(
        self,
        user_id: str,
        name: str,
        email: str | None,
        *,
        upn: str | None = None,
        aad_object_id: str | None = None,
    ) -> FakeMember:
        """Make the member lookup (GET .../members/{userId}) know a Teams user."""
        member = FakeMember(user_id, name, email, upn, aad_object_id)
        self.members[user_id] = member
        return member

    def refuse_user(self, user_id: str) -> None:
        """Creating a 1:1 chat with this user answers 403 (the app is not installed for them)."""
        self.refused_users.add(user_id)

    def refuse_conversation(self, conversation_id: str) -> None:
        """Posting into this conversation answers 403 (the user removed or blocked the bot)."""
        self.refused_conversations.add(conversation_id)

    # -- what tests read

    @property
    def calls(self) -> list[ConnectorCall]:
        with self._changed:
            return list(self._calls)

    def calls_of(self, kind: str) -> list[ConnectorCall]:
        return [c for c in self.calls if c.kind == kind]

    def messages(self, conversation_id: str | None = None) -> list[ConnectorCall]:
        """Every activity tokenbot sent (new or as a reply), optionally into one conversation."""
        return [
            c
            for c in self.calls
            if c.kind in ("send", "reply")
            and c.status < 300
            and (conversation_id is None or c.conversation_id == conversation_id)
        ]

    def last_message(self, conversation_id: str | None = None) -> ConnectorCall:
        found = self.messages(conversation_id)
        assert found, f"nothing was sent to {conversation_id or 'any conversation'}: {self.calls}"
        return found[-1]

    def clear(self) -> None:
        with self._changed:
            self._calls.clear()

    # -- the server side

    def _record(self, call: ConnectorCall) -> ConnectorCall:
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()
        return call

    async def _answer(
        self, request: web.Request, kind: str, answer: Callable[[dict[str, Any]], tuple[int, dict]]
    ) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        status, response = answer(body)
        self._record(
            ConnectorCall(
                request.method,
                kind,
                request.match_info.get("conversation", ""),
                request.match_info.get("activity", ""),
                body,
                response,
                status,
            )
        )
        return web.json_response(response, status=status)

    def _refused(self, what: str) -> tuple[int, dict[str, Any]]:
        return 403, {"error": {"code": "Forbidden", "message": f"{what}: bot is not installed"}}

    async def _create(self, request: web.Request) -> web.Response:
        def answer(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            user = ((body.get("members") or [{}])[0]).get("id", "")
            if user in self.refused_users:
                return self._refused(user)
            return 201, {"id": f"a:personal-{user}", "activityId": ""}

        return await self._answer(request, "create", answer)

    async def _post_activity(self, request: web.Request) -> web.Response:
        """Send (POST .../activities) or reply (POST .../activities/{id})."""
        conversation = request.match_info["conversation"]
        kind = "reply" if "activity" in request.match_info else "send"

        def answer(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            if conversation in self.refused_conversations:
                return self._refused(conversation)
            return 201, {"id": f"activity-{next(self._ids)}"}

        return await self._answer(request, kind, answer)

    async def _update(self, request: web.Request) -> web.Response:
        activity = request.match_info["activity"]
        return await self._answer(request, "update", lambda body: (200, {"id": activity}))

    async def _member(self, request: web.Request) -> web.Response:
        def answer(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            member = self.members.get(request.match_info["user"])
            if member is None:
                return 404, {"error": {"code": "MemberNotFoundInConversation", "message": "no"}}
            return 200, member.to_json()

        return await self._answer(request, "member", answer)


# --- activities as Teams sends them -----------------------------------------------------------

_ids = itertools.count(1)


def personal_conversation(user_id: str) -> str:
    return f"a:personal-{user_id}"


def _base(
    kind: str,
    service_url: str,
    user_id: str,
    *,
    scope: str = "personal",
    name: str = "Someone",
    aad_object_id: str | None = None,
    channel: str = "ai-wins",
    team: tuple[str, str] = (GENERAL_TEAM, "Acme"),
) -> dict[str, Any]:
    activity: dict[str, Any] = {
        "type": kind,
        "id": f"incoming-{next(_ids)}",
        "timestamp": "2026-11-18T10:00:00.000Z",
        "serviceUrl": service_url,
        "channelId": "msteams",
        "from": {"id": user_id, "name": name, "aadObjectId": aad_object_id},
        "recipient": {"id": BOT_ID, "name": BOT_NAME},
        "locale": "en-US",
    }
    if scope == "personal":
        activity["conversation"] = {
            "id": personal_conversation(user_id),
            "conversationType": "personal",
            "tenantId": TENANT,
        }
        activity["channelData"] = {"tenant": {"id": TENANT}}
    else:
        # A team's General channel has the team's id and, in channelData, no name.
        general = channel == "General"
        channel_id = team[0] if general else f"19:{channel}@thread.tacv2"
        activity["conversation"] = {
            "id": f"{channel_id};messageid=1700000000000",
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": TENANT,
        }
        activity["channelData"] = {
            "tenant": {"id": TENANT},
            "team": {"id": team[0], "name": team[1]},
            "channel": {"id": channel_id} if general else {"id": channel_id, "name": channel},
        }
    return activity


def message(service_url: str, user_id: str, text: str, **options: Any) -> dict[str, Any]:
    """A message typed by `user_id`; in a channel (`scope="channel"`) it @mentions the bot."""
    activity = _base("message", service_url, user_id, **options)
    if options.get("scope", "personal") != "personal":
        mention = f"<at>{BOT_NAME}</at>"
        text = f"{mention} {text}"
        activity["entities"] = [
            {"type": "mention", "text": mention, "mentioned": {"id": BOT_ID, "name": BOT_NAME}}
        ]
    activity["text"] = text
    activity["textFormat"] = "plain"
    return activity


def submit(
    service_url: str, user_id: str, data: dict[str, Any], reply_to_id: str, **options: Any
) -> dict[str, Any]:
    """An Action.Submit click: a message whose `value` is the action's data plus any inputs."""
    activity = _base("message", service_url, user_id, **options)
    activity["value"] = data
    activity["replyToId"] = reply_to_id
    return activity


def execute(
    service_url: str, user_id: str, data: dict[str, Any], reply_to_id: str, **options: Any
) -> dict[str, Any]:
    """An Action.Execute click: an `adaptiveCard/action` invoke."""
    activity = _base("invoke", service_url, user_id, **options)
    activity["name"] = "adaptiveCard/action"
    activity["value"] = {
        "action": {"type": "Action.Execute", "verb": data.get("action_id"), "data": data},
        "trigger": "manual",
    }
    activity["replyToId"] = reply_to_id
    return activity


def conversation_update(
    service_url: str, user_id: str, *, added: list[str] | None = None, **options: Any
) -> dict[str, Any]:
    """The app installed: the bot (and, in a 1:1 chat, the person) added to the conversation."""
    activity = _base("conversationUpdate", service_url, user_id, **options)
    activity["membersAdded"] = [{"id": m} for m in (added if added is not None else [BOT_ID])]
    if options.get("scope", "personal") != "personal":
        activity["conversation"]["id"] = activity["conversation"]["id"].split(";")[0]
        activity["channelData"]["eventType"] = "teamMemberAdded"
    return activity


def installation_update(
    service_url: str, user_id: str, action: str = "add", **options: Any
) -> dict[str, Any]:
    activity = _base("installationUpdate", service_url, user_id, **options)
    activity["action"] = action
    return activity


# --- the real tokenbot server, Teams pointing at the fake --------------------------------------


@dataclass(frozen=True)
class Sent:
    """What the Bot Framework would get back from tokenbot for one activity."""

    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


class TeamsTestbed:
    """tokenbot's real aiohttp app on 127.0.0.1 with Teams mounted: in local/emulator mode,
    or with `credentials` (app id and password) when given."""

    def __init__(self, services: Any, fake: FakeConnector, *, credentials: bool = False) -> None:
        from bot.server import build_app

        self.fake = fake
        self.services = services
        services.settings = replace(
            services.settings,
            microsoft_app_id=APP_ID if credentials else "",
            microsoft_app_password=APP_PASSWORD if credentials else "",
            microsoft_app_tenant_id=TENANT if credentials else "",
        )
        self.app = build_app(services)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def start(self) -> TeamsTestbed:
        async def start() -> None:
            self._runner = web.AppRunner(self.app)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = self._runner.addresses[0][1]

        self.fake.background.run(start())
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self.fake.background.run(self._runner.cleanup())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/messages"

    @property
    def surface(self) -> Any:
        from bot.teams import TEAMS

        return self.app[TEAMS]

    @property
    def deliverer(self) -> Any:
        return self.surface.deliverer

    def post(self, activity: dict[str, Any], *, headers: dict[str, str] | None = None) -> Sent:
        data = json.dumps(activity).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        request = urllib.request.Request(self.url, data=data, headers=all_headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=WAIT_SECONDS) as response:
                return Sent(response.status, response.read().decode())
        except urllib.error.HTTPError as error:
            return Sent(error.code, error.read().decode())

    # -- what people do in Teams

    def say(self, user_id: str, text: str, **options: Any) -> Sent:
        return self.post(message(self.fake.service_url, user_id, text, **options))

    def press(self, card_message: ConnectorCall, title: str, user_id: str, **inputs: Any) -> Sent:
        """Press a card's Action.Submit button (as Teams: a message with the data, replying to
        the card's activity)."""
        data = {**card_message.button(title)["data"], **inputs}
        reply_to = card_message.response.get("id") or card_message.activity_id
        conversation = card_message.conversation_id
        activity = submit(self.fake.service_url, user_id, data, reply_to)
        activity["conversation"]["id"] = conversation
        return self.post(activity)

    def execute(self, card_message: ConnectorCall, title: str, user_id: str) -> Sent:
        """Press the same button as an Action.Execute (an adaptiveCard/action invoke)."""
        data = card_message.button(title)["data"]
        reply_to = card_message.response.get("id") or card_message.activity_id
        activity = execute(self.fake.service_url, user_id, data, reply_to)
        activity["conversation"]["id"] = card_message.conversation_id
        return self.post(activity)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def fake_connector() -> Iterator[FakeConnector]:
    with FakeConnector() as fake:
        yield fake


@pytest.fixture
def teams(services: Any, fake_connector: FakeConnector) -> Iterator[TeamsTestbed]:
    """tokenbot serving /api/messages in local/emulator mode against `fake_connector`."""
    testbed = TeamsTestbed(services, fake_connector).start()
    try:
        yield testbed
    finally:
        testbed.stop()
