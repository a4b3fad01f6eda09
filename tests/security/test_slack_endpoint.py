"""POST /slack/events: only Slack can drive it (signature, timestamp), once per signed request,
and what tokenbot posts never lets one person's text ping or phish others."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import BurstRequest
from tests.adapters.slack_fakes import form_body, sign, slash_command


def burst_requests(services) -> int:
    with services.db.read() as session:
        return session.scalar(select(func.count()).select_from(BurstRequest))


def test_a_non_numeric_timestamp_is_a_401_not_a_500(slack, org):
    """Threat: a request with `X-Slack-Request-Timestamp: abc` crashed signature checking
    (500 and a trace per request): an unauthenticated way to fill the log."""
    body = form_body(
        slash_command("balance", user_id="UANN", response_url=slack.fake.response_url("x"))
    )
    headers = {**sign(body), "X-Slack-Request-Timestamp": "abc"}
    sent = slack.post(body, signed=False, headers=headers)
    assert sent.status == 401
    assert slack.fake.calls == []


def test_a_json_content_type_with_a_body_that_is_not_json_is_a_400_not_a_500(slack, org):
    """Threat: Bolt decodes an application/json body before checking any signature, so a
    stranger's `\x00` crashed the handler (500 and a trace per request; found by the fuzz
    suite)."""
    for body in ("\x00", "{", "not json"):
        headers = {**sign(body), "Content-Type": "application/json"}
        sent = slack.post(body, signed=False, headers=headers)
        assert sent.status == 400, body
    assert slack.fake.calls == []


def test_a_json_content_type_with_json_that_is_not_an_object_is_a_400_not_a_500(slack, org):
    """Threat: Bolt decodes an application/json body before checking any signature and calls
    `.get` on it, so a stranger's `null`, list or number crashed the handler (500 and a trace
    per request; found by the fuzz suite)."""
    for body in ("null", "[]", "7", '"text"'):
        headers = {**sign(body), "Content-Type": "application/json"}
        sent = slack.post(body, signed=False, headers=headers)
        assert sent.status == 400, body
    assert slack.fake.calls == []


def test_a_json_body_nested_past_the_recursion_limit_is_a_400_not_a_500(slack, org):
    """Threat: Bolt's JSON decoding (before any signature check) of `[[[[...` nested deeper
    than Python's recursion limit raised RecursionError: a 500 and a trace per request (found
    by the fuzz suite)."""
    body = "[" * 100_000
    headers = {**sign(body), "Content-Type": "application/json"}
    sent = slack.post(body, signed=False, headers=headers)
    assert sent.status == 400
    assert slack.fake.calls == []


def test_a_byte_identical_replay_of_a_signed_command_runs_once(slack, services, org):
    """Threat: whoever sees one signed request (a proxy log, a shared HAR file) replays it
    within Slack's 5-minute window: a second burst request is filed in Ann's name."""
    url = slack.fake.response_url("replayed")
    body = form_body(slash_command("request 50k launch", user_id="UANN", response_url=url))
    headers = sign(body)
    first = slack.post(body, signed=False, headers=headers)
    slack.drain()
    replay = slack.post(body, signed=False, headers=headers)
    slack.drain()
    assert (first.status, replay.status) == (200, 200)
    assert burst_requests(services) == 1
    assert len(slack.fake.calls_to("response_url")) == 1


def test_the_same_command_typed_again_runs_again(slack, services, org):
    """The other side: typing the same command twice is two requests (new signatures)."""
    for _ in range(2):
        slack.command("request 50k launch", user="UANN")
        slack.drain()
    assert burst_requests(services) == 2


def test_a_command_with_the_word_payload_is_answered(slack, org):
    """Threat (availability): slack_bolt took any body containing `payload` for an
    interactive payload, so `/tokens estimate summarise this JSON payload` got a 404."""
    sent = slack.command("estimate summarise this JSON payload", user="UANN")
    assert sent.status == 200
    assert "token" in slack.reply_to(sent).text.lower()


def test_a_burst_reason_cannot_ping_the_channel_or_phish_from_the_notification_text(slack, org):
    """Threat: a burst reason such as `<!channel> <http://evil.test|reset your password>`
    reached the manager's notification (the message's top-level `text`) unescaped: a
    mention, or a disguised link, in tokenbot's name. Both text and blocks escape it."""
    reason = "launch <!channel> <@UCEO> <http://evil.test|reset your password> & more"
    sent = slack.command(f"request 50k {reason}", user="UANN")
    assert sent.status == 200
    slack.drain()
    message = slack.fake.wait_for("chat.postMessage", where=lambda c: c.get("channel") == "DMIA")
    for text in (message["text"], str(message.blocks)):
        assert "<!channel>" not in text and "<@UCEO>" not in text
        assert "<http://evil.test" not in text
    assert "&lt;!channel&gt;" in message["text"]
