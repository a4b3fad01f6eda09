"""The Teams adapter: Bot Framework activities at `POST /api/messages` on the one aiohttp server.

Translation only: a message's text (the bot's @mention removed) -> IncomingMessage; a card
button -> IncomingAction, whether it comes back as an Action.Submit message (its `value` is the
action's data plus any card inputs) or an Action.Execute invoke (`adaptiveCard/action`);
the `Reply` -> an Adaptive Card. Identity is resolved here, before dispatch: the directory's
`teams_user_id` (the `29:` id or the AAD object id), else the email or UPN of the Teams member
(GET /v3/conversations/{id}/members/{userId}), which then links the `29:` id to the person.

Authentication is the SDK's own JWT validation (`authenticate_request`); a request it refuses
gets 401. Without MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD there is nothing to validate
against (local/emulator mode): then only requests from this machine, answered at a loopback
service URL, are taken, so an unauthenticated endpoint can neither be driven nor read from
elsewhere.

Privacy: in a channel or group chat, a private reply is never posted: it goes to the asker's
1:1 chat and the channel is told so. Work runs in the request (the Bot Framework waits 15 s
for an answer, Teams ~5 s for an invoke's); the domain is synchronous SQLAlchemy, so dispatch
and every database call run in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

import jwt
from aiohttp import web
from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity, ActivityTypes
from sqlalchemy import or_, select

from bot.core.dispatch import Dispatcher
from bot.core.messages import IncomingAction, IncomingMessage, Notice, Reply
from bot.delivery import platform_deliverers
from bot.http_limits import read_body
from bot.outbox import deliver_or_queue, wake
from bot.request_bodies import MalformedBody, decode_json
from bot.teams.cards import CARD_CONTENT_TYPE, RESERVED_INPUTS, action_data
from bot.teams.delivery import (
    PLATFORM,
    TeamsDeliverer,
    build_adapter,
    card_activity,
    has_credentials,
    is_canonical_loopback_url,
    person_key,
    reference_of,
)
from budgets.directory import link_chat_id
from storage.models import Person

if TYPE_CHECKING:
    from bot.bootstrap import Services

log = logging.getLogger(__name__)

MESSAGES_PATH = "/api/messages"
CARD_ACTION_INVOKE = "adaptiveCard/action"
MESSAGE_RESPONSE_TYPE = "application/vnd.microsoft.activity.message"
SHARED_CONVERSATIONS = {"channel", "groupChat"}
AT_TAG = re.compile(r"</?at[^>]*>", re.IGNORECASE)
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
BOT_FRAMEWORK_ALGORITHMS = {"RS256", "RS384", "RS512"}  # what the SDK's validation allows
MAX_TOKEN_CHARS = 16_384
# Raised by the SDK's validation for a missing, malformed or untrusted token.
AUTH_REFUSALS = (PermissionError, jwt.PyJWTError, ValueError, KeyError, TypeError, IndexError)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_local_request(request: web.Request, activity: Activity) -> bool:
    """Local/emulator mode takes only what comes from this machine, unproxied, and answers
    only at a canonical loopback service URL (as the SDK's HTTP client reads it)."""
    direct = not any(h in request.headers for h in FORWARDING_HEADERS)
    return (
        direct and is_loopback(request.remote) and is_canonical_loopback_url(activity.service_url)
    )


def is_plausible_bot_framework_token(header: str) -> bool:
    """A bearer JWT that the SDK could accept: Microsoft signs with RSA keys it names by `kid`.
    `alg: none`, HS256 (algorithm confusion) and the like are refused here, unverified header
    only, without fetching any keys; the SDK verifies everything else."""
    scheme, _, token = header.partition(" ")
    if scheme != "Bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        return False
    try:
        unverified = jwt.get_unverified_header(token.strip())
    except jwt.PyJWTError:
        return False
    return unverified.get("alg") in BOT_FRAMEWORK_ALGORITHMS and bool(unverified.get("kid"))


def message_text(activity: Activity) -> str:
    """What the person typed: without the bot's @mention (channels and group chats put
    `<at>tokenbot</at>` in the text), other mentions reduced to their names, entities decoded."""
    text = activity.text or ""
    bot_id = activity.recipient.id if activity.recipient else None
    for entity in activity.entities or []:
        props = entity.additional_properties or {}
        if entity.type == "mention" and (props.get("mentioned") or {}).get("id") == bot_id:
            text = text.replace(props.get("text") or "", " ")
    return html.unescape(AT_TAG.sub("", text)).replace("\xa0", " ").strip()


def conversation_type(activity: Activity) -> str:
    """personal, channel or groupChat; the Emulator and Web Chat give none: 1:1 chats."""
    return (activity.conversation.conversation_type if activity.conversation else None) or (
        "personal"
    )


def channel_name(activity: Activity) -> str | None:
    """The channel's display name; a team's General channel (whose id is the team's) has none."""
    data = activity.channel_data or {}
    channel, team = data.get("channel") or {}, data.get("team") or {}
    if channel.get("name"):
        return channel["name"]
    if channel.get("id") and channel.get("id") == team.get("id"):
        return "General"
    return None


def team_of(activity: Activity) -> tuple[str, str | None] | None:
    """(id, name) of the Teams team a channel activity comes from, when Teams says."""
    team = (activity.channel_data or {}).get("team") or {}
    return (team["id"], team.get("name")) if team.get("id") else None


def form_inputs(data: dict[str, Any]) -> dict[str, str]:
    return {
        key: "" if value is None else str(value)
        for key, value in data.items()
        if key not in RESERVED_INPUTS
    }


class TeamsSurface:
    def __init__(self, services: Services):
        self.services = services
        self.dispatcher = Dispatcher(services)
        self.adapter = build_adapter(services.settings)
        self.deliverer = TeamsDeliverer(services, self.adapter)
        self.local_mode = not has_credentials(services.settings)

    # --- HTTP ---------------------------------------------------------------------------------

    async def handle_http(self, request: web.Request) -> web.Response:
        # The media type itself, parameters (charset) aside: `text/plain;application/json` is
        # text/plain, which a web page may send cross-origin without a preflight.
        if request.content_type != "application/json":
            return web.Response(status=415)
        header = request.headers.get("Authorization", "")
        if not self.local_mode and not is_plausible_bot_framework_token(header):
            # Before the body is read or parsed: nothing deep is done for strangers.
            log.info("refused a Teams request from %s: no RS256 bearer token", request.remote)
            return web.Response(status=401)
        body = await read_body(request, authenticated=False)
        if isinstance(body, web.Response):
            return body
        try:
            decoded = decode_json(body)
            if not isinstance(decoded, dict):  # null, a list, a number: JSON, not an activity
                return web.json_response(
                    {
                        "error": "malformed",
                        "message": "the body must be a JSON object (an activity)",
                    },
                    status=400,
                )
            activity = Activity().deserialize(decoded)
        except MalformedBody as malformed:
            return web.json_response(
                {"error": "malformed", "message": malformed.reason}, status=400
            )
        except (ValueError, TypeError, AttributeError):  # JSON, but not an activity
            return web.Response(status=400)
        if activity is None or not activity.type:
            return web.Response(status=400)
        if self.local_mode and not is_local_request(request, activity):
            log.warning(
                "refused a Teams request from %s for %s: local/emulator mode takes only local "
                "requests (set MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD for Teams)",
                request.remote,
                activity.service_url,
            )
            return web.Response(status=401)
        authenticated = await self.authenticate(activity, header)
        if isinstance(authenticated, web.Response):
            return authenticated
        invoke = await self.adapter.process_activity(authenticated, activity, self.on_turn)
        if invoke is not None:
            return web.json_response(invoke.body, status=invoke.status)
        return web.Response(status=201)

    async def authenticate(self, activity: Activity, header: str) -> Any:
        """The SDK's validation of the Authorization header. It fetches Microsoft's signing
        keys with blocking HTTP (daily), so it runs on a worker thread's own loop."""
        auth = self.adapter.bot_framework_authentication
        try:
            return await asyncio.to_thread(asyncio.run, auth.authenticate_request(activity, header))
        except AUTH_REFUSALS as exc:
            log.warning("refused a Bot Framework request: %s: %s", type(exc).__name__, exc)
            return web.Response(status=401)
        except Exception as exc:  # e.g. Microsoft's signing keys could not be fetched
            log.error("could not validate a Bot Framework token: %s: %s", type(exc).__name__, exc)
            return web.Response(status=503, headers={"Retry-After": "5"})

    # --- one turn -------------------------------------------------------------------------------

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        kind = activity.type
        try:
            if kind == ActivityTypes.message:
                await self.on_message(turn_context)
            elif kind == ActivityTypes.invoke:
                await self.on_invoke(turn_context)
            elif kind == ActivityTypes.conversation_update:
                await self.on_conversation_update(turn_context)
            elif kind == ActivityTypes.installation_update:
                await self.on_installation_update(turn_context)
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            log.exception("Teams turn failed (error id %s)", error_id)
            if kind in (ActivityTypes.message, ActivityTypes.invoke):
                await self.say_internal_error(turn_context, error_id)

    async def on_message(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        person = await self.identify(turn_context)
        await self.remember_conversation(turn_context, person)
        data = action_data(activity.value)
        if data is not None:
            incoming: IncomingMessage | IncomingAction = self.to_action(activity, data)
        else:
            incoming = IncomingMessage(
                PLATFORM,
                activity.from_property.id,
                message_text(activity),
                channel_name(activity),
                message_id=activity.id,
            )
        reply = await self.dispatch(incoming, person)
        clicked = activity.reply_to_id if data is not None else None
        await self.answer(turn_context, person, reply, clicked, (data or {}).get("origin"))

    async def on_invoke(self, turn_context: TurnContext) -> None:
        """Action.Execute: the refreshed card goes back in the invoke response (and replaces
        the message for everyone); anything else is sent as a message, and the invoke answers
        with its text."""
        activity = turn_context.activity
        value = activity.value if isinstance(activity.value, dict) else {}
        data = action_data((value.get("action") or {}).get("data"))
        if activity.name != CARD_ACTION_INVOKE or data is None:
            await self.respond_to_invoke(turn_context, 501, None)
            return
        person = await self.identify(turn_context)
        await self.remember_conversation(turn_context, person)
        reply = await self.dispatch(self.to_action(activity, data), person)
        card = await self.answer(
            turn_context, person, reply, activity.reply_to_id, data.get("origin")
        )
        if card is not None:
            body = {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": card}
        else:
            text = self.services.renderer.text(reply)
            body = {"statusCode": 200, "type": MESSAGE_RESPONSE_TYPE, "value": text[:1000]}
        await self.respond_to_invoke(turn_context, 200, body)

    async def on_conversation_update(self, turn_context: TurnContext) -> None:
        """The app added to a team or chat, or a person meeting the bot: remember where."""
        activity = turn_context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        added = [m.id for m in activity.members_added or []]
        removed = [m.id for m in activity.members_removed or []]
        if bot_id in removed:
            await self.forget_conversation(turn_context)
        elif added:
            await self.meet(turn_context, welcome=bot_id in added)

    async def on_installation_update(self, turn_context: TurnContext) -> None:
        action = (turn_context.activity.action or "").lower()
        if action.startswith("add"):
            await self.meet(turn_context, welcome=False)
        elif action.startswith("remove"):
            await self.forget_conversation(turn_context)

    async def meet(self, turn_context: TurnContext, welcome: bool) -> None:
        person = None
        if conversation_type(turn_context.activity) == "personal":
            person = await self.identify(turn_context)
        await self.remember_conversation(turn_context, person)
        if welcome and conversation_type(turn_context.activity) == "personal":
            incoming = IncomingMessage(PLATFORM, turn_context.activity.from_property.id, "help")
            await self.answer(turn_context, person, await self.dispatch(incoming, person))

    # --- identity and conversations -----------------------------------------------------------

    async def identify(self, turn_context: TurnContext) -> Person | None:
        """The directory's person for the sender; links them by email or UPN on first contact."""
        account = turn_context.activity.from_property
        if account is None or not account.id:
            return None
        person = await asyncio.to_thread(self._find, account.id, account.aad_object_id)
        if person is not None:
            return person
        member = await self._member(turn_context, account.id)
        if member is None:
            return None
        if member.aad_object_id and member.aad_object_id != account.aad_object_id:
            person = await asyncio.to_thread(self._find, account.id, member.aad_object_id)
            if person is not None:
                return person
        for address in dict.fromkeys(a for a in (member.email, member.user_principal_name) if a):
            person = await asyncio.to_thread(self._link, account.id, address)
            if person is not None:
                return person
        log.info("Teams user %s is not in the directory", account.id)
        return None

    def _find(self, teams_id: str, aad_object_id: str | None) -> Person | None:
        keys = [k for k in (teams_id, aad_object_id) if k]
        with self.services.db.read() as session:
            return session.scalar(
                select(Person).where(or_(*(Person.teams_user_id == k for k in keys)), Person.active)
            )

    async def _member(self, turn_context: TurnContext, user_id: str) -> Any:
        try:
            return await TeamsInfo.get_member(turn_context, user_id)
        except Exception as exc:  # not Teams (the Emulator), or the member lookup refused
            log.info("Teams member lookup for %s failed: %s", user_id, exc)
            return None

    def _link(self, teams_id: str, address: str) -> Person | None:
        with self.services.db.unit_of_work() as uow:
            person = link_chat_id(uow.session, address, PLATFORM, teams_id)
            if person is None:
                return None
            wake(uow.session, person.id)  # what waited for them (an approval) is due now
            uow.commit()
        log.info("linked Teams user %s to %s", teams_id, person.email)
        return person

    async def remember_conversation(self, turn_context: TurnContext, person: Person | None) -> None:
        activity = turn_context.activity
        scope = conversation_type(activity)
        reference = reference_of(activity)
        if scope == "personal" and person is not None:
            await asyncio.to_thread(self.deliverer.remember_person, person.id, reference)
        elif (
            scope == "channel" and (name := channel_name(activity)) and (team := team_of(activity))
        ):
            team_id, team_name = team
            await asyncio.to_thread(
                self.deliverer.remember_channel, team_id, team_name, name, reference
            )

    async def forget_conversation(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if conversation_type(activity) == "personal":
            person = await self.identify(turn_context)
            if person is not None:
                await asyncio.to_thread(self.deliverer.forget, person_key(person.id))
        elif team := team_of(activity):  # the app left the team: all of its channels
            await asyncio.to_thread(self.deliverer.forget_team, team[0])

    # --- from Teams to the dispatcher and back ----------------------------------------------------

    def to_action(self, activity: Activity, data: dict[str, Any]) -> IncomingAction:
        return IncomingAction(
            PLATFORM,
            activity.from_property.id,
            data["action_id"],
            "" if data.get("value") is None else str(data["value"]),
            form_inputs(data),
        )

    async def dispatch(
        self, incoming: IncomingMessage | IncomingAction, person: Person | None
    ) -> Reply:
        if isinstance(incoming, IncomingAction):
            return await asyncio.to_thread(self.dispatcher.handle_action, incoming, person)
        return await asyncio.to_thread(self.dispatcher.handle_message, incoming, person)

    async def answer(
        self,
        turn_context: TurnContext,
        person: Person | None,
        reply: Reply,
        clicked: str | None = None,
        origin: str | None = None,
    ) -> dict[str, Any] | None:
        """Send the reply where it belongs; the card when it replaced the clicked one."""
        shared = conversation_type(turn_context.activity) in SHARED_CONVERSATIONS
        replaced = None
        if shared and reply.private and person is not None:
            await self.answer_privately(turn_context, person, reply)
        elif reply.replace_original and clicked and reply.form is None:
            replaced = await self.replace(turn_context, reply, clicked, origin)
        else:
            await turn_context.send_activity(card_activity(self.services, reply, origin=clicked))
        await self.deliver_notices(reply.notices)
        return replaced

    async def replace(
        self, turn_context: TurnContext, reply: Reply, clicked: str, origin: str | None
    ) -> dict[str, Any]:
        """Update the clicked card in place, and the card that asked for a form, if any."""
        for activity_id in dict.fromkeys(a for a in (clicked, origin) if a):
            activity = card_activity(self.services, reply)
            activity.id = activity_id
            await turn_context.update_activity(activity)
        return card_activity(self.services, reply).attachments[0].content

    async def answer_privately(
        self, turn_context: TurnContext, person: Person, reply: Reply
    ) -> None:
        """A private reply asked for in a channel: to the asker's 1:1 chat; the channel hears
        only that it was sent (or that it could not be)."""
        sent = await asyncio.to_thread(self.deliverer.send, person.id, reply)
        notice = Reply(
            "sent_privately" if sent else "not_sent_privately", {"name": person.name}, private=False
        )
        await turn_context.send_activity(card_activity(self.services, notice))

    async def deliver_notices(self, notices: tuple[Notice, ...]) -> None:
        """Notices for other people: Teams first, then the other platforms configured."""
        if not notices:
            return
        others = [d for d in platform_deliverers(self.services) if d.platform != PLATFORM]
        # One that reaches no platform yet waits in the outbox (and who must know is told).
        await asyncio.to_thread(deliver_or_queue, self.services, [self.deliverer, *others], notices)

    async def respond_to_invoke(
        self, turn_context: TurnContext, status: int, body: dict[str, Any] | None
    ) -> None:
        await turn_context.send_activity(
            Activity(
                type=ActivityTypes.invoke_response, value=InvokeResponse(status=status, body=body)
            )
        )

    async def say_internal_error(self, turn_context: TurnContext, error_id: str) -> None:
        try:
            reply = Reply("internal_error", {"error_id": error_id})
            await turn_context.send_activity(card_activity(self.services, reply))
            if turn_context.activity.type == ActivityTypes.invoke:
                await self.respond_to_invoke(turn_context, 500, None)
        except Exception:
            log.exception("could not tell the Teams user about error %s", error_id)
