"""The Slack adapter: a Bolt `AsyncApp` on the one aiohttp server at `POST /slack/events`
(slash commands, interactivity and events share the URL), or over Socket Mode.

Every listener acknowledges at once and does the work in a Bolt lazy listener: Slack hears
back within its 3 seconds whatever the database is doing, and the answer follows through the
`response_url` (ephemeral) or the Web API. The domain is synchronous SQLAlchemy, so dispatch
runs in a worker thread (`asyncio.to_thread`), never on the event loop.

Translation only: `/tokens TEXT` -> IncomingMessage, a button -> IncomingAction (action_id and
value are the core's own), a modal submission -> IncomingAction with the form fields, the
"Estimate tokens" message shortcut -> IncomingMessage("estimate -- <message text>"). Identity is
resolved here, before dispatch: by `slack_user_id`, else by the users.info email, which then
links the Slack id to the person.

Private replies never reach a channel: answers go ephemerally through `response_url` or by
DM, and a private reply never replaces a message that everyone in a channel can see.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.lazy_listener.async_internals import to_runnable_function
from slack_bolt.lazy_listener.asyncio_runner import AsyncioLazyListenerRunner
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from sqlalchemy import delete

from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingAction, IncomingMessage, Reply
from bot.delivery import platform_deliverers
from bot.http_limits import FloodLog, read_body
from bot.outbox import deliver_or_queue, wake
from bot.slack.blocks import to_message, to_modal
from bot.slack.delivery import PLATFORM, SlackDeliverer, api_url
from budgets.directory import link_chat_id
from storage.database import upsert_insert
from storage.models import Person, SentNotice

if TYPE_CHECKING:
    from bot.bootstrap import Services

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
ESTIMATE_SHORTCUT = "estimate_message"
ANY = re.compile(".*")
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SLACK_TIMESTAMP = re.compile(r"[0-9]{1,12}")
SIGNATURE_HEADER = "x-slack-signature"
# Bolt refuses timestamps older than 5 minutes; a signature is remembered a little longer.
REPLAY_WINDOW = timedelta(minutes=6)
REPLAY_KEY_PREFIX = "slack-signature:"
REPLAY_KEY_END = "slack-signature;"  # the next string after every key with the prefix
MAILTO = re.compile(r"<mailto:([^<>|]+)(?:\|[^<>]*)?>")


def to_plain_text(text: str) -> str:
    """What the person typed: Slack auto-links emails (`<mailto:a@b.c|a@b.c>`) and escapes
    `&`, `<` and `>` in the text it sends."""
    text = MAILTO.sub(r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


DRAIN_SECONDS = 10.0  # how long shutdown waits for answers still being worked on


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code, or what went wrong when the answer was not Slack's JSON (slack_sdk
    then hands over the raw HTTP response, which has no `.get`)."""
    response = exc.response
    if isinstance(response, dict) or hasattr(response, "data"):
        return str(response.get("error"))
    return str(exc)


@dataclass(frozen=True)
class Target:
    """Where an answer goes: the asker, and what Slack gave us to reach them."""

    user_id: str
    response_url: str | None = None
    trigger_id: str | None = None
    channel_id: str | None = None
    # The message a button was on: may a reply replace it without exposing private data?
    on_shared_message: bool = False


class TrackedLazyRunner(AsyncioLazyListenerRunner):
    """Bolt's asyncio lazy runner starts tasks with ensure_future and keeps no reference, so
    a task can be garbage-collected mid-flight and shutdown cannot wait for it. This keeps
    them until they finish."""

    def __init__(self, logger: logging.Logger):
        super().__init__(logger)
        self.tasks: set[asyncio.Future] = set()

    def start(self, function, request) -> None:  # noqa: ANN001
        self.track(
            asyncio.ensure_future(
                to_runnable_function(internal_func=function, logger=self.logger, request=request)
            )
        )

    def track(self, task: asyncio.Future) -> None:
        """Keep `task` (lazy work, or work it started) until it finishes; `drain` waits for it."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until no lazy work is left (work may start more work, e.g. a home refresh)."""
        async with asyncio.timeout(timeout):
            while self.tasks:
                await asyncio.gather(*list(self.tasks), return_exceptions=True)


class RecentIds:
    """The last `size` delivery ids (Events API event ids; the trigger ids of commands and
    interactions): Slack redelivers (X-Slack-Retry-Num) what it did not hear back about in
    time; the redelivery must not act twice. Kept per process: with several web processes a
    redelivery may land elsewhere, which only re-publishes a Home tab (the one event tokenbot
    subscribes to), an idempotent effect, or answers a command twice."""

    def __init__(self, size: int = 2000):
        self.size = size
        self.ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, event_id: str) -> bool:
        if event_id in self.ids:
            return True
        self.ids[event_id] = None
        if len(self.ids) > self.size:
            self.ids.popitem(last=False)
        return False


class SlackRequest(AsyncBoltRequest):
    """Bolt's request, with one parsing bug worked around: slack_bolt (1.30) takes any form
    body that contains the word `payload` for an interactive payload, finds no `payload`
    field and dispatches an empty body (404), so `/tokens estimate this JSON payload` went
    unanswered. A form without a `payload` field is parsed as the plain form it is. Kept
    across Bolt's copies of the request (lazy listeners copy it)."""

    def __init__(self, *, body: str | dict, **options: Any):
        super().__init__(body=body, **options)
        if (
            isinstance(body, str)
            and self.mode == "http"
            and not self.body
            and "payload" in body
            and not body.startswith("{")
            and self.content_type != "application/json"
        ):
            form = dict(parse_qsl(body, keep_blank_values=True))
            if "payload" not in form:
                self.body = form
                self.context = build_async_context(
                    AsyncBoltContext(options.get("context") or {}), form
                )

    def to_copyable(self) -> SlackRequest:
        return SlackRequest(
            body=self.raw_body if self.mode == "http" else self.body,
            query=self.query,
            headers=self.headers,
            context=self.context.to_copyable(),
            mode=self.mode,
        )


class SlackSurface:
    def __init__(self, services: Services):
        settings = services.settings
        self.services = services
        self.dispatcher = Dispatcher(services)
        self.deliverer = SlackDeliverer(services)
        self.client = AsyncWebClient(token=settings.slack_bot_token, base_url=api_url(services))
        self.app = AsyncApp(
            name="tokenbot",
            client=self.client,
            signing_secret=settings.slack_signing_secret,
            request_verification_enabled=bool(settings.slack_signing_secret),
        )
        self.lazy = TrackedLazyRunner(self.app.logger)
        self.app.listener_runner.lazy_listener_runner = self.lazy
        self.recent_events = RecentIds()
        self.home_refreshes: dict[int, asyncio.Future] = {}  # person id -> the running refresh
        self.stale_homes: set[int] = set()  # changed again while their refresh ran
        self.replay_log = FloodLog("Slack: replayed signed requests refused")
        self.last_pruned: datetime | None = None
        self.app.middleware(self.skip_redelivered_events)
        self.app.command(ANY)(ack=self.acknowledge, lazy=[self.answer_command])
        self.app.block_action(ANY)(ack=self.acknowledge, lazy=[self.answer_click])
        self.app.view_submission(ANY)(ack=self.acknowledge, lazy=[self.answer_submission])
        self.app.message_shortcut(ESTIMATE_SHORTCUT)(
            ack=self.acknowledge, lazy=[self.answer_estimate_shortcut]
        )
        self.app.event("app_home_opened")(ack=self.acknowledge, lazy=[self.publish_home])

    # --- HTTP and Socket Mode -----------------------------------------------------------------

    async def handle_http(self, request: web.Request) -> web.Response:
        # Bolt parses the timestamp with int() and answers a 500 to anything else.
        if not SLACK_TIMESTAMP.fullmatch(request.headers.get(TIMESTAMP_HEADER, "")):
            return web.json_response({"error": "invalid request"}, status=401)
        # The signature covers the body, so it is read first: within the server's bounds.
        body = await read_body(request, authenticated=False)
        if isinstance(body, web.Response):
            return body
        # Not UTF-8: replaced characters no longer match the signature, so Bolt says 401.
        try:
            bolt_request = SlackRequest(
                body=body.decode("utf-8", errors="replace"),
                query=request.query_string,
                headers=request.headers,  # type: ignore[arg-type]
            )
        # Bolt decodes a JSON content type before any signature check, and reads the result
        # as an object (`.get`): JSON that is null, a list or a number fails there, and JSON
        # nested deeper than Python's recursion limit fails in the decoder.
        except (ValueError, AttributeError, RecursionError):
            return web.json_response(
                {"error": "invalid request", "message": "the body is not a JSON object"},
                status=400,
            )
        response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    async def socket_mode(self, _app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: stay connected over Socket Mode while the server runs.

        A bad SLACK_APP_TOKEN stops start-up (apps.connections.open is tried once first);
        after that the client connects, and reconnects, in the background."""
        app_token = self.services.settings.slack_app_token
        await self.client.apps_connections_open(app_token=app_token)
        handler = AsyncSocketModeHandler(self.app, app_token)
        connecting = asyncio.ensure_future(handler.connect_async())
        try:
            yield
        finally:
            connecting.cancel()
            await handler.close_async()

    async def drain(self, _app: web.Application | None = None) -> None:
        try:
            await self.lazy.drain(DRAIN_SECONDS)
        except TimeoutError:
            log.warning("shutting down with %d Slack answers unfinished", len(self.lazy.tasks))

    # --- listeners: acknowledge now, answer in the lazy function --------------------------------

    async def is_replay(self, req: AsyncBoltRequest) -> bool:
        """True for a byte-identical copy of a signed request already acted on. Bolt accepts
        any request whose signature and timestamp are valid for 5 minutes, so a copy (from a
        proxy log, a captured request) would run again; Slack's own redeliveries are signed
        anew (new timestamp) and handled by `skip_redelivered_events`. Checked in the lazy
        work, not before the ack (which must not wait for the database). Signatures are kept
        in the database (the exactly-once guard table, `sent_notices`), so a replay to another
        web process is refused too. When the database cannot say, the work goes on: it needs
        the database anyway."""
        signature = (req.headers.get(SIGNATURE_HEADER) or [""])[0]
        if req.mode != "http" or not signature:
            return False
        try:
            first = await asyncio.to_thread(self.first_sighting, signature)
        except Exception as exc:
            self.replay_log.note(f"could not check for a replay: {type(exc).__name__}")
            return False
        if not first:
            self.replay_log.note(f"signature {signature[:12]}... seen already")
        return not first

    def first_sighting(self, signature: str) -> bool:
        """Remember `signature`; False when it was already remembered (a replay)."""
        now = self.services.clock()
        key = f"{REPLAY_KEY_PREFIX}{hashlib.sha256(signature.encode()).hexdigest()}"
        with self.services.db.unit_of_work() as uow:
            session = uow.session
            if self.last_pruned is None or now - self.last_pruned > REPLAY_WINDOW:
                session.execute(
                    delete(SentNotice).where(
                        SentNotice.key >= REPLAY_KEY_PREFIX,
                        SentNotice.key < REPLAY_KEY_END,
                        SentNotice.sent_at < now - REPLAY_WINDOW,
                    )
                )
                self.last_pruned = now
            inserted = session.scalar(
                upsert_insert(session, SentNotice.__table__)
                .values(key=key, sent_at=now)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(SentNotice.key)
            )
            uow.commit()
        return inserted is not None

    async def skip_redelivered_events(
        self,
        req: AsyncBoltRequest,
        body: dict[str, Any],
        next_,  # noqa: ANN001
    ) -> BoltResponse | None:
        """An event is acted on once per event id. A command or an interaction is acted on
        again only when it is not a retry: every invocation has its own trigger id, so a
        delivery marked X-Slack-Retry-Num with a trigger id already seen is a redelivery."""
        is_event = body.get("type") == "event_callback"
        delivery = body.get("event_id") if is_event else body.get("trigger_id")
        retried = bool(req.headers.get("x-slack-retry-num"))
        if delivery and self.recent_events.seen(delivery) and (is_event or retried):
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        return await next_()

    async def acknowledge(self, ack) -> None:  # noqa: ANN001
        await ack()

    async def answer_command(self, body: dict[str, Any], request: AsyncBoltRequest) -> None:
        if await self.is_replay(request):
            return
        user_id = body["user_id"]
        await self.answer(
            IncomingMessage(
                PLATFORM,
                user_id,
                to_plain_text(body.get("text") or ""),
                body.get("channel_id"),
                message_id=body.get("trigger_id"),
            ),
            Target(
                user_id=user_id,
                response_url=body.get("response_url"),
                trigger_id=body.get("trigger_id"),
                channel_id=body.get("channel_id"),
            ),
        )

    async def answer_estimate_shortcut(
        self, body: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        if await self.is_replay(request):
            return
        user_id = body["user"]["id"]
        channel_id = (body.get("channel") or {}).get("id")
        text = to_plain_text((body.get("message") or {}).get("text") or "")
        await self.answer(
            # `--` ends the options: a message starting with "--model" is text to estimate.
            IncomingMessage(PLATFORM, user_id, f"estimate -- {text}", channel_id),
            Target(
                user_id=user_id,
                response_url=body.get("response_url"),
                trigger_id=body.get("trigger_id"),
                channel_id=channel_id,
            ),
        )

    async def answer_click(self, body: dict[str, Any], request: AsyncBoltRequest) -> None:
        if await self.is_replay(request):
            return
        action = body["actions"][0]
        user_id = body["user"]["id"]
        container = body.get("container") or {}
        channel_id = (body.get("channel") or {}).get("id") or container.get("channel_id")
        shared = (
            container.get("type") == "message"
            and not container.get("is_ephemeral", False)
            and not (channel_id or "").startswith("D")
        )
        value = action.get("value") or (action.get("selected_option") or {}).get("value") or ""
        await self.answer(
            IncomingAction(PLATFORM, user_id, action["action_id"], value),
            Target(
                user_id=user_id,
                response_url=body.get("response_url"),
                trigger_id=body.get("trigger_id"),
                channel_id=channel_id,
                on_shared_message=shared,
            ),
        )

    async def answer_submission(self, body: dict[str, Any], request: AsyncBoltRequest) -> None:
        if await self.is_replay(request):
            return
        view = body["view"]
        user_id = body["user"]["id"]
        metadata = json.loads(view.get("private_metadata") or "{}")
        fields = {
            block_id: (state.get("value") or "")
            for block_id, elements in view.get("state", {}).get("values", {}).items()
            for state in elements.values()
        }
        await self.answer(
            IncomingAction(
                PLATFORM, user_id, view["callback_id"], metadata.get("value", ""), fields
            ),
            Target(
                user_id=user_id,
                response_url=metadata.get("response_url"),
                channel_id=metadata.get("channel_id"),
            ),
        )

    async def publish_home(self, event: dict[str, Any]) -> None:
        if event.get("tab") != "home":
            return
        try:
            person = await self.identify(event["user"])
            await asyncio.to_thread(self.deliverer.publish_home, event["user"], person)
        except Exception:
            log.exception("App Home publish failed for %s", event.get("user"))

    # --- the one path from Slack to the dispatcher and back ---------------------------------------

    async def answer(self, incoming: IncomingMessage | IncomingAction, target: Target) -> None:
        try:
            person = await self.identify(target.user_id)
            if isinstance(incoming, IncomingMessage):
                reply = await asyncio.to_thread(self.dispatcher.handle_message, incoming, person)
            else:
                reply = await asyncio.to_thread(self.dispatcher.handle_action, incoming, person)
            await self.send(reply, target)
            if person is not None and (isinstance(incoming, IncomingAction) or reply.notices):
                await self.refresh_homes([person.id, *(n.to_person_id for n in reply.notices)])
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            log.exception("Slack answer failed (error id %s)", error_id)
            try:
                await self.respond(Reply("internal_error", {"error_id": error_id}), target)
            except Exception:
                log.exception("could not tell %s about error %s", target.user_id, error_id)

    async def identify(self, slack_user_id: str) -> Person | None:
        """The directory's person for a Slack user; links them by email on first contact."""
        probe = IncomingMessage(PLATFORM, slack_user_id, "")
        person = await asyncio.to_thread(self.dispatcher.resolve, probe)
        if person is not None:
            return person
        try:
            user = (await self.client.users_info(user=slack_user_id)).get("user") or {}
        except SlackApiError as exc:
            log.warning("users.info failed for %s: %s", slack_user_id, slack_error(exc))
            return None
        email = (user.get("profile") or {}).get("email")
        if user.get("is_bot") or user.get("deleted") or not email:
            return None
        return await asyncio.to_thread(self._link, slack_user_id, email)

    def _link(self, slack_user_id: str, email: str) -> Person | None:
        with self.services.db.unit_of_work() as uow:
            person = link_chat_id(uow.session, email, PLATFORM, slack_user_id)
            if person is None:
                log.info(
                    "Slack user %s (%s) is not linkable to the directory", slack_user_id, email
                )
                return None
            wake(uow.session, person.id)  # what waited for them (an approval) is due now
            uow.commit()
            log.info("linked Slack user %s to %s", slack_user_id, person.email)
            return person

    async def send(self, reply: Reply, target: Target) -> None:
        if reply.form is not None:
            if not await self.open_form(reply, target):
                await self.respond(Reply("form_expired"), target)
        else:
            await self.respond(reply, target)
        # Notices reach people where they are: Slack first, then the other platforms.
        others = [d for d in platform_deliverers(self.services) if d.platform != PLATFORM]
        # One that reaches no platform yet waits in the outbox (and who must know is told).
        await asyncio.to_thread(
            deliver_or_queue, self.services, [self.deliverer, *others], reply.notices
        )

    async def respond(self, reply: Reply, target: Target) -> None:
        """Ephemeral through response_url (replacing the clicked message when asked and safe),
        else a DM: never a post that others in a channel can read."""
        message = to_message(self.services.renderer, reply)
        if target.response_url:
            replace = reply.replace_original and not (reply.private and target.on_shared_message)
            webhook = AsyncWebhookClient(target.response_url)
            if replace:
                sent = await webhook.send(replace_original=True, **message)
            else:
                sent = await webhook.send(
                    response_type="ephemeral", replace_original=False, **message
                )
            if sent.status_code == 200:
                return
            log.warning("response_url answered %s: %s; sending a DM", sent.status_code, sent.body)
        await asyncio.to_thread(self.deliverer.send_dm, target.user_id, message)

    async def open_form(self, reply: Reply, target: Target) -> bool:
        """views.open needs the trigger_id within 3 s of the click; False when it has expired."""
        assert reply.form is not None
        metadata = json.dumps(
            {
                "value": reply.form.value,
                "response_url": target.response_url,
                "channel_id": target.channel_id,
            }
        )
        view = to_modal(self.services.renderer, reply.form, metadata)
        if not target.trigger_id:
            return False
        try:
            await self.client.views_open(trigger_id=target.trigger_id, view=view)
        except SlackApiError as exc:
            if exc.response.get("error") in ("expired_trigger_id", "invalid_trigger_id"):
                return False
            raise
        return True

    async def refresh_homes(self, person_ids: list[int | None]) -> None:
        """Publish these people's App Homes again, in the background. At most one refresh per
        person runs at a time; changes made meanwhile are shown by one more refresh after it,
        not one each (a manager whose team files ten requests in a burst gets two publishes,
        not ten: each builds the whole dashboard). A failed refresh is logged; the action
        that asked for it has succeeded and is answered as such."""
        for person_id in dict.fromkeys(p for p in person_ids if p is not None):
            if person_id in self.home_refreshes:
                self.stale_homes.add(person_id)
                continue
            task = asyncio.ensure_future(self._refresh_home(person_id))
            self.home_refreshes[person_id] = task
            self.lazy.track(task)

    async def _refresh_home(self, person_id: int) -> None:
        try:
            while True:
                # What changes before this line, the refresh below shows; later ones mark the
                # home stale again and get one more round.
                self.stale_homes.discard(person_id)
                try:
                    await asyncio.to_thread(self.deliverer.refresh_home, person_id)
                except Exception:
                    log.exception("App Home refresh failed for person %s", person_id)
                if person_id not in self.stale_homes:
                    return
        finally:
            self.home_refreshes.pop(person_id, None)
