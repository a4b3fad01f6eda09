"""Proactive Teams messages: conversation references, notices, and who cannot be reached yet.

Teams lets a bot message someone only in a conversation the bot already has: a 1:1 chat the
person opened, a team channel the app was added to, or a 1:1 chat the bot creates for a
person who has the app. So every conversation tokenbot meets is remembered in
`conversation_refs` (platform "teams"): `person:{id}` for a person's 1:1 chat,
`channel:{team id}:{name}` for a channel (every Teams team has a General channel, so the name
alone does not identify one; the name lower-case, `#` and spaces aside), and `message:{ref}`
for a sent card a later notice with the same `Notice.ref` updates in place.

Channel notices name a channel as the policy does (`[channels]`: the org-wide channel, and
directory team -> channel name), plus the directory team for a team's post (`Notice.to_team`).
Of the channels of that name tokenbot has met, the one in the Teams team named like the
directory team is chosen; else the only one; when several teams have such a channel and
nothing says which, the post is not sent, and the log says why.

`TeamsDeliverer` implements the `Deliverer` protocol. It is synchronous, like every deliverer
(jobs call it from plain threads); the SDK is asynchronous, so each call runs its own event
loop: call it from a worker thread (`asyncio.to_thread`), never from the event loop itself.

A person it cannot reach (no 1:1 chat yet and none can be created, or Teams refuses) is
not skipped silently: they are marked `unreachable:person:{id}` (listed by `tokenbot teams
unreachable`), logged, and the admins get one notice per person and budget period through the
outbox, on whichever platform reaches them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)
from botframework.connector.models import ErrorResponseException
from sqlalchemy import delete, select
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from bot.core.messages import Notice, Reply
from bot.delivery import recall_reference, refuses_private_post, remember_reference
from bot.teams.cards import CARD_CONTENT_TYPE, summary, to_card, to_form_card
from budgets.periods import period_for
from storage.models import ConversationRef, Person

if TYPE_CHECKING:
    from bot.bootstrap import Services, Settings

log = logging.getLogger(__name__)

PLATFORM = "teams"
TEAMS_CHANNEL_ID = "msteams"
# Kept next to a channel's conversation reference: which team and channel it is.
CHANNEL_FACTS = "tokenbot_channel"
# Connector answers that mean "this person or conversation cannot be reached", not "broken".
UNREACHABLE_STATUS = {403, 404}


# --- keys ---------------------------------------------------------------------------------------


def person_key(person_id: int) -> str:
    return f"person:{person_id}"


def channel_name_key(name: str) -> str:
    """`#AI Wins`, `ai wins` and `ai-wins` name the same channel (`Marketing` and
    `marketing` the same team)."""
    return "-".join(name.strip().lstrip("#").lower().split())


def team_channels_prefix(team_id: str) -> str:
    return f"channel:{team_id}:"


def channel_key(team_id: str, name: str) -> str:
    """A channel of one Teams team (the team's id, as Teams gives it in channelData)."""
    return team_channels_prefix(team_id) + channel_name_key(name)


def message_key(ref: str) -> str:
    return f"message:{ref}"


def unreachable_key(person_id: int) -> str:
    return f"unreachable:person:{person_id}"


# --- the SDK's adapter and activities -----------------------------------------------------------


def has_credentials(settings: Settings) -> bool:
    return bool(settings.microsoft_app_id and settings.microsoft_app_password)


def build_adapter(settings: Settings) -> CloudAdapter:
    """The Bot Framework adapter: JWT validation of incoming requests and tokens for outgoing
    calls with the app's credentials, or neither in local/emulator mode (no credentials).
    A tenant id makes it a single-tenant app (Azure's default for new bots)."""
    configuration = SimpleNamespace(
        APP_ID=settings.microsoft_app_id,
        APP_PASSWORD=settings.microsoft_app_password,
        APP_TENANTID=settings.microsoft_app_tenant_id,
        APP_TYPE="SingleTenant" if settings.microsoft_app_tenant_id else "MultiTenant",
    )
    return CloudAdapter(ConfigurationBotFrameworkAuthentication(configuration))


def card_activity(services: Services, reply: Reply, origin: str | None = None) -> Activity:
    """A message activity carrying the reply's Adaptive Card; `summary` is its text (the
    notification preview, and what clients without cards show)."""
    renderer = services.renderer
    card = to_form_card(renderer, reply, origin) if reply.form else to_card(renderer, reply)
    return Activity(
        type=ActivityTypes.message,
        summary=card["fallbackText"] if reply.form else summary(renderer, reply),
        attachments=[Attachment(content_type=CARD_CONTENT_TYPE, content=card)],
    )


def reference_of(activity: Activity) -> dict[str, Any]:
    """What to keep of an incoming activity to reach its conversation later: a reference
    without the activity id (proactive messages start a new post, they don't reply), and for
    a channel, the channel itself rather than the thread the activity was in."""
    reference = TurnContext.get_conversation_reference(activity)
    reference.activity_id = None
    conversation = reference.conversation
    if conversation is not None and conversation.id:
        conversation.id = conversation.id.split(";messageid=", 1)[0]
        # Teams names the tenant in channelData (the SDK reads conversation.tenantID only).
        tenant = ((activity.channel_data or {}).get("tenant") or {}).get("id")
        conversation.tenant_id = conversation.tenant_id or tenant
    return reference.serialize()


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
# Unreserved characters only: nothing a parser could read as userinfo, a host or an escape.
CANONICAL_PATH = re.compile(r"(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*/?")


def is_canonical_loopback_url(url: str | None) -> bool:
    """A service URL that local/emulator mode may answer at: http(s) to localhost, 127.0.0.1
    or [::1], as the SDK's HTTP client (requests, which parses with urllib3) will read it.

    Decided by that same parser (`urllib.parse` reads `http://evil:80\\@127.0.0.1:1/` as
    loopback; urllib3 connects to evil), and only when the URL is already in the canonical
    form rebuilt from what it parsed: no userinfo, backslash, percent-escape, dot segment,
    query, fragment, whitespace or upper case, so no other parser can read it differently."""
    if not url:
        return False
    try:
        parsed = parse_url(url)
    except (LocationParseError, ValueError):
        return False
    if parsed.scheme not in ("http", "https") or parsed.host not in LOOPBACK_HOSTS:
        return False
    path = parsed.path or ""
    if not CANONICAL_PATH.fullmatch(path):
        return False
    port = f":{parsed.port}" if parsed.port is not None else ""
    return url == f"{parsed.scheme}://{parsed.host}{port}{path}"


def status_of(exc: ErrorResponseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def is_expected_on_teams(person: Person, settings: Settings) -> bool:
    """Someone the directory puts on Teams, or whom no other platform can reach: not someone
    who simply uses Slack."""
    on_slack = bool(person.slack_user_id and settings.slack_bot_token)
    return bool(person.teams_user_id) or not on_slack


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    # Why a person could not be reached (None when delivered, or when it is no person's fault).
    unreachable: str | None = None


class TeamsDeliverer:
    platform = PLATFORM

    def __init__(self, services: Services, adapter: CloudAdapter | None = None):
        self.services = services
        self.adapter = adapter or build_adapter(services.settings)

    # --- the Deliverer protocol (synchronous) ---------------------------------------------------

    def deliver(self, notice: Notice) -> bool:
        if notice.to_channel:
            return asyncio.run(self._to_channel(notice))
        if notice.to_person_id is None:
            return False
        activity = card_activity(self.services, notice.reply)
        outcome = asyncio.run(self.to_person(notice.to_person_id, activity, notice.ref))
        if outcome.unreachable is not None:
            self.report_unreachable(notice.to_person_id, outcome.unreachable, notice.reply)
        return outcome.delivered

    def send(self, person_id: int, reply: Reply) -> bool:
        """Send a reply to a person's 1:1 chat (a private answer to a question asked in a
        channel); unreachable people are reported as for any notice."""
        return self.deliver(Notice(person_id, reply))

    # --- sending ------------------------------------------------------------------------------

    async def _to_channel(self, notice: Notice) -> bool:
        if refuses_private_post(notice):
            return False
        assert notice.to_channel is not None
        reference = self.channel_reference(notice.to_channel, notice.to_team)
        if reference is not None and not self.may_answer_at(reference):
            reference = None
        if reference is None:
            log.warning("%s not sent to Teams channel %s", notice.reply.template, notice.to_channel)
            return False
        activity = card_activity(self.services, notice.reply)
        try:
            await self.post(reference, activity, notice.ref)
        except ErrorResponseException as exc:
            if status_of(exc) not in UNREACHABLE_STATUS:
                raise
            log.warning("Teams refused a post to channel %s: %s", notice.to_channel, exc)
            return False
        return True

    async def to_person(self, person_id: int, activity: Activity, ref: str | None) -> Outcome:
        with self.services.db.read() as session:
            person = session.get(Person, person_id)
        if person is None or not person.active:
            return Outcome(False)
        key = person_key(person_id)
        reference = recall_reference(self.services, PLATFORM, key)
        if reference is not None and not self.may_answer_at(reference):
            self.forget(key)
            reference = None
        if reference is None:
            opened = await self.open_personal_chat(person)
            if isinstance(opened, str):
                return Outcome(False, opened)
            reference = opened
        try:
            await self.post(reference, activity, ref)
        except ErrorResponseException as exc:
            status = status_of(exc)
            if status not in UNREACHABLE_STATUS:
                raise
            self.forget(key)  # the chat is gone (app removed, user blocked): ask anew next time
            return Outcome(False, f"Teams answered {status} to a message in their 1:1 chat")
        return Outcome(True)

    def may_answer_at(self, reference: dict[str, Any]) -> bool:
        """With credentials, Teams gave the service URL in an authenticated activity. In
        local/emulator mode only a canonical loopback URL is used, also for references
        remembered before that rule (one elsewhere would carry personal answers off the
        machine)."""
        if has_credentials(self.services.settings):
            return True
        url = reference.get("serviceUrl")
        if is_canonical_loopback_url(url):
            return True
        log.warning("local/emulator mode: not sending to the non-loopback service URL %r", url)
        return False

    async def post(self, reference: dict[str, Any], activity: Activity, ref: str | None) -> None:
        """Send `activity` into the referenced conversation, or update the card sent earlier
        under the same `ref` in that conversation."""
        conversation = ConversationReference().deserialize(reference)
        known = recall_reference(self.services, PLATFORM, message_key(ref)) if ref else None
        if known is not None and known.get("conversation_id") != conversation.conversation.id:
            known = None
        sent: list[str] = []

        async def send(turn_context: TurnContext) -> None:
            # The SDK's continuation event has a made-up id that a send would reply to.
            turn_context.activity.id = None
            if known is not None:
                activity.id = known["activity_id"]
                await turn_context.update_activity(activity)
                return
            response = await turn_context.send_activity(activity)
            if response is not None and response.id:
                sent.append(response.id)

        await self.continue_conversation(conversation, send)
        if ref and sent:
            self.remember(
                message_key(ref),
                {"conversation_id": conversation.conversation.id, "activity_id": sent[0]},
            )

    async def continue_conversation(
        self, reference: ConversationReference, logic: Callable[[TurnContext], Awaitable[None]]
    ) -> None:
        await self.adapter.continue_conversation(
            reference, logic, self.services.settings.microsoft_app_id
        )

    async def open_personal_chat(self, person: Person) -> dict[str, Any] | str:
        """Create the 1:1 chat with someone who has the app but never wrote to tokenbot
        (POST /v3/conversations); the reference, or why it cannot be done."""
        if not person.teams_user_id:
            return "they never talked to tokenbot and the directory has no Teams id for them"
        model = self.latest_reference()
        if model is not None and not self.may_answer_at(model):
            model = None
        if model is None:
            return "nobody has talked to tokenbot on Teams yet, so it knows no Teams service URL"
        tenant = self.services.settings.microsoft_app_tenant_id or (
            (model.get("conversation") or {}).get("tenantID") or ""
        )
        bot = ChannelAccount().deserialize(model.get("bot") or {})
        user = ChannelAccount(id=person.teams_user_id)
        parameters = ConversationParameters(
            is_group=False,
            bot=bot,
            members=[user],
            tenant_id=tenant or None,
            channel_data={"tenant": {"id": tenant}} if tenant else None,
        )
        created: list[str] = []

        async def remember_id(turn_context: TurnContext) -> None:
            created.append(turn_context.activity.conversation.id)

        try:
            await self.adapter.create_conversation(
                self.services.settings.microsoft_app_id,
                remember_id,
                parameters,
                channel_id=model.get("channelId") or TEAMS_CHANNEL_ID,
                service_url=model["serviceUrl"],
            )
        except ErrorResponseException as exc:
            status = status_of(exc)
            if status not in UNREACHABLE_STATUS:
                raise
            return (
                f"Teams answered {status} to opening a 1:1 chat (the app is not installed for them)"
            )
        reference = ConversationReference(
            channel_id=model.get("channelId") or TEAMS_CHANNEL_ID,
            service_url=model["serviceUrl"],
            bot=bot,
            user=user,
            conversation=ConversationAccount(
                id=created[0], conversation_type="personal", tenant_id=tenant or None
            ),
        ).serialize()
        self.remember(person_key(person.id), reference)
        return reference

    # --- references ---------------------------------------------------------------------------

    def latest_reference(self) -> dict[str, Any] | None:
        """The newest 1:1 reference: where (service URL, tenant, bot id) this bot lives."""
        with self.services.db.read() as session:
            row = session.scalar(
                select(ConversationRef)
                .where(ConversationRef.platform == PLATFORM, ConversationRef.key.like("person:%"))
                .order_by(ConversationRef.updated_at.desc())
                .limit(1)
            )
            return dict(row.reference) if row is not None else None

    def has_met_anyone(self) -> bool:
        return self.latest_reference() is not None

    def channel_reference(self, name: str, team: str | None = None) -> dict[str, Any] | None:
        """The channel a policy names: among the channels of that name tokenbot has met (one
        per Teams team at most), the one in the team named like the directory team `team`,
        else the only one. None when there is none, or several and nothing says which."""
        wanted = channel_name_key(name)
        with self.services.db.read() as session:
            rows = session.scalars(
                select(ConversationRef).where(
                    ConversationRef.platform == PLATFORM, ConversationRef.key.startswith("channel:")
                )
            ).all()
            known = [(row.key, dict(row.reference)) for row in rows]
        found = []
        for key, stored in known:
            facts = stored.pop(CHANNEL_FACTS, None)
            if facts is None:  # remembered before channels were keyed by team: no team known
                facts = {"channel": key.removeprefix("channel:"), "team_name": None}
            if facts["channel"] == wanted:
                found.append((facts, stored))
        if team is not None:
            in_team = [
                reference
                for facts, reference in found
                if facts.get("team_name")
                and channel_name_key(facts["team_name"]) == (channel_name_key(team))
            ]
            if len(in_team) == 1:
                return in_team[0]
        if len(found) == 1:
            return found[0][1]
        if not found:
            log.warning("Teams channel %s has not met tokenbot (add the app to its team)", name)
        else:
            log.warning(
                "Teams channel %s is in several teams (%s)%s: name the Teams team like the "
                "directory team, or give the policy a channel name only one team has",
                name,
                ", ".join(sorted(str(facts.get("team_name")) for facts, _ in found)),
                f", none named like the directory team {team}" if team else "",
            )
        return None

    def remember_channel(
        self, team_id: str, team_name: str | None, channel: str, reference: dict[str, Any]
    ) -> None:
        """A channel of a team the app was added to (or a message in it)."""
        facts = {"team_id": team_id, "team_name": team_name, "channel": channel_name_key(channel)}
        self.remember(channel_key(team_id, channel), {**reference, CHANNEL_FACTS: facts})

    def forget_team(self, team_id: str) -> None:
        """The app was removed from a team: none of its channels can be reached any more."""
        with self.services.db.unit_of_work() as uow:
            uow.session.execute(
                delete(ConversationRef).where(
                    ConversationRef.platform == PLATFORM,
                    ConversationRef.key.startswith(team_channels_prefix(team_id), autoescape=True),
                )
            )
            uow.commit()

    def remember(self, key: str, reference: dict[str, Any]) -> None:
        remember_reference(self.services, PLATFORM, key, reference)

    def remember_person(self, person_id: int, reference: dict[str, Any]) -> None:
        """A person's 1:1 chat; they are reachable again, so any unreachable mark goes."""
        self.remember(person_key(person_id), reference)
        self.forget(unreachable_key(person_id))

    def forget(self, key: str) -> None:
        with self.services.db.unit_of_work() as uow:
            uow.session.execute(
                delete(ConversationRef).where(
                    ConversationRef.platform == PLATFORM, ConversationRef.key == key
                )
            )
            uow.commit()

    # --- people tokenbot cannot reach ---------------------------------------------------------

    def report_unreachable(self, person_id: int, reason: str, reply: Reply) -> None:
        """Mark the person, log it, and tell the admins once per person and budget period."""
        now = self.services.clock()
        period = period_for(self.services.policy.periods, now).key
        with self.services.db.read() as session:
            person = session.get(Person, person_id)
            if person is None or not is_expected_on_teams(person, self.services.settings):
                return
            admins = [
                p.id
                for p in session.scalars(select(Person).where(Person.active))
                if p.has_role("admin")
            ]
            name, email = person.name, person.email
        log.warning(
            "cannot reach %s on Teams (%s): %s not delivered", email, reason, reply.template
        )
        self.remember(
            unreachable_key(person_id),
            {"reason": reason, "template": reply.template, "at": now.isoformat(), "period": period},
        )
        from bot.outbox import enqueue  # late: the outbox imports the deliverers

        context = {"name": name, "email": email, "reason": reason, "template": reply.template}
        with self.services.db.unit_of_work() as uow:
            for admin_id in admins:
                enqueue(
                    uow.session,
                    f"teams-unreachable:{period}:person:{person_id}:admin:{admin_id}",
                    Notice(admin_id, Reply("teams_unreachable", context)),
                    now,
                )
            uow.commit()


@dataclass(frozen=True)
class Unreachable:
    person: Person
    reason: str
    template: str | None
    at: str | None


def unreachable_people(services: Services) -> list[Unreachable]:
    """Everyone active whom tokenbot cannot reach on Teams yet: people a delivery failed for
    (with why), then people expected on Teams who have no 1:1 chat with the bot."""
    with services.db.read() as session:
        refs = {
            row.key: dict(row.reference)
            for row in session.scalars(
                select(ConversationRef).where(ConversationRef.platform == PLATFORM)
            )
        }
        people = list(session.scalars(select(Person).where(Person.active).order_by(Person.email)))
    found = []
    for person in people:
        mark = refs.get(unreachable_key(person.id))
        if mark is not None:
            found.append(Unreachable(person, mark["reason"], mark.get("template"), mark.get("at")))
        elif person_key(person.id) not in refs and is_expected_on_teams(person, services.settings):
            reason = (
                "no 1:1 chat yet; one can be opened if the app is installed for them"
                if person.teams_user_id
                else "no 1:1 chat yet and no Teams id in the directory"
            )
            found.append(Unreachable(person, reason, None, None))
    return found
