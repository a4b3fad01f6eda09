"""Slack delivers again (X-Slack-Retry-Num) what it thinks went unanswered: an event, a slash
command, a click. The redelivery must have no second effect (benchmarks.faults.slack_retries)."""

from __future__ import annotations

import pytest

from benchmarks.faults import slack_retries

pytestmark = pytest.mark.faults


def test_an_event_a_command_and_a_click_delivered_again_act_once(slack, services, org):
    report = slack_retries(
        slack.url, slack.fake, services.settings.database_url, "UANN", "UMIA", slack.drain
    )
    assert report.ok, report
