"""Governance on Slack over the real protocol: the monthly review reaches a DM with its chart
uploaded (files.getUploadURLExternal, the upload, files.completeUploadExternal), and flags are
only ever answered to the person who asked."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bot.jobs import detectors_content, review_content
from bot.outbox import deliver_pending, enqueue_all
from bot.slack import slack_deliverer
from tests.adapters.slack_fakes import GENERAL
from tests.integration.governance_support import prompt_spam, say
from tests.unit.core.payload_checks import block_kit_problems

PNG = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]


def review_notices(services):  # noqa: ANN001, ANN201
    with services.db.unit_of_work() as uow:
        notices = review_content(uow.session, services.policy, "2026-10", services.clock())
        uow.commit()
    return dict(notices)


def test_the_monthly_review_is_a_dm_with_its_chart_uploaded_to_the_same_conversation(
    slack, services, org
):
    notices = review_notices(services)
    notice = notices[f"review:2026-10:person:{org['fin@acme.test'].id}"]
    assert slack_deliverer(services).deliver(notice) is True
    posted = slack.fake.wait_for("chat.postMessage")
    assert posted["channel"] == "DFIN" and block_kit_problems(posted.params) == []
    assert "Monthly AI review, 2026-10" in posted.blocks_text
    methods = [c.method for c in slack.fake.calls if c.method != "conversations.open"]
    assert methods == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    (chart,) = notice.reply.attachments
    assert slack.fake.calls_to("upload")[0]["bytes"] == len(chart.content)
    assert chart.content.startswith(PNG)
    completed = slack.fake.calls_to("files.completeUploadExternal")[0]
    assert completed["channel_id"] == "DFIN"


def test_the_review_job_delivers_through_the_outbox_with_the_chart(slack, services, org):
    with services.db.unit_of_work() as uow:
        enqueue_all(uow.session, list(review_notices(services).items()), services.clock())
        uow.commit()
    report = deliver_pending(services, [slack_deliverer(services)])
    assert report.delivered == 3 and report.failed == 0
    uploads = slack.fake.calls_to("files.completeUploadExternal")
    assert sorted(c["channel_id"] for c in uploads) == ["DCEO", "DFIN", "DMIA"]


def test_flags_asked_in_a_channel_are_answered_to_the_asker_alone(slack, services, org):
    prompt_spam(services, "ann@acme.test")
    with services.db.unit_of_work() as uow:
        detectors_content(uow.session, services.policy, date(2026, 11, 9), services.clock())
        uow.commit()
    reply = slack.reply_to(slack.command("flags", user="UANN", channel=GENERAL))
    assert reply["response_type"] == "ephemeral"
    assert "The same prompt was sent afresh 20 times" in reply.blocks_text
    assert block_kit_problems(reply.params) == []
    slack.drain()
    assert slack.fake.calls_to("chat.postMessage") == []
    assert say(services, "bob@acme.test", "flags ann@acme.test").template == "not_allowed"


def test_a_failed_chart_upload_is_retried_alone_and_the_review_text_is_posted_once(
    slack, services, org
):
    """Each part of a multi-part message is delivered once: when the chart upload fails (the
    app lacked files:write), the outbox retries only the upload, never the text again."""
    key = f"review:2026-10:person:{org['fin@acme.test'].id}"
    with services.db.unit_of_work() as uow:
        enqueue_all(uow.session, [(key, review_notices(services)[key])], services.clock())
        uow.commit()
    slack.fake.fail("files.getUploadURLExternal", "missing_scope", times=2)
    deliverer = slack_deliverer(services)
    for _attempt in range(2):
        assert deliver_pending(services, [deliverer]).failed == 1
        services.clock.advance(hours=1)
    assert deliver_pending(services, [deliverer]).delivered == 1
    assert deliver_pending(services, [deliverer]).delivered == 0
    assert [c["channel"] for c in slack.fake.calls_to("chat.postMessage")] == ["DFIN"]
    assert len(slack.fake.calls_to("files.getUploadURLExternal")) == 3
    (completed,) = slack.fake.calls_to("files.completeUploadExternal")
    assert completed["channel_id"] == "DFIN"


def test_the_manifest_asks_for_the_scopes_the_review_chart_needs():
    """The monthly review uploads its chart (files.getUploadURLExternal and
    files.completeUploadExternal need files:write)."""
    manifest = (ROOT / "slack-manifest.yml").read_text()
    bot_scopes = manifest.split("  scopes:\n    bot:\n")[1].split("\nsettings:")[0]
    requested = [line.split("- ")[1] for line in bot_scopes.splitlines() if "- " in line]
    assert "files:write" in requested and "chat:write" in requested
