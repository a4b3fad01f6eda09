"""Proactive Slack messages: notices (DMs and channel posts) and App Home publishing.

Synchronous on purpose: it implements the `Deliverer` protocol that scheduled jobs call from
plain threads. The HTTP adapter calls it through `asyncio.to_thread`, so there is one way to
reach a person on Slack.

A person's DM channel and messages that carry a `Notice.ref` are remembered in
`conversation_refs` (platform "slack"), so a later notice with the same ref updates the
message in place (chat.update) instead of posting a second one. So are the parts of an outbox
message already sent (`parts:<outbox key>`: the text, each upload), so a retry sends the rest.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.core.dashboard import dashboard_reply
from bot.core.messages import Attachment, Notice, Reply
from bot.delivery import refuses_private_post, remember_reference
from bot.slack.blocks import to_home_view, to_message
from storage.models import ConversationRef, Person

if TYPE_CHECKING:
    from bot.bootstrap import Services

log = logging.getLogger(__name__)

PLATFORM = "slack"
DEFAULT_API_URL = "https://slack.com/api/"
# Web API errors that mean "this person or channel cannot be reached", not "tokenbot is broken".
UNREACHABLE = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "user_not_found",
    "user_disabled",
    "account_inactive",
    "cannot_dm_bot",
    "messages_tab_disabled",
}


def api_url(services: Services) -> str:
    """SLACK_API_URL with the trailing slash slack_sdk needs to join method names onto it."""
    url = services.settings.slack_api_url or DEFAULT_API_URL
    return url if url.endswith("/") else url + "/"


def parts_key(outbox_key: str) -> str:
    """Where the parts sent of an outbox message are remembered (a conversation_refs key holds
    300 characters, as does an outbox key: a long one is shortened to its digest)."""
    if len(outbox_key) > 280:
        outbox_key = hashlib.sha256(outbox_key.encode()).hexdigest()
    return f"parts:{outbox_key}"


class SlackDeliverer:
    platform = PLATFORM

    def __init__(self, services: Services, client: WebClient | None = None):
        self.services = services
        self.client = client or WebClient(
            token=services.settings.slack_bot_token, base_url=api_url(services)
        )

    # --- the Deliverer protocol -------------------------------------------------------------

    def deliver(self, notice: Notice) -> bool:
        if notice.to_channel:
            if refuses_private_post(notice):
                return False
            channel = notice.to_channel
        else:
            slack_user_id = self._slack_user_id(notice.to_person_id)
            if slack_user_id is None:
                return False
            channel = self.dm_channel(notice.to_person_id, slack_user_id)
            if channel is None:
                return False
        # Part 0 is the text, then one part per attachment. Each part sent is remembered under
        # the outbox key, so a retry after a failed upload never posts the text again.
        sent = self._sent_parts(notice.key)
        parts: list[Callable[[], bool]] = [
            lambda: self._post(
                channel, to_message(self.services.renderer, notice.reply), notice.ref
            ),
            *(lambda a=a: self.upload(channel, a) for a in notice.reply.attachments),
        ]
        for number, send in enumerate(parts):
            if number in sent:
                continue
            if not send():
                return False
            sent.add(number)
            if notice.key is not None and len(parts) > 1:
                self._remember(parts_key(notice.key), {"sent": sorted(sent)})
        return True

    def upload(self, channel: str, attachment: Attachment) -> bool:
        """Share a file in a channel or DM (files.getUploadURLExternal, the upload itself,
        then files.completeUploadExternal: slack_sdk's files_upload_v2)."""
        uploaded = self._call(
            self.client.files_upload_v2,
            channel=channel,
            content=attachment.content,
            filename=attachment.filename,
            title=attachment.title,
            request_file_info=False,
        )
        return uploaded is not None

    # --- direct messages and App Home ---------------------------------------------------------

    def send_dm(self, slack_user_id: str, message: dict[str, Any]) -> bool:
        """Post a rendered message in the app's DM with a Slack user (no person needed)."""
        channel = self._open_dm(slack_user_id)
        return channel is not None and self._post(channel, message, None)

    def dm_channel(self, person_id: int | None, slack_user_id: str) -> str | None:
        key = f"person:{person_id}"
        with self.services.db.read() as session:
            ref = session.get(ConversationRef, (PLATFORM, key))
            if ref is not None and ref.reference.get("user") == slack_user_id:
                return ref.reference["channel"]
        channel = self._open_dm(slack_user_id)
        if channel is not None:
            self._remember(key, {"channel": channel, "user": slack_user_id})
        return channel

    def publish_home(self, slack_user_id: str, person: Person | None) -> bool:
        self.services.refresh_policy()  # the Home tab is built outside the dispatcher
        reply = (
            dashboard_reply(self.services, person)
            if person is not None
            else Reply("unknown_user", {"platform": PLATFORM})
        )
        view = to_home_view(self.services.renderer, reply)
        return self._call(self.client.views_publish, user_id=slack_user_id, view=view) is not None

    def refresh_home(self, person_id: int) -> bool:
        """Publish the person's App Home again (after a change that shows on it)."""
        with self.services.db.read() as session:
            person = session.get(Person, person_id)
        if person is None or not person.slack_user_id or not person.active:
            return False
        return self.publish_home(person.slack_user_id, person)

    # --- internals ----------------------------------------------------------------------------

    def _slack_user_id(self, person_id: int | None) -> str | None:
        if person_id is None:
            return None
        with self.services.db.read() as session:
            person = session.get(Person, person_id)
            return person.slack_user_id if person is not None and person.active else None

    def _sent_parts(self, key: str | None) -> set[int]:
        if key is None:
            return set()
        with self.services.db.read() as session:
            ref = session.get(ConversationRef, (PLATFORM, parts_key(key)))
            return set(ref.reference.get("sent", ())) if ref is not None else set()

    def _open_dm(self, slack_user_id: str) -> str | None:
        opened = self._call(self.client.conversations_open, users=slack_user_id)
        return opened["channel"]["id"] if opened is not None else None

    def _post(self, channel: str, message: dict[str, Any], ref: str | None) -> bool:
        key = f"message:{ref}" if ref else None
        if key is not None:
            with self.services.db.read() as session:
                known = session.get(ConversationRef, (PLATFORM, key))
                where = dict(known.reference) if known is not None else None
            if where is not None:
                updated = self._call(
                    self.client.chat_update, channel=where["channel"], ts=where["ts"], **message
                )
                return updated is not None
        posted = self._call(self.client.chat_postMessage, channel=channel, **message)
        if posted is None:
            return False
        if key is not None:
            self._remember(key, {"channel": posted["channel"], "ts": posted["ts"]})
        return True

    def _call(self, method: Callable[..., SlackResponse], **kwargs: Any) -> dict[str, Any] | None:
        """A Web API call's data; None when the target cannot be reached, raise otherwise."""
        try:
            return method(**kwargs).data  # type: ignore[return-value]
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if error in UNREACHABLE:
                log.warning("Slack cannot reach the target: %s", error)
                return None
            raise

    def _remember(self, key: str, reference: dict[str, Any]) -> None:
        remember_reference(self.services, PLATFORM, key, reference)
