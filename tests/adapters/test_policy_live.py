"""A running server answers with a policy applied by another process, without a restart:
tokenbot's real aiohttp app serves `/tokens policy` on Slack and `policy` on Teams while the
`tokenbot policy apply` console script, a separate OS process, stores a new version."""

from __future__ import annotations

from pathlib import Path

from tests.adapters.teams_fakes import personal_conversation
from tests.integration.cli_support import tokenbot
from tests.integration.test_policy_versions import SMALLER_DEFAULT, policy_file

ANN = "29:ann"


def test_a_running_server_answers_with_the_policy_another_process_applied(
    slack, teams, services, org, tmp_path: Path
):
    before = slack.reply_to(slack.command("policy", user="UANN"))
    assert "version 0 (the policy file: built-in default; none applied yet)" in before["text"]

    applied = tokenbot(
        "policy",
        "apply",
        policy_file(tmp_path, **SMALLER_DEFAULT),
        "--as",
        "ceo@acme.test",
        database_url=services.settings.database_url,
    )
    assert applied.returncode == 0, applied.stderr
    assert "policy version 1 applied by ceo@acme.test" in applied.stdout

    after = slack.reply_to(slack.command("policy", user="UANN"))
    assert "AI usage policy, version 1, applied " in after["text"]
    assert "by ceo@acme.test" in after["text"]
    assert "1,500,000 tokens" in after["text"]
    assert "2,000,000 tokens" not in after["text"]

    teams.say(ANN, "policy")
    page = teams.fake.last_message(personal_conversation(ANN)).card_text
    assert "AI usage policy, version 1, applied " in page
    assert "1,500,000 tokens" in page
